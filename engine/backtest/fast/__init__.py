"""The fast sweep: screen a whole grid per symbol in compiled, parallel code, then look closer.

    >>> from engine.backtest.fast import fast_sweep                          # doctest: +SKIP
    >>> screen = fast_sweep(bars, "sma_crossover", {"fast": range(5, 50, 5),
    ...                                             "slow": range(20, 200, 10)})  # doctest: +SKIP
    >>> screen.best("sharpe", n=5)                                          # doctest: +SKIP
    >>> run_backtest(bars.select(["AAPL"]), "sma_crossover", {"fast": 10, "slow": 60})  # doctest: +SKIP

:func:`engine.backtest.sweep.sweep` takes this path by itself for every sweep it can serve
(``engine="auto"``), so most callers never import this module. Screen fast, analyse
precisely: the table here has the sweep's columns and values; the few combinations worth
a closer look then go through :func:`~engine.backtest.runner.run_backtest`, whose
vectorbt Portfolio gives the trades, plots and evidence.

How it is fast: each distinct indicator is computed once (the 150 SMA pairs of a 9 x 18
grid read 24 averages), then one compiled kernel (``_kernel.screen``) runs signals,
fills and metrics for every (combination, symbol) in parallel, each in scratch arrays
of one bar-length that stay in the CPU's cache, instead of building (bars x
combinations) frames of signals, orders and equity.

What it serves: ``per="symbol"`` sweeps (each symbol traded alone with all of
``init_cash``) of every strategy that registers a fast form
(:class:`~engine.strategies.base.FastPath`: the series it reads and its signal step),
under any :class:`~engine.backtest.settings.BacktestSettings`; which strategies those are
is read from the registry; on any executor (on Ray each task screens its block of
combinations x symbols). A portfolio sweep (symbols sharing cash and slots) takes the
general path; so does a strategy without a fast form (one whose signals rank the symbols
against each other cannot have one: a task here sees one symbol).

Decisions, the same as the general path's (the tests hold the two to each other):

- Ties of parameters: a combination its params model rejects (``fast >= slow``, so
  ``fast == slow``) is skipped and counted in ``skipped``, never run.
- Ties of values: two prices or indicators within ``TIE_TOLERANCE`` of each other are
  equal (engine.strategies.indicators), so an average touching another is no crossing.
- A signal on the last bar: with ``execution="next_open"`` it would fill at a bar that
  does not exist, so there is no trade (an exit signal leaves the position open); with
  ``execution="close"`` it fills at that close.
- An entry signalled on a session's last bar (intraday bars, ``next_open``): refused
  under ``last_bar_entries="refuse"`` (the default, as the live loop refuses it), filled
  at the next session's first open under ``"next_open"`` (``Orders.no_entry``).
- A position still open after the last bar stays open: it is valued at the last close
  (no exit costs), counts in ``trades`` and not in ``win_rate`` or ``profit_factor``.
- Flat by the close (``flat_by_close``): sold at the close of the bar the general path
  sells at, no entry after it in the session (:mod:`engine.backtest.flat`); day trades
  counted per task as :mod:`engine.backtest.day_trades` counts them.
- Annualised by the bars' own year (:mod:`engine.backtest.annualisation`): the NYSE
  calendar's count on intraday bars, as the general path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numba
import numpy as np
import pandas as pd
from numba import parallel_chunksize
from numba.core.errors import NumbaError
from tqdm.auto import tqdm

from engine.backtest._execution import prepare_orders
from engine.backtest.annualisation import year_of
from engine.backtest.fast import _kernel
from engine.backtest.fast._inputs import kernel_inputs
from engine.backtest.metrics import METRICS, WHOLE_NUMBERS
from engine.backtest.rules import Terms
from engine.backtest.settings import BacktestSettings
from engine.backtest.sweep import (
    SweepResult,
    chunk_label,
    expand_grid,
    in_local_order,
    run_planned,
)
from engine.data.bars import Bars
from engine.errors import InputError
from engine.executors import Executor, plan_tasks, resolve_executor
from engine.strategies import get, names
from engine.strategies.base import Signals, Strategy, StrategyError
from engine.strategies.guard import check_bars, check_history

__all__ = ["fast_path_refusal", "fast_sweep"]

#: Bar-evaluations (combinations x symbols x bars) per kernel call: about a second of work
#: on a loaded 2-core machine, so the progress bar moves and a huge grid stays interruptible.
EVALUATIONS_PER_CALL = 200_000_000


def fast_path_refusal(
    strategy: str | Strategy,
    per: str = "symbol",
    settings: BacktestSettings | None = None,
) -> str | None:
    """Why the fast path cannot run this sweep, or None when it can (on any executor)."""
    strategy = get(strategy)
    if settings is not None and settings.ladder:
        # The kernel holds one position per column, not legs: refuse, never differ.
        return (
            "its settings build positions in legs (ladder), which the fast path does not "
            "model; the general path does"
        )
    if per != "symbol":
        return (
            f"per={per!r} trades the symbols as one book sharing cash and slots; the fast "
            "path trades each symbol alone (per='symbol')"
        )
    if strategy.fast is None:
        return (
            f"{strategy.name} has no fast path: it registers no fast form (FastPath); "
            f"these do: {', '.join(_fast_names())}"
        )
    return None


def _fast_names() -> list[str]:
    return [name for name in names() if get(name).fast is not None]


def fast_sweep(
    bars: Bars,
    strategy: str | Strategy,
    grid: Mapping[str, Sequence[Any]],
    settings: BacktestSettings | None = None,
    *,
    progress: bool = True,
    max_columns: int | None = None,
    executor: str | Executor = "local",
) -> SweepResult:
    """The per-symbol sweep table of every valid combination of ``grid``, screened fast.

    The same table as ``sweep(bars, strategy, grid, settings, per="symbol")``'s general
    path (columns: the params, ``symbol``, then the metrics). ``max_columns`` bounds the
    combinations x symbols of one kernel call (default: about EVALUATIONS_PER_CALL
    bar-evaluations). On another executor than "local" (Ray), each task runs the kernel on
    its block of combinations x symbols, one thread per task (a task holds one CPU), and
    the table is the local one. Raises InputError when the fast path cannot serve the
    strategy (see :func:`fast_path_refusal`).
    """
    strategy = get(strategy)
    refusal = fast_path_refusal(strategy, settings=settings)
    if refusal is not None:
        raise InputError(refusal, hint="use sweep(..., engine='full'), the general path")
    if max_columns is not None and max_columns < 1:
        raise InputError(f"max_columns must be at least 1, not {max_columns}")
    settings = settings or BacktestSettings()
    params_list, skipped = expand_grid(strategy, grid)
    check_bars(strategy, bars)
    for params in params_list:
        check_history(strategy, bars, params)
    n_symbols, n_bars = len(bars.symbols), len(bars)
    columns = max_columns or max(1, EVALUATIONS_PER_CALL // max(n_bars, 1))
    per_call = max(1, columns // n_symbols)

    runner = resolve_executor(executor)
    if runner.name == "local":
        table = _screen(bars, strategy, params_list, settings, per_call, progress=progress)
    else:
        n = len(params_list)
        chunk_sizes = [min(per_call, n - k) for k in range(0, n, per_call)]
        plan = plan_tasks(
            chunk_sizes, n_symbols, runner.wanted_tasks(len(params_list) * n_symbols * n_bars)
        )
        tables = run_planned(
            runner,
            _screen_task,
            (bars, strategy, settings),
            params_list,
            plan,
            label=lambda combos, parts: chunk_label(params_list, combos, bars.symbols, parts),
            desc=f"fast sweep {strategy.name}",
            progress=progress,
        )
        table = in_local_order(tables, plan, n_symbols)
    return SweepResult(
        strategy=strategy.name,
        table=table,
        skipped=skipped,
        n_combinations=len(params_list),
        per="symbol",
        param_names=list(type(params_list[0]).model_fields),
    )


def _screen_task(shared, payload) -> pd.DataFrame:
    """One task of a fast sweep on another executor: a block of combinations x symbols, one thread."""
    bars, strategy, settings = shared
    params_list, symbol_positions = payload
    bars = bars.select([bars.symbols[k] for k in symbol_positions])
    # The task holds one CPU of the cluster: numba's parallel loop would otherwise start a
    # thread per core of the machine in every worker and they would fight for the cores.
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return _screen(bars, strategy, params_list, settings, len(params_list), progress=False)
    finally:
        numba.set_num_threads(threads)


def _screen(
    bars: Bars,
    strategy: Strategy,
    params_list: list,
    settings: BacktestSettings,
    per_call: int,
    *,
    progress: bool,
) -> pd.DataFrame:
    """The sweep table of ``params_list`` x ``bars.symbols``: the kernel, ``per_call`` combinations a call."""
    prices, per_bar = _prices(bars, settings, strategy.fast.gives_stop)
    inputs = kernel_inputs(strategy.fast, bars, params_list)
    kernel = _kernel.screen_kernel(strategy.fast)
    terms = Terms.of(settings)
    # The general path's year: the calendar's count on intraday bars, not the nominal one.
    per_year = float(year_of(bars).bars_per_year)
    n_symbols = len(bars.symbols)
    stop_source = {
        "none": _kernel.STOP_NONE,
        "strategy": _kernel.STOP_STRATEGY,
        "atr": _kernel.STOP_ENGINE,
    }[settings.stop]

    parts = []
    bar = tqdm(
        total=len(params_list),
        desc=f"fast sweep {strategy.name}",
        unit="combo",
        disable=not progress,
    )
    with bar:
        for start in range(0, len(params_list), per_call):
            end = start + per_call
            # Blocks of tasks are handed out one at a time, not split in halves up front: on
            # a shared machine one thread may get the CPU less often than the other.
            with parallel_chunksize(1):
                try:
                    part = kernel(
                        inputs.series,
                        inputs.refs[start:end],
                        inputs.values[start:end],
                        *prices,
                        *per_bar,
                        stop_source,
                        # reward:risk: the target is that many of each entry's stop distances.
                        settings.take_profit_at if settings.take_profit == "reward_risk" else 0.0,
                        terms,
                        float(settings.init_cash),
                        per_year,
                    )
                except NumbaError as exc:  # compiled on the first call
                    raise StrategyError(
                        strategy.name,
                        "its fast form (FastPath.step) does not compile with numba: "
                        + str(exc).strip().splitlines()[0],
                        hint="write the step in plain numba-compatible Python, or sweep with "
                        "engine='full'",
                    ) from None
            parts.append(part)
            bar.update(len(part) // n_symbols)
    return _table(params_list, bars.symbols, np.concatenate(parts))


def _table(params_list: list, symbols: list[str], figures: np.ndarray) -> pd.DataFrame:
    """The sweep's table: the params fields, ``symbol``, then the metrics; a row per task.

    The general path's columns and dtypes (``grid_columns`` order: each combination, then
    each symbol), built from whole arrays: a MultiIndex of thousands of tuples costs more
    than the backtests behind it.
    """
    n_symbols = len(symbols)
    columns: dict[str, np.ndarray] = {
        name: np.repeat(np.array([getattr(p, name) for p in params_list]), n_symbols)
        for name in type(params_list[0]).model_fields
    }
    columns["symbol"] = np.tile(np.array(symbols, dtype=object), len(params_list))
    for k, name in enumerate(METRICS):
        whole = name in WHOLE_NUMBERS
        columns[name] = figures[:, k].astype(np.int64) if whole else figures[:, k]
    return pd.DataFrame(columns)


def _prices(
    bars: Bars, settings: BacktestSettings, gives_stop: bool
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """((open, high, low, close, engine stop distance, engine target distance), each
    (symbols x bars), as orders see them; (session, flat_at, no_entry), one per bar).

    The general path's own preparation on blank signals: the same checks (positive
    prices; a stop='strategy' needs a strategy that gives one), the same repair of
    missing opens, highs and lows, and the engine's ATR stop and the fraction or ATR target
    moved to the bar they fill on (a reward:risk target the kernel makes from each stop).
    """
    blank = pd.DataFrame(False, index=bars.index, columns=bars.close.columns)
    own_stop = (
        pd.DataFrame(np.nan, index=bars.index, columns=bars.close.columns) if gives_stop else None
    )
    orders = prepare_orders(bars, Signals(blank, blank, own_stop), settings)
    # The orders are (bars x symbols) in Fortran order: transposed, each symbol's bars are
    # contiguous, as the kernel walks them. Always fresh writeable copies: numba compiles
    # (for seconds) once per combination of array flags, and pandas hands out read-only views.
    prices = tuple(
        np.array(values.T, order="C")
        for values in (
            orders.open, orders.high, orders.low, orders.close, orders.stop_distance,
            orders.target_distance,
        )
    )  # fmt: skip
    per_bar = tuple(
        np.array(values) for values in (orders.session, orders.flat_at, orders.no_entry)
    )
    return prices, per_bar
