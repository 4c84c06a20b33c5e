"""The fast sweep on 5-minute bars, beside plain vectorbt and beside its own daily rate.

Run:  .venv/bin/python benchmarks/sweep_fast_intraday.py [--repeats 5]
Writes benchmarks/results/sweep_fast_intraday.json and prints the figures.

Workload (issue 17): SMA crossover on 20 symbols x one year of 5-minute bars (2023 on the
NYSE calendar: 250 sessions, 2 early closes, 19,428 bars), the same grid as the daily
figure (benchmarks/sweep_fast.py: fast 5..45 step 5 x slow 20..190 step 10, fast < slow:
150 combinations), so 20 x 150 x 19,428 = 58.3 million bar-evaluations; fees 0.1%, no
slippage, all-in, long-only, signals filled at the next open (over a session's last bar:
the next session's first open). The bars are made from 20 seeded daily random walks by
the sample's own generator (engine.data.synthetic: each day's path within its open,
high, low and close).

Contenders, warm, timed in turns within one process: the fast sweep on the 5-minute bars,
plain vectorbt on the same bars (one combination at a time, as its documentation writes
it), and the fast sweep on sweep_fast.py's 20 symbols x 2,520 daily bars, for the rate on
daily bars measured under the same load. Figures are bar-evaluations per second, best and
median of the turns, with the load average around them (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

YEAR = 2023
BAR_SIZE = "5m"


def intraday_bars():
    """20 symbols x the 2023 sessions of 5-minute bars, from seeded daily random walks."""
    import numpy as np
    import pandas as pd
    from research_core import N_SYMBOLS, SEED

    from engine.data import calendar
    from engine.data.bars import Bars
    from engine.data.synthetic import intraday_from_daily

    days = calendar.sessions(f"{YEAR}-01-01", f"{YEAR}-12-31")
    rng = np.random.default_rng(SEED)
    vol = rng.uniform(0.01, 0.025, N_SYMBOLS)
    close = 50 * np.exp(np.cumsum(rng.normal(0.0002, vol, (len(days), N_SYMBOLS)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]]) * np.exp(rng.normal(0, vol / 4, close.shape))
    spread = np.exp(np.abs(rng.normal(0, vol / 3, (2, *close.shape))))
    daily = pd.DataFrame(
        {
            "date": np.repeat(days, N_SYMBOLS),
            "symbol": np.tile([f"SYN{k:02d}" for k in range(N_SYMBOLS)], len(days)),
            "open": open_.ravel(),
            "high": (np.maximum(open_, close) * spread[0]).ravel(),
            "low": (np.minimum(open_, close) / spread[1]).ravel(),
            "close": close.ravel(),
            "volume": rng.integers(100_000, 5_000_000, close.size).astype(float),
        }
    )
    rows = intraday_from_daily(daily, BAR_SIZE, seed=SEED)
    return Bars.from_long(rows, adjust=False, bar_size=BAR_SIZE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed turns of each contender")
    args = parser.parse_args()

    import numba
    import numpy as np
    from _common import save
    from research_core import synthetic_bars
    from sweep_fast import engine_sweep, in_turns, plain_vectorbt, timed

    from engine.backtest.annualisation import year_of

    load_before = os.getloadavg()
    print("making the 5-minute bars...", flush=True)
    intraday = intraday_bars()
    daily = synthetic_bars()
    year = year_of(intraday)
    year_freq = f"{year.bars_per_year * 5:.0f}min"  # vectorbt's year: bars a year x 5 minutes

    print("first calls (compiling or loading numba's cache)...", flush=True)
    first_fast, _, fast = timed(engine_sweep, intraday, "fast")
    timed(engine_sweep, daily, "fast")
    timed(plain_vectorbt, intraday, year_freq)
    evaluations = {
        "intraday": fast.n_combinations * len(intraday.symbols) * len(intraday),
        "daily": fast.n_combinations * len(daily.symbols) * len(daily),
    }

    seconds, cpu = in_turns(
        {"fast_5m": partial(engine_sweep, intraday, "fast"),
         "plain_vectorbt_5m": partial(plain_vectorbt, intraday, year_freq),
         "fast_1d": partial(engine_sweep, daily, "fast")},
        args.repeats,
        every={"plain_vectorbt_5m": 2},  # plain vectorbt takes most of a turn: every other one
    )  # fmt: skip
    load_after = os.getloadavg()

    work = {"fast_5m": "intraday", "plain_vectorbt_5m": "intraday", "fast_1d": "daily"}
    figures: dict = {
        "bars": f"{len(intraday.symbols)} symbols x {len(intraday)} {BAR_SIZE} bars ({YEAR})",
        "combinations": fast.n_combinations,
        "bar_evaluations_5m": evaluations["intraday"],
        "bar_evaluations_1d": evaluations["daily"],
        "annualisation": year.describe(),
        "threads": numba.get_num_threads(),
        "cores": os.cpu_count(),
        "load_average_1_5_15_before": [round(x, 2) for x in load_before],
        "load_average_1_5_15_after": [round(x, 2) for x in load_after],
    }
    for name, values in seconds.items():
        count = evaluations[work[name]]
        figures[f"{name}_median_seconds"] = float(np.median(values))
        figures[f"{name}_best_M_evals_per_s"] = count / min(values) / 1e6
        figures[f"{name}_median_M_evals_per_s"] = count / float(np.median(values)) / 1e6
        figures[f"{name}_turns"] = len(values)
    figures["fast_5m_M_evals_per_cpu_second"] = evaluations["intraday"] / min(cpu["fast_5m"]) / 1e6
    figures["fast_5m_first_call_seconds"] = first_fast
    figures["fast_5m_over_plain_vectorbt_median"] = float(
        np.median(seconds["plain_vectorbt_5m"]) / np.median(seconds["fast_5m"])
    )
    figures["rate_5m_over_rate_1d_median"] = (
        figures["fast_5m_median_M_evals_per_s"] / figures["fast_1d_median_M_evals_per_s"]
    )
    figures["settings"] = "next open, all-in, long-only, fees 0.1%, no slippage"
    save("sweep_fast_intraday", {k: round(v, 4) if isinstance(v, float) else v
                                 for k, v in figures.items()})  # fmt: skip


if __name__ == "__main__":
    main()
