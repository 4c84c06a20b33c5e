"""Time of the peeking checks (look-ahead and warm-up) that every validation runs.

Each built-in with its default-like params on the research notebook's universe (the 7
sample symbols, 2003-2013 daily bars, adjusted), and the ML classifier with small models on
3 symbols over 5 years. Medians of a few runs; prints the figures and writes
benchmarks/results/peeking.json.

    .venv/bin/python benchmarks/peeking.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save  # noqa: E402
from engine import strategies  # noqa: E402
from engine.data.sample import sample_bars  # noqa: E402

CASES = {
    "sma_crossover": {"fast": 10, "slow": 50},
    "rsi_reversion": {"window": 14, "lower": 30, "upper": 70},
    "bollinger_reversion": {"window": 20, "k": 2},
    "donchian_breakout": {"entry_window": 20, "exit_window": 10},
    "momentum_rotation": {"lookback": 63, "top_n": 2, "rebalance_every": 5},
}
ML = {"train_bars": 252, "retrain_every": 63, "boosting_rounds": 20, "max_depth": 2}


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    universe = sample_bars(
        ["AAPL", "BA", "CAT", "DELL", "EBAY", "F", "GE"], start="2003-01-01", end="2013-12-31"
    )
    ml_bars = sample_bars(["AAPL", "F", "GE"], start="2004-01-01", end="2008-12-31")
    figures: dict = {"bars": len(universe), "symbols": len(universe.symbols)}
    cases = [(name, params, universe) for name, params in CASES.items()]
    cases.append(("ml_classifier", ML, ml_bars))
    warmup = getattr(strategies, "check_warmup", None)  # absent before the warm-up check
    for name, params, bars in cases:
        strategies.compute_signals(name, bars, params)  # compile and fit once, outside the timing
        result = strategies.check_lookahead(name, bars, params)
        figures[f"{name}_lookahead_cuts"] = result.points_checked
        figures[f"{name}_lookahead_s"] = median_seconds(
            lambda name=name, params=params, bars=bars: strategies.check_lookahead(
                name, bars, params
            ),
            repeats,
        )
        if warmup is not None:
            figures[f"{name}_warmup_s"] = median_seconds(
                lambda name=name, params=params, bars=bars: warmup(name, bars, params), repeats
            )
    save("peeking", figures)


if __name__ == "__main__":
    main()
