"""Signal time for the sweep grid: vectorized grid_fn vs one call per params set.

The issue's sweep grid (SMA crossover, fast 5..45 step 5 x slow 20..190 step 10) on 20
symbols x 10 years of daily bars (the 7 sample symbols, repeated under new names).
Prints the figures and writes benchmarks/results/strategies_signals.json.

    .venv/bin/python benchmarks/strategies_signals.py
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pandas as pd

from engine import strategies
from engine.data.bars import FIELDS, Bars
from engine.data.sample import sample_bars


def twenty_symbols() -> Bars:
    base = sample_bars(start="2003-01-01", end="2012-12-31")
    frames = {}
    for field in FIELDS:
        frame = getattr(base, field)
        copies = [frame.add_suffix(f"_{i}") for i in range(3)]
        frames[field] = pd.concat(copies, axis=1).iloc[:, :20]
    return Bars(**frames)


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    bars = twenty_symbols()
    sma = strategies.get("sma_crossover")
    grid = [
        strategies.make_params(sma, {"fast": fast, "slow": slow})
        for fast in range(5, 50, 5)
        for slow in range(20, 200, 10)
        if fast < slow
    ]
    start = time.perf_counter()
    strategies.signals_for_grid(sma, bars, grid)
    cold = time.perf_counter() - start
    vectorized = best_of(lambda: strategies.signals_for_grid(sma, bars, grid))
    looped_strategy = dataclasses.replace(sma, grid_fn=None)
    looped = best_of(
        lambda: strategies.signals_for_grid(looped_strategy, bars, grid, progress=False), 1
    )
    lookahead = best_of(lambda: strategies.check_lookahead(sma, bars, grid[0]), 1)
    figures = {
        "bars": len(bars),
        "symbols": len(bars.symbols),
        "combinations": len(grid),
        "columns": len(grid) * len(bars.symbols),
        "grid_first_call_s": round(cold, 3),
        "grid_vectorized_s": round(vectorized, 3),
        "grid_one_call_per_set_s": round(looped, 3),
        "vectorized_speedup": round(looped / vectorized, 1),
        "lookahead_check_s": round(lookahead, 3),
    }
    for key, value in figures.items():
        print(f"{key:32} {value}")
    out = Path(__file__).parent / "results" / "strategies_signals.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
