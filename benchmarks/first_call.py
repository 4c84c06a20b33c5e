"""First calls of the compiled kernels: cold (numba compiling into an empty cache) and warm.

Run:  .venv/bin/python benchmarks/first_call.py [--repeats 3]
Writes benchmarks/results/first_call.json and prints the figures.

Each measurement is a fresh process whose ``NUMBA_CACHE_DIR`` is a new, empty directory
(cold: everything compiles) or the directory a cold process just filled (warm: everything
loads). In each process, timed in this order:

- the first fast sweep: sweep_fast's workload (SMA crossover, 150 combinations x 20
  symbols x 2,520 bars, ``engine="fast"``), compiling the fast kernel;
- a second strategy's first fast sweep (Donchian breakout, 8 combinations, same bars):
  its own kernel, sharing the trading steps compiled by the first;
- the first order loop: the general path's simulation of one SMA crossover over the 20
  symbols (signals computed before the clock starts), compiling the loop.

Wall and CPU seconds (compiling is one thread's work, so its CPU seconds suffer less from
a shared machine's load), medians over ``--repeats`` cold/warm pairs, with the load
average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {root!r}); sys.path.insert(0, {root!r} + "/benchmarks")
from research_core import FAST, SLOW, synthetic_bars
from engine.backtest._execution import prepare_orders, simulate
from engine.backtest.settings import BacktestSettings
from engine.backtest.sweep import sweep
from engine.strategies import compute_signals

bars = synthetic_bars()
settings = BacktestSettings(size="all", fees=0.001, slippage=0.0, init_cash=100_000.0)
figures = {{}}


def timed(name, fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args, **kwargs)
    figures[name + "_seconds"] = time.perf_counter() - wall
    figures[name + "_cpu_seconds"] = time.process_time() - cpu


timed("fast_sweep_first_call", sweep, bars, "sma_crossover", {{"fast": FAST, "slow": SLOW}},
      settings, engine="fast", progress=False)
grid = {{"entry_window": [10, 20], "exit_window": [5, 10], "atr_stop": [1.5, 3.0]}}
timed("second_strategy_fast_sweep_first_call", sweep, bars, "donchian_breakout", grid, settings,
      engine="fast", progress=False)
orders = prepare_orders(bars, compute_signals("sma_crossover", bars, {{"fast": 10, "slow": 50}}),
                        settings)
timed("order_loop_first_call", simulate, orders, settings, books="one")
print(json.dumps(figures))
"""


def child(cache: str) -> dict[str, float]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT))],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="cold/warm pairs of processes")
    args = parser.parse_args()

    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import save

    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for turn in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="wb-numba-") as cache:
            print(f"turn {turn + 1}/{args.repeats}: cold...", flush=True)
            runs["cold"].append(child(cache))
            print(f"turn {turn + 1}/{args.repeats}: warm...", flush=True)
            runs["warm"].append(child(cache))
    figures: dict = {"repeats": args.repeats}
    for kind, measured in runs.items():
        for name in measured[0]:
            values = [run[name] for run in measured]
            figures[f"{kind}_{name}_median"] = round(float(np.median(values)), 3)
            figures[f"{kind}_{name}_all"] = [round(v, 3) for v in values]
    figures["load_average_1_5_15_before"] = [round(x, 2) for x in load_before]
    figures["load_average_1_5_15_after"] = [round(x, 2) for x in os.getloadavg()]
    save("first_call", figures)


if __name__ == "__main__":
    main()
