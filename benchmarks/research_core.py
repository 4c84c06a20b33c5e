"""Research core figures: the engine's sweep against raw vectorbt and backtesting.py.

Run:  .venv/bin/python benchmarks/research_core.py
Writes benchmarks/results/research_core.json and prints the figures.

Data: 20 synthetic symbols x 10 years of daily bars (seeded geometric random walks).
Grid: SMA crossover, fast 5..45 step 5 x slow 20..190 step 10 (fast >= slow skipped).
Every backtest: next-bar-open execution, all cash per entry, 0.05% fees, 0.05% slippage.

- engine ÷ raw vectorbt: the engine's sweep (signals, order loop, the full metrics table)
  against what a vectorbt user writes for the same table (MA indicators, crossings,
  Portfolio.from_signals, then the portfolio's own metric methods), both warm.
- throughput against backtesting.py's ``Backtest.optimize`` on one symbol (backtesting.py
  is installed outside the project: ``pip install --target /tmp/wb-bench-backtesting
  backtesting bokeh xyzservices``; skipped with a message when it is not importable).
- cold (numba compiling into an empty cache) vs warm, and a second process's cold call
  (numba's on-disk cache filled by the first), each in a fresh process.
- peak memory (max RSS) of a process that runs the 20-symbol sweep, and its baseline.

Timings are best-of-3 where warm; the machine is shared, so treat them as indicative.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

BACKTESTING_TARGET = os.environ.get("WB_BACKTESTING_PATH", "/tmp/wb-bench-backtesting")
N_SYMBOLS, N_BARS, SEED = 20, 2520, 20240601
FAST = list(range(5, 50, 5))
SLOW = list(range(20, 200, 10))
FEES = SLIPPAGE = 0.0005
INIT_CASH = 100_000.0


def synthetic_bars(n_symbols: int = N_SYMBOLS, n_bars: int = N_BARS):
    """Seeded geometric random walks (20 x 2,520 daily bars unless told) with plausible opens, highs and lows."""
    import numpy as np
    import pandas as pd

    from engine.data.bars import Bars

    N_BARS, N_SYMBOLS = n_bars, n_symbols  # noqa: N806  (the shapes below read as the module's)
    rng = np.random.default_rng(SEED)
    index = pd.bdate_range("2014-01-02", periods=N_BARS, name="date")
    symbols = [f"SYN{k:02d}" for k in range(N_SYMBOLS)]
    drift = rng.normal(0.0002, 0.0002, N_SYMBOLS)
    vol = rng.uniform(0.01, 0.025, N_SYMBOLS)
    close = 50 * np.exp(np.cumsum(rng.normal(drift, vol, (N_BARS, N_SYMBOLS)), axis=0))
    gap = np.exp(rng.normal(0, vol / 4, (N_BARS, N_SYMBOLS)))
    open_ = np.vstack([close[:1], close[:-1]]) * gap
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, vol / 3, (N_BARS, N_SYMBOLS))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, vol / 3, (N_BARS, N_SYMBOLS))))
    volume = rng.integers(100_000, 5_000_000, (N_BARS, N_SYMBOLS)).astype(float)

    def frame(values):
        return pd.DataFrame(values, index=index, columns=symbols)

    return Bars(frame(open_), frame(high), frame(low), frame(close), frame(volume))


def settings():
    from engine.backtest.settings import BacktestSettings

    return BacktestSettings(size="all", fees=FEES, slippage=SLIPPAGE, init_cash=INIT_CASH)


def engine_sweep(bars):
    from engine.backtest.sweep import sweep

    return sweep(bars, "sma_crossover", {"fast": FAST, "slow": SLOW}, settings(), progress=False)


def raw_vectorbt(bars):
    """The same table the way a vectorbt user writes it: indicators, from_signals, pf metrics."""
    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    pairs = [(f, s) for f in FAST for s in SLOW if f < s]
    close, open_ = bars.close, bars.open
    fast = vbt.MA.run(close, window=[f for f, _ in pairs], short_name="fast")
    slow = vbt.MA.run(close, window=[s for _, s in pairs], short_name="slow")
    entries = fast.ma_crossed_above(slow)
    exits = fast.ma_crossed_below(slow)
    # Next-bar execution: act on bar t's signal at bar t+1's open.
    entries = entries.shift(1, fill_value=False)
    exits = exits.shift(1, fill_value=False)
    price = pd.DataFrame(
        np.tile(open_.to_numpy(), len(pairs)), index=close.index, columns=entries.columns
    )
    pf = vbt.Portfolio.from_signals(
        close,
        entries,
        exits,
        price=price,
        fees=FEES,
        slippage=SLIPPAGE,
        init_cash=INIT_CASH,
        freq="1D",
    )
    returns = pf.returns_acc.replace(year_freq="252 days")
    orders = pf.orders.values
    traded = np.bincount(
        orders["col"], weights=orders["size"] * orders["price"], minlength=len(entries.columns)
    )
    value = pf.value()
    return pd.DataFrame(
        {
            "total_return": pf.total_return(),
            "cagr": returns.annualized(),
            "sharpe": returns.sharpe_ratio(),
            "sortino": returns.sortino_ratio(),
            "calmar": returns.calmar_ratio(),
            "max_drawdown": -pf.max_drawdown(),
            "max_drawdown_duration": pf.drawdowns.max_duration(),
            "win_rate": pf.trades.closed.win_rate(),
            "profit_factor": pf.trades.closed.profit_factor(),
            "exposure": pf.gross_exposure().mean(),
            "trades": pf.trades.count(),
            "turnover": traded / 2 / value.mean().to_numpy() * 252 / len(value),
        }
    )


def best_of(n, fn, *args):
    times, out = [], None
    for _ in range(n):
        start = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), out


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# -- children: each figure that needs a fresh process runs in one ----------------------


def child_cold_warm() -> dict:
    """Cold and warm engine sweeps, warm raw vectorbt, and their agreement."""
    start = time.perf_counter()
    import vectorbt  # noqa: F401

    import engine.backtest.sweep  # noqa: F401

    imported = time.perf_counter() - start
    bars = synthetic_bars()
    cold, result = best_of(1, engine_sweep, bars)
    warm, result = best_of(3, engine_sweep, bars)
    raw_cold, _ = best_of(1, raw_vectorbt, bars)
    raw_warm, raw = best_of(3, raw_vectorbt, bars)

    table = result.table.set_index(["fast", "slow", "symbol"])
    raw.index = raw.index.set_names(["fast", "slow", "symbol"])
    joined = table[["total_return", "trades"]].merge(
        raw[["total_return", "trades"]], left_index=True, right_index=True, suffixes=("", "_raw")
    )
    return {
        "import_seconds": imported,
        "engine_cold_seconds": cold,
        "engine_warm_seconds": warm,
        "raw_vectorbt_first_call_seconds": raw_cold,
        "raw_vectorbt_warm_seconds": raw_warm,
        "combinations": result.n_combinations,
        "skipped": result.skipped,
        "backtests": len(result.table),
        "max_abs_total_return_difference": float(
            (joined["total_return"] - joined["total_return_raw"]).abs().max()
        ),
        "trade_count_mismatches": int((joined["trades"] != joined["trades_raw"]).sum()),
    }


def child_second_process() -> dict:
    bars = synthetic_bars()
    cold, _ = best_of(1, engine_sweep, bars)
    return {"engine_second_process_cold_seconds": cold}


def child_memory() -> dict:
    bars = synthetic_bars()
    import vectorbt  # noqa: F401

    import engine.backtest.sweep  # noqa: F401

    before = rss_mib()
    engine_sweep(bars)
    return {"rss_before_sweep_mib": before, "peak_rss_mib": rss_mib()}


def child_backtesting_py() -> dict:
    sys.path.insert(0, BACKTESTING_TARGET)
    try:
        from benchmarks.peer_sma_cross import SmaCross
    except ImportError as exc:
        return {
            "backtesting_py": f"skipped: backtesting.py not importable ({exc}); "
            f"install it with pip install --target {BACKTESTING_TARGET} backtesting bokeh "
            "xyzservices"
        }
    import backtesting
    import pandas as pd
    from backtesting import Backtest

    bars = synthetic_bars()
    symbol = bars.symbols[0]
    data = pd.DataFrame(
        {
            "Open": bars.open[symbol],
            "High": bars.high[symbol],
            "Low": bars.low[symbol],
            "Close": bars.close[symbol],
            "Volume": bars.volume[symbol],
        }
    )
    backtest = Backtest(data, SmaCross, cash=INIT_CASH, commission=FEES, finalize_trades=True)
    start = time.perf_counter()
    _, heatmap = backtest.optimize(
        fast=FAST,
        slow=SLOW,
        constraint=lambda p: p.fast < p.slow,
        maximize="Sharpe Ratio",
        return_heatmap=True,
    )
    seconds = time.perf_counter() - start
    return {
        "backtesting_py_version": backtesting.__version__,
        "backtesting_py_optimize_seconds": seconds,
        "backtesting_py_backtests": int(heatmap.notna().sum()),
    }


CHILDREN = {
    "cold_warm": child_cold_warm,
    "second_process": child_second_process,
    "memory": child_memory,
    "backtesting_py": child_backtesting_py,
}


def run_child(name: str, cache_dir: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", name],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from _common import save

    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="wb-numba-cache-") as cache_dir:
        for name, what in [
            ("cold_warm", "cold and warm sweeps, raw vectorbt (fresh numba cache)"),
            ("second_process", "a second process's cold sweep (numba cache filled)"),
            ("memory", "peak memory of the sweep"),
            ("backtesting_py", "backtesting.py's Backtest.optimize on one symbol"),
        ]:
            print(f"{what}...", flush=True)
            try:
                figures.update(run_child(name, cache_dir))
            except RuntimeError as exc:
                print(exc, file=sys.stderr)
                figures[f"{name}_error"] = str(exc).splitlines()[-1]

    if "engine_warm_seconds" in figures:
        figures["engine_over_raw_vectorbt"] = (
            figures["engine_warm_seconds"] / figures["raw_vectorbt_warm_seconds"]
        )
        figures["cold_over_warm"] = figures["engine_cold_seconds"] / figures["engine_warm_seconds"]
        engine_rate = figures["backtests"] / figures["engine_warm_seconds"]
        figures["engine_backtests_per_second"] = engine_rate
        if "backtesting_py_optimize_seconds" in figures:
            bt_rate = (
                figures["backtesting_py_backtests"] / figures["backtesting_py_optimize_seconds"]
            )
            figures["backtesting_py_backtests_per_second"] = bt_rate
            figures["engine_speedup_over_backtesting_py"] = engine_rate / bt_rate
    figures["data"] = f"{N_SYMBOLS} symbols x {N_BARS} daily bars, seed {SEED}"
    figures["grid"] = f"fast {FAST[0]}..{FAST[-1]} step 5 x slow {SLOW[0]}..{SLOW[-1]} step 10"
    save(
        "research_core", {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(CHILDREN[sys.argv[2]]()))
    else:
        main()
