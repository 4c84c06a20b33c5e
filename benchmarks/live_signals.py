"""What a live step's signals cost: each built-in on the loop's window, array form against pandas.

    .venv/bin/python benchmarks/live_signals.py [--rounds N]

The paper loop's window (300 bars) of the demo's 7 symbols (real adjusted daily bars), at
80 different ends. For each built-in with an array form: ``compute_signals`` (the guard
and the array form, what every caller gets) and the same through the pandas signal
function (the strategy with its array form removed), and the demo config's whole
``bar_signals`` (signals, stop distances, prices) for the Donchian breakout. The two forms
alternate within each round, so both see the same load; the figures are medians of this
process's CPU time per call, in ms, with the load average (``uptime``) at the start and end.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save  # noqa: E402
from engine import strategies  # noqa: E402
from engine.backtest.settings import BacktestSettings  # noqa: E402
from engine.config.models import StrategyConfig  # noqa: E402
from engine.data.sample import sample_bars  # noqa: E402
from engine.live.decisions import bar_signals  # noqa: E402

DEMO_UNIVERSE = ["AAPL", "BA", "CAT", "F", "GE", "IBM", "MSFT"]
WINDOW = 300
PARAMS = {
    "donchian_breakout": {"entry_window": 20, "exit_window": 10, "atr_window": 14},
    "sma_crossover": {},
    "rsi_reversion": {},
    "bollinger_reversion": {},
    "momentum_rotation": {"lookback": 63, "top_n": 3, "rebalance_every": 5},
}


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_ms(fn, windows) -> list[float]:
    """CPU milliseconds of ``fn(window)`` for each window."""
    times = []
    for window in windows:
        start = time.process_time()
        fn(window)
        times.append((time.process_time() - start) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    bars = sample_bars(DEMO_UNIVERSE, start="2011-01-01", end="2013-12-31")
    windows = [bars.iloc(slice(end - WINDOW, end)) for end in range(WINDOW, len(bars), 5)][:80]
    config = StrategyConfig(
        strategy="donchian_breakout", params=PARAMS["donchian_breakout"], universe=DEMO_UNIVERSE,
        settings=BacktestSettings(stop="strategy", size="risk", max_positions=5),
        created_by="benchmark",
    )  # fmt: skip
    figures: dict = {"load_at_start": load(), "window_bars": WINDOW, "symbols": len(DEMO_UNIVERSE)}
    timed: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, params in PARAMS.items():
            strategy = strategies.get(name)
            with_pandas = dataclasses.replace(strategy, array_fn=None)
            for label, form in (("arrays", strategy), ("pandas", with_pandas)):
                key = f"{name}_{label}_ms"
                calls = cpu_ms(lambda w, f=form, p=params: strategies.compute_signals(f, w, p),
                               windows)  # fmt: skip
                timed.setdefault(key, []).extend(calls)
        calls = cpu_ms(lambda w: bar_signals(config, w, w), windows)
        timed.setdefault("demo_bar_signals_ms", []).extend(calls)
    for key, values in timed.items():
        figures[key] = round(statistics.median(values), 3)
    for name in PARAMS:
        pandas, arrays = figures[f"{name}_pandas_ms"], figures[f"{name}_arrays_ms"]
        figures[f"{name}_speedup"] = round(pandas / arrays, 1)
    figures["load_at_end"] = load()
    save("live_signals", figures)


if __name__ == "__main__":
    main()
