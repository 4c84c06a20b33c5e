"""Ray executor figures: the research-core sweep on Ray with 2 workers against the local executor.

Run:  .venv/bin/python benchmarks/ray_sweep.py
Writes benchmarks/results/ray_sweep.json and prints the figures.

Data and grid: those of benchmarks/research_core.py (20 synthetic symbols x 2,520 daily
bars; SMA crossover, 150 valid combinations, so 3,000 per-symbol backtests). Also a
walk-forward of the same grid (5 folds, the universe as one book), and a tiny sweep (one
symbol, one year, two combinations) for Ray's fixed costs.

- local: the default executor, warm (numba compiled), best of 3: the general path (the
  code Ray's tasks run), and the default ``engine="auto"``, which takes the compiled fast
  path for a per-symbol sweep of a built-in when there is one (it runs in one process
  only, so Ray runs the general path).
- ray start-up: ``ray.init`` of a private 2-CPU instance on this machine.
- ray first run: the first sweep on the fresh instance, which starts its worker
  processes (each imports the engine and loads numba's cache).
- ray warm: later runs on the same instance (workers stay up), best of 3.
- speed-up = local warm / ray warm; overhead = ray warm - local warm / workers, the time
  the ideal split would not spend.

The machine is shared with other work: the load average is recorded before and after,
and the figures are indicative only.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

WORKERS = 2


def best_of(n, fn):
    times, out = [], None
    for _ in range(n):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    import pandas as pd
    from _common import save
    from research_core import FAST, SLOW, settings, synthetic_bars

    from engine.backtest.sweep import sweep
    from engine.backtest.walkforward import walk_forward
    from engine.executors import RayExecutor

    figures: dict = {"load_average_before (1, 5, 15 min)": load()}
    bars = synthetic_bars()
    grid = {"fast": FAST, "slow": SLOW}
    tiny_bars = bars.select(bars.symbols[:1]).iloc(slice(0, 252))
    tiny_grid = {"fast": [5, 10], "slow": [50]}

    # The general path where the sweep has a choice of engine (see the module docstring).
    general = {"engine": "full"} if "engine" in inspect.signature(sweep).parameters else {}

    def run_sweep(executor="local", **options):
        return sweep(bars, "sma_crossover", grid, settings(), progress=False, executor=executor,
                     **options)  # fmt: skip

    def run_walk_forward(executor="local"):
        return walk_forward(
            bars, "sma_crossover", grid, settings(), folds=5, progress=False, executor=executor
        )

    def run_tiny(executor="local"):
        return sweep(tiny_bars, "sma_crossover", tiny_grid, settings(), progress=False,
                     executor=executor)  # fmt: skip

    print("local executor (warm)...", flush=True)
    run_sweep(), run_sweep(**general), run_tiny()  # compile, or load numba's cache
    figures["local_sweep_seconds"], local_table = best_of(3, lambda: run_sweep(**general))
    figures["local_default_engine_sweep_seconds"], local_default = best_of(3, run_sweep)
    figures["local_walk_forward_seconds"], local_wf = best_of(1, run_walk_forward)
    figures["local_tiny_sweep_seconds"], _ = best_of(3, run_tiny)

    print("ray: start-up and first run...", flush=True)
    start = time.perf_counter()
    import ray

    figures["ray_import_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    ray.init(num_cpus=WORKERS, include_dashboard=False, logging_level="WARNING")
    figures["ray_start_seconds"] = time.perf_counter() - start
    executor = RayExecutor()
    figures["ray_first_sweep_seconds"], _ = best_of(1, lambda: run_sweep(executor))

    print("ray: warm...", flush=True)
    figures["ray_sweep_seconds"], ray_table = best_of(3, lambda: run_sweep(executor))
    figures["ray_walk_forward_seconds"], ray_wf = best_of(1, lambda: run_walk_forward(executor))
    figures["ray_tiny_sweep_seconds"], _ = best_of(3, lambda: run_tiny(executor))
    cells = len(bars) * len(bars.symbols) * local_table.n_combinations
    figures["ray_sweep_tasks"] = executor.wanted_tasks(cells)
    ray.shutdown()
    figures["load_average_after (1, 5, 15 min)"] = load()

    pd.testing.assert_frame_equal(ray_table.table, local_table.table, check_exact=True)
    pd.testing.assert_frame_equal(ray_wf.trial_returns, local_wf.trial_returns, check_exact=True)
    figures["tables_identical"] = True
    difference = (ray_table.table["sharpe"] - local_default.table["sharpe"]).abs().max()
    figures["max_sharpe_difference_to_the_default_engine"] = float(difference)

    for what in ("sweep", "walk_forward"):
        local, on_ray = figures[f"local_{what}_seconds"], figures[f"ray_{what}_seconds"]
        figures[f"{what}_speedup"] = local / on_ray
        figures[f"{what}_ray_overhead_seconds"] = on_ray - local / WORKERS
    figures["sweep_speedup_over_the_default_engine"] = (
        figures["local_default_engine_sweep_seconds"] / figures["ray_sweep_seconds"]
    )
    figures["tiny_sweep_ray_overhead_seconds"] = (
        figures["ray_tiny_sweep_seconds"] - figures["local_tiny_sweep_seconds"]
    )
    figures["ray_startup_overhead_seconds (init + first sweep - warm sweep)"] = (
        figures["ray_start_seconds"]
        + figures["ray_first_sweep_seconds"]
        - figures["ray_sweep_seconds"]
    )
    figures["workers"] = WORKERS
    figures["data"] = f"{len(bars.symbols)} symbols x {len(bars)} daily bars (research_core)"
    figures["backtests_per_sweep"] = len(local_table.table)
    save("ray_sweep", {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()})


if __name__ == "__main__":
    main()
