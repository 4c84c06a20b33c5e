"""Ray executor figures: the research-core sweep on Ray with 2 workers against the local executor.

Run:  .venv/bin/python benchmarks/ray_sweep.py [--scale]
Writes benchmarks/results/ray_sweep.json and prints the figures.

Data and grid: those of benchmarks/research_core.py (20 synthetic symbols x 2,520 daily
bars; SMA crossover, 150 valid combinations, so 3,000 per-symbol backtests). Also a
walk-forward of the same grid (5 folds, the universe as one book), and a tiny sweep (one
symbol, one year, two combinations) for Ray's fixed costs.

- local: the default executor, warm (numba compiled), best of 3: the general path
  (``engine="full"``), and the default ``engine="auto"``, which takes the compiled fast
  path for a per-symbol sweep of a strategy with a fast form. Ray runs each the same way:
  a task runs the general path, or the fast kernel on its combinations x symbols with one
  thread (a task holds one CPU).
- ray start-up: ``ray.init`` of a private 2-CPU instance on this machine.
- ray first run: the first sweep on the fresh instance, which starts its worker
  processes (each imports the engine and loads numba's cache).
- ray warm: later runs on the same instance (workers stay up), best of 3.
- speed-up = local warm / ray warm; overhead = ray warm - local warm / workers, the time
  the ideal split would not spend.

Throughput at scale (``--scale``, what a cluster multiplies): SMA crossover on 100,000
combinations x 100 symbols x 756 daily bars (7.56 billion bar-evaluations; the slow
averages reach 709 bars), the fast
path, local (numba's threads on every core) against Ray with 2 workers (one thread each):
bar-evaluations a second in all, per worker, and per local thread.

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


def at_scale(n_combinations: int, n_symbols: int, n_bars: int) -> dict:
    """Bar-evaluations a second of the fast path on a big grid: local, and Ray with WORKERS workers."""
    import numba
    import pandas as pd
    import ray
    from research_core import settings, synthetic_bars

    from engine.backtest.grids import MAX_COMBINATIONS_ENV
    from engine.backtest.sweep import sweep
    from engine.executors import RayExecutor

    bars = synthetic_bars(n_symbols, n_bars)
    # Every fast below every slow: 200 x (n / 200) combinations, none skipped.
    fast = list(range(2, 202))
    slow = list(range(210, 210 + max(1, n_combinations // len(fast))))
    grid = {"fast": fast, "slow": slow}
    # The memory guard prices a combination for the general path's frames; the fast path
    # keeps only its table (about 150 bytes a row), so this grid fits.
    os.environ.setdefault(MAX_COMBINATIONS_ENV, str(len(fast) * len(slow)))

    def run(executor="local"):
        return sweep(bars, "sma_crossover", grid, settings(), progress=True, executor=executor,
                     engine="fast")  # fmt: skip

    figures: dict = {"scale_load_average_before": load()}
    small = {"fast": [5], "slow": [20]}
    sweep(bars, "sma_crossover", small, settings(), progress=False, engine="fast")  # compile
    print(f"scale: local, {numba.get_num_threads()} threads...", flush=True)
    start = time.perf_counter()
    local = run()
    local_seconds = time.perf_counter() - start
    evaluations = local.n_combinations * n_symbols * n_bars
    ray.init(num_cpus=WORKERS, include_dashboard=False, logging_level="WARNING")
    executor = RayExecutor()
    sweep(
        bars, "sma_crossover", small, settings(), progress=False, engine="fast", executor=executor
    )
    print(f"scale: ray, {WORKERS} workers...", flush=True)
    start = time.perf_counter()
    on_ray = run(executor)
    ray_seconds = time.perf_counter() - start
    ray.shutdown()
    pd.testing.assert_frame_equal(on_ray.table, local.table, check_exact=True)
    figures.update(
        {
            "scale_grid": f"{local.n_combinations} combinations x {n_symbols} symbols x {n_bars} bars",
            "scale_bar_evaluations": evaluations,
            "scale_local_seconds": local_seconds,
            "scale_local_threads": numba.get_num_threads(),
            "scale_local_evaluations_per_second": evaluations / local_seconds,
            "scale_local_evaluations_per_second_per_thread": evaluations
            / local_seconds
            / numba.get_num_threads(),
            "scale_ray_seconds": ray_seconds,
            "scale_ray_evaluations_per_second": evaluations / ray_seconds,
            "scale_ray_evaluations_per_second_per_worker": evaluations / ray_seconds / WORKERS,
            "scale_tables_identical": True,
            "scale_load_average_after": load(),
        }
    )
    return figures


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", action="store_true", help="only the 100k x 100 throughput figures"
    )
    parser.add_argument("--combinations", type=int, default=100_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--bars", type=int, default=756)
    args = parser.parse_args()
    if args.scale:
        from _common import save

        figures = at_scale(args.combinations, args.symbols, args.bars)
        save(
            "ray_sweep_scale",
            {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()},
        )
        return

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
    figures["ray_sweep_seconds"], ray_table = best_of(3, lambda: run_sweep(executor, **general))
    figures["ray_default_engine_sweep_seconds"], ray_default = best_of(
        3, lambda: run_sweep(executor)
    )
    figures["ray_walk_forward_seconds"], ray_wf = best_of(1, lambda: run_walk_forward(executor))
    figures["ray_tiny_sweep_seconds"], _ = best_of(3, lambda: run_tiny(executor))
    cells = len(bars) * len(bars.symbols) * local_table.n_combinations
    figures["ray_sweep_tasks"] = executor.wanted_tasks(cells)
    ray.shutdown()
    figures["load_average_after (1, 5, 15 min)"] = load()

    pd.testing.assert_frame_equal(ray_table.table, local_table.table, check_exact=True)
    pd.testing.assert_frame_equal(ray_default.table, local_default.table, check_exact=True)
    pd.testing.assert_frame_equal(ray_wf.trial_returns, local_wf.trial_returns, check_exact=True)
    figures["tables_identical"] = True
    difference = (ray_table.table["sharpe"] - local_default.table["sharpe"]).abs().max()
    figures["max_sharpe_difference_to_the_default_engine"] = float(difference)

    for what in ("sweep", "walk_forward"):
        local, on_ray = figures[f"local_{what}_seconds"], figures[f"ray_{what}_seconds"]
        figures[f"{what}_speedup"] = local / on_ray
        figures[f"{what}_ray_overhead_seconds"] = on_ray - local / WORKERS
    figures["default_engine_sweep_speedup"] = (
        figures["local_default_engine_sweep_seconds"] / figures["ray_default_engine_sweep_seconds"]
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
