"""The fast sweep against the engine's general sweep and plain vectorbt, side by side.

Run:  .venv/bin/python benchmarks/sweep_fast.py [--repeats 7]
Writes benchmarks/results/sweep_fast.json and prints the figures.

Workload (issue 11): SMA crossover on 20 symbols x 2,520 daily bars (research_core's
seeded synthetic bars), fast 5..45 step 5 x slow 20..190 step 10 with fast < slow: 150
combinations, 20 x 150 x 2,520 = 7.56 million bar-evaluations; fees 0.1%, no slippage,
all-in, long-only, signals filled at the next open. Each contender goes from bars in
memory to a metrics table (total return, trades, max drawdown, Sharpe; the engine's
paths give their whole table):

- plain vectorbt: what a vectorbt user writes, one combination at a time: ``vbt.MA.run``
  of both windows, the crossings, ``Portfolio.from_signals`` at the next open, its metrics;
- the engine's general sweep: ``sweep(..., engine="full")``;
- the fast sweep: ``sweep(..., engine="fast")`` (what ``engine="auto"`` picks here).

All three warm (compiled, numba's cache filled), timed in turns within one process, so a
burst of load from other work on the machine hits them alike. Figures are bar-evaluations
per second from the best and the median of the repeats; the load average is reported
with them because the machine is shared, and the fast sweep's CPU seconds (best and median)
show its cost apart from waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

FEES = 0.001
INIT_CASH = 100_000.0


def settings():
    from engine.backtest.settings import BacktestSettings

    return BacktestSettings(size="all", fees=FEES, slippage=0.0, init_cash=INIT_CASH)


def grid():
    from research_core import FAST, SLOW

    return {"fast": FAST, "slow": SLOW}


def engine_sweep(bars, engine: str):
    from engine.backtest.sweep import sweep

    return sweep(bars, "sma_crossover", grid(), settings(), progress=False, engine=engine)


def plain_vectorbt(bars, year_freq: str = "252 days"):
    """One combination at a time, as the vectorbt documentation's examples go.

    ``year_freq`` is vectorbt's length of a year (252 daily bars by default; an intraday
    run gives its own, e.g. 19,548 five-minute bars).
    """
    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    close, open_ = bars.close, bars.open
    rows = []
    for fast in grid()["fast"]:
        for slow in grid()["slow"]:
            if fast >= slow:
                continue
            fast_ma = vbt.MA.run(close, fast)
            slow_ma = vbt.MA.run(close, slow)
            # Next-bar execution: act on bar t's crossing at bar t+1's open.
            entries = fast_ma.ma_crossed_above(slow_ma).shift(1, fill_value=False)
            exits = fast_ma.ma_crossed_below(slow_ma).shift(1, fill_value=False)
            portfolio = vbt.Portfolio.from_signals(
                close,
                entries.to_numpy(),
                exits.to_numpy(),
                price=open_,
                fees=FEES,
                init_cash=INIT_CASH,
                freq=bars.freq,
            )
            returns = portfolio.returns_acc.replace(year_freq=year_freq)
            rows.append(
                pd.DataFrame(
                    {
                        "fast": fast,
                        "slow": slow,
                        "symbol": close.columns,
                        "total_return": np.asarray(portfolio.total_return()),
                        "trades": np.asarray(portfolio.trades.count()),
                        "max_drawdown": -np.asarray(portfolio.max_drawdown()),
                        "sharpe": np.asarray(returns.sharpe_ratio()),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def timed(fn, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, out


def in_turns(contenders: dict, repeats: int, every: dict[str, int]) -> tuple[dict, dict]:
    """(wall seconds, CPU seconds) of each contender's runs, by name.

    The contenders (calls without arguments) run in turns within this process, so that a
    burst of load from other work on the shared machine hits them alike; one named in
    ``every`` runs only every n-th turn (a slow one, to keep the run short).
    """
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for turn in range(repeats):
        print(f"turn {turn + 1}/{repeats}...", flush=True)
        for name, run in contenders.items():
            if turn % every.get(name, 1) == 0:
                took, used, _ = timed(run)
                wall[name].append(took)
                cpu[name].append(used)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed turns of each contender")
    args = parser.parse_args()

    import numba
    import numpy as np
    import pandas as pd
    from _common import save
    from research_core import N_BARS, N_SYMBOLS, SEED, synthetic_bars

    load_before = os.getloadavg()
    bars = synthetic_bars()
    evaluations = None

    print("first calls (compiling or loading numba's cache)...", flush=True)
    first_fast, _, fast = timed(engine_sweep, bars, "fast")
    _, _, general = timed(engine_sweep, bars, "full")
    _, _, plain = timed(plain_vectorbt, bars)
    evaluations = fast.n_combinations * N_SYMBOLS * N_BARS

    seconds, cpu = in_turns(
        {"fast": partial(engine_sweep, bars, "fast"), "general": partial(engine_sweep, bars, "full"),
         "plain_vectorbt": partial(plain_vectorbt, bars)},
        args.repeats,
        # plain vectorbt takes seconds a turn: fewer of its turns keep the run short.
        every={"plain_vectorbt": max(1, args.repeats // 3)},
    )  # fmt: skip
    fast_cpu = cpu["fast"]
    load_after = os.getloadavg()

    # The paths must compute the same thing for their speeds to be compared.
    pd.testing.assert_frame_equal(
        fast.table, general.table, check_exact=False, rtol=1e-9, atol=1e-12
    )
    keys = ["fast", "slow", "symbol"]
    joined = fast.table.merge(plain, on=keys, suffixes=("", "_plain"))

    def rate(values: list[float], pick) -> float:
        return evaluations / pick(values) / 1e6

    figures: dict = {
        "combinations": fast.n_combinations,
        "skipped": fast.skipped,
        "backtests": len(fast.table),
        "bar_evaluations": evaluations,
        "threads": numba.get_num_threads(),
        "cores": os.cpu_count(),
        "load_average_1_5_15_before": [round(x, 2) for x in load_before],
        "load_average_1_5_15_after": [round(x, 2) for x in load_after],
    }
    for name, values in seconds.items():
        figures[f"{name}_best_seconds"] = min(values)
        figures[f"{name}_median_seconds"] = float(np.median(values))
        figures[f"{name}_best_M_evals_per_s"] = rate(values, min)
        figures[f"{name}_median_M_evals_per_s"] = rate(values, np.median)
        figures[f"{name}_turns"] = len(values)
    figures["fast_best_cpu_seconds"] = min(fast_cpu)
    figures["fast_median_cpu_seconds"] = float(np.median(fast_cpu))
    figures["fast_M_evals_per_cpu_second"] = evaluations / min(fast_cpu) / 1e6
    figures["fast_median_M_evals_per_cpu_second"] = evaluations / np.median(fast_cpu) / 1e6
    figures["fast_first_call_seconds"] = first_fast
    figures["fast_over_plain_vectorbt_best"] = min(seconds["plain_vectorbt"]) / min(seconds["fast"])
    figures["fast_over_plain_vectorbt_median"] = float(
        np.median(seconds["plain_vectorbt"]) / np.median(seconds["fast"])
    )
    figures["fast_over_general_best"] = min(seconds["general"]) / min(seconds["fast"])
    figures["fast_equals_general"] = True  # asserted above, to rtol 1e-9
    # vectorbt's from_signals sizes an all-in entry with the cash at the fill; the engine
    # decides the shares at the signal's close (engine.backtest.rules), so returns differ
    # a little while the trades are the same ones.
    figures["trade_count_mismatches_vs_plain"] = int(
        (joined["trades"] != joined["trades_plain"]).sum()
    )
    figures["max_abs_total_return_difference_vs_plain"] = float(
        (joined["total_return"] - joined["total_return_plain"]).abs().max()
    )
    figures["data"] = f"{N_SYMBOLS} symbols x {N_BARS} daily bars, seed {SEED} (research_core)"
    figures["grid"] = "fast 5..45 step 5 x slow 20..190 step 10, fast < slow"
    figures["settings"] = "next open, all-in, long-only, fees 0.1%, no slippage"
    save("sweep_fast", {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()})


if __name__ == "__main__":
    main()
