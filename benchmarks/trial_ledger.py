"""Cost of recording a run in the trial ledger: one transaction per sweep or validation.

Records grids of 100, 1,000 and 10,000 combinations of sma_crossover (params + settings) in
a fresh store, then the same 10,000 again (nothing new) and a grid overlapping half of them.
Medians of a few runs; prints the figures and writes benchmarks/results/trial_ledger.json.

    .venv/bin/python benchmarks/trial_ledger.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save  # noqa: E402
from engine.backtest.settings import BacktestSettings  # noqa: E402
from engine.research.trials import Family, record_trials  # noqa: E402
from engine.store import Store  # noqa: E402


def grid(n: int, offset: int = 0) -> list[dict]:
    return [{"fast": 1 + k % 100, "slow": 200 + offset + k // 100} for k in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    settings = BacktestSettings().model_dump(mode="json")
    family = Family.of("sma_crossover", ["AAPL", "GE", "CAT"])
    figures: dict = {}
    cases = [
        ("record_100_new_ms", lambda: grid(100), True),
        ("record_1000_new_ms", lambda: grid(1_000), True),
        ("record_10000_new_ms", lambda: grid(10_000), True),
        ("record_10000_again_ms", lambda: grid(10_000), False),
        ("record_10000_half_new_ms", lambda: grid(10_000, offset=50), False),
    ]
    for name, combos, fresh in cases:
        times = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as folder:
                store = Store.open(folder)
                if not fresh:
                    record_trials(store, family, grid(10_000), settings, kind="sweep", actor="b")
                start = time.perf_counter()
                record_trials(store, family, combos(), settings, kind="sweep", actor="b")
                times.append(time.perf_counter() - start)
        figures[name] = round(statistics.median(times) * 1000, 1)
    save("trial_ledger", figures)


if __name__ == "__main__":
    main()
