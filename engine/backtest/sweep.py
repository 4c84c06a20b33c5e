"""Parameter sweeps: every combination of a grid over many symbols as vectorised vectorbt work.

    >>> grid = {"fast": range(5, 50, 5), "slow": [20, 50, 100]}
    >>> result = sweep(bars, "sma_crossover", grid)                        # doctest: +SKIP
    >>> result.table.sort_values("sharpe").tail()                          # doctest: +SKIP

There is no Python loop doing one backtest per combination: the strategy computes the
signals of a whole chunk of combinations in one call (its ``grid_fn``), and one pass of the
order loop trades all of their columns; chunks only bound memory.

``executor="ray"`` runs the chunks as tasks on a Ray cluster, cut finer (and, per symbol,
by symbols too) to keep every worker busy; the table is the same as a local run's
(see :mod:`engine.executors`). A per-symbol sweep of a strategy with a fast form runs the
fast kernel in each task (:mod:`engine.backtest.fast`).
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import pydantic

from engine.backtest._execution import prepare_orders, simulate
from engine.backtest.annualisation import YearOfBars, year_of
from engine.backtest.grids import check_grid_size
from engine.backtest.metrics import compute_metrics
from engine.backtest.settings import BacktestSettings
from engine.data.bars import Bars
from engine.errors import InputError
from engine.executors import Executor, Task, plan_tasks, resolve_executor
from engine.strategies import get, signals_for_grid
from engine.strategies.base import Signals, Strategy, StrategyParams

#: Bars x columns simulated at once when the caller sets no ``max_columns``: about 4e6
#: cells keeps a chunk's signals, prices, portfolio and metrics near half a gigabyte.
CELLS_PER_CHUNK = 4_000_000

Per = Literal["symbol", "portfolio"]
Engine = Literal["auto", "fast", "full"]


@dataclass(frozen=True)
class SweepResult:
    """A sweep's metrics table and how many combinations it ran and skipped.

    ``table`` has one row per symbol x combination (``per="symbol"``) or per combination
    (``per="portfolio"``, the universe traded as one book): the params fields, then
    ``symbol`` (per symbol only), then the metrics of :mod:`engine.backtest.metrics`.
    """

    strategy: str
    table: pd.DataFrame
    skipped: int
    n_combinations: int
    per: str
    param_names: list[str]
    #: What the annualised figures are annualised by.
    annualisation: YearOfBars | None = None

    def best(self, objective: str = "sharpe", n: int = 10) -> pd.DataFrame:
        """The ``n`` rows with the highest ``objective``, best first (NaN last)."""
        if objective not in self.table.columns:
            raise InputError(
                f"the sweep table has no column {objective!r}{_did_you_mean(objective, list(self.table.columns))}",
                hint=f"columns: {', '.join(self.table.columns)}",
            )
        return self.table.sort_values(objective, ascending=False, na_position="last").head(n)


# -- grids ------------------------------------------------------------------------------


def expand_grid(
    strategy: str | Strategy, grid: Mapping[str, Sequence[Any]], *, n_symbols: int = 1
) -> tuple[list[StrategyParams], int]:
    """(the params of every valid combination, how many combinations the params model rejected).

    Combinations the model rejects (``fast >= slow``) are skipped and counted; an unknown
    parameter name, a grid with no valid combination at all, or one with more combinations
    than a sweep on ``n_symbols`` symbols may build (see :mod:`engine.backtest.grids`) is an
    :class:`InputError`. Parameters left out of the grid keep their defaults.
    """
    strategy = get(strategy)
    fields = list(strategy.params.model_fields)
    unknown = [name for name in grid if name not in fields]
    if unknown:
        problems = "; ".join(f"{name!r}{_did_you_mean(name, fields)}" for name in unknown)
        raise InputError(
            f"{strategy.name} has no parameter {problems}",
            hint=f"{strategy.name} takes {', '.join(fields)}",
        )
    names = list(grid)
    check_grid_size(grid, n_symbols)  # counted from the ranges, before anything is built
    value_lists = [list(dict.fromkeys(_as_list(grid[name]))) for name in names]
    empty = [name for name, values in zip(names, value_lists, strict=True) if not values]
    if empty:
        raise InputError(
            f"the grid gives no values for {', '.join(empty)}, so it has no combinations",
            hint="give each parameter at least one value, e.g. fast=5:50:5",
        )

    params_list: list[StrategyParams] = []
    skipped = 0
    first_reason = ""
    for combination in itertools.product(*value_lists):
        try:
            params_list.append(
                strategy.params.model_validate(dict(zip(names, combination, strict=True)))
            )
        except pydantic.ValidationError as exc:
            skipped += 1
            if not first_reason:
                first_reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
    if not params_list:
        raise InputError(
            f"none of the grid's {skipped} combinations are valid for {strategy.name} "
            f"(e.g. {first_reason})",
            hint="widen the ranges so that some combinations pass, e.g. fast below slow",
        )
    return params_list, skipped


def _as_list(values: Any) -> list:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray | range):
        return [values]
    return list(values)


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


# -- the sweep --------------------------------------------------------------------------


def sweep(
    bars: Bars,
    strategy: str | Strategy,
    grid: Mapping[str, Sequence[Any]],
    settings: BacktestSettings | None = None,
    *,
    per: Per = "symbol",
    progress: bool = True,
    max_columns: int | None = None,
    executor: str | Executor = "local",
    engine: Engine = "auto",
) -> SweepResult:
    """The metrics of every valid combination of ``grid`` on ``bars`` (see SweepResult).

    ``per="symbol"`` backtests each symbol alone with each combination (a column each);
    ``per="portfolio"`` trades the whole universe as one book per combination, with
    shared cash and ``max_positions``, as a config would trade it. ``max_columns`` bounds
    the columns simulated at once (default: about 4 million bars x columns).
    ``executor`` is where the chunks run: "local" (this process), "ray", or an executor.
    ``engine`` is the path: "fast" screens the grid in compiled parallel code (per-symbol
    sweeps of the strategies with a fast form, on any executor; the same table, see
    :mod:`engine.backtest.fast`), "full" the general path, "auto" the fast one where it can.
    """
    if per not in ("symbol", "portfolio"):
        raise InputError(f"per must be 'symbol' or 'portfolio', not {per!r}")
    if engine not in ("auto", "fast", "full"):
        raise InputError(f"engine must be 'auto', 'fast' or 'full', not {engine!r}")
    strategy = get(strategy)
    settings = (settings or BacktestSettings()).for_freq(bars.freq)
    check_grid_size(grid, len(bars.symbols))  # before either path builds a combination
    if engine != "full":
        from engine.backtest.fast import fast_path_refusal, fast_sweep  # it imports this module

        refusal = fast_path_refusal(strategy, per, settings)
        if refusal is None:
            screened = fast_sweep(
                bars,
                strategy,
                grid,
                settings,
                progress=progress,
                max_columns=max_columns,
                executor=executor,
            )
            return replace(screened, annualisation=year_of(bars))
        if engine == "fast":
            raise InputError(
                f"engine='fast' cannot run this sweep: {refusal}",
                hint="use engine='auto' (the general path where the fast one cannot go) or 'full'",
            )
    params_list, skipped = expand_grid(strategy, grid, n_symbols=len(bars.symbols))
    chunks = combination_chunks(params_list, len(bars.symbols), len(bars), max_columns)

    # A per-symbol sweep may also be cut by symbols; a portfolio's book cannot be.
    runner = resolve_executor(executor)
    n_parts = len(bars.symbols) if per == "symbol" else 1
    cells = len(params_list) * len(bars.symbols) * len(bars)
    plan = plan_tasks([len(c) for c in chunks], n_parts, runner.wanted_tasks(cells))
    symbols = bars.symbols if n_parts > 1 else None
    tables = run_planned(
        runner,
        _sweep_task,
        (bars, strategy, settings, per),
        params_list,
        plan,
        label=lambda combos, parts: chunk_label(params_list, combos, symbols, parts),
        desc=f"sweep {strategy.name}",
        progress=progress,
    )
    return SweepResult(
        strategy=strategy.name,
        table=in_local_order(tables, plan, n_parts),
        skipped=skipped,
        n_combinations=len(params_list),
        per=per,
        param_names=list(type(params_list[0]).model_fields),
        annualisation=year_of(bars),
    )


def combination_chunks(
    params_list: list, n_symbols: int, n_bars: int, max_columns: int | None
) -> list[list]:
    """``params_list`` cut into chunks of at most ``max_columns`` columns (combinations x symbols).

    A combination's symbols always stay in one chunk (a book cannot be split). None means
    about CELLS_PER_CHUNK bars x columns per chunk.
    """
    if max_columns is None:
        max_columns = max(1, CELLS_PER_CHUNK // max(n_bars, 1))
    if max_columns < 1:
        raise InputError(f"max_columns must be at least 1, not {max_columns}")
    per_chunk = max(1, max_columns // max(n_symbols, 1))
    return [params_list[k : k + per_chunk] for k in range(0, len(params_list), per_chunk)]


def chunk_label(
    params_list: list[StrategyParams],
    combos: range,
    symbols: list[str] | None = None,
    parts: range | None = None,
) -> str:
    """A task's name for progress and errors, e.g. ``combinations 1-20 of 150 (fast=5 slow=20 .. fast=10 slow=40), symbols AAPL..F``."""

    def named(params: StrategyParams) -> str:
        return " ".join(f"{k}={v}" for k, v in params.model_dump().items())

    first, last = params_list[combos.start], params_list[combos.stop - 1]
    label = (
        f"combinations {combos.start + 1}-{combos.stop} of {len(params_list)} "
        f"({named(first)}{f' .. {named(last)}' if len(combos) > 1 else ''})"
    )
    if symbols is not None and parts is not None and len(parts) < len(symbols):
        chosen = symbols[parts.start : parts.stop]
        label += f", symbols {chosen[0]}{f'..{chosen[-1]}' if len(chosen) > 1 else ''}"
    return label


def run_planned(
    runner: Executor,
    work: Callable[[Any, tuple[list[StrategyParams], list[int]]], Any],
    shared: Any,
    params_list: list[StrategyParams],
    plan: list[tuple[range, range]],
    *,
    label: Callable[[range, range], str],
    desc: str,
    progress: bool,
) -> list:
    """Each planned task's result, in plan order: ``work(shared, (its combinations, its parts))``.

    A task of ``plan`` (:func:`engine.executors.plan_tasks`) is a run of combinations and a
    run of parts (symbols, or a walk-forward's full history and folds); it counts as one
    backtest per combination and part on the progress bar, and ``label`` names it.
    """
    tasks = [
        Task(
            label=label(combos, parts),
            payload=(params_list[combos.start : combos.stop], list(parts)),
            weight=len(combos) * len(parts),
        )
        for combos, parts in plan
    ]
    return runner.run(work, shared, tasks, desc=desc, unit="backtest", progress=progress)


def _sweep_task(shared, payload) -> pd.DataFrame:
    """One task of a sweep (on any executor): a chunk of combinations, on some or all symbols."""
    bars, strategy, settings, per = shared
    params_list, symbol_positions = payload
    # A portfolio's one part is the whole universe, traded as one book.
    symbols = symbol_positions if per == "symbol" else None
    return _sweep_chunk(bars, strategy, params_list, settings, per, symbols)


def in_local_order(tables: list[pd.DataFrame], plan: list[tuple[range, range]], n_parts: int):
    """The tasks' tables as one, rows in the order one local pass gives (combination, then symbol)."""
    positions = np.concatenate(
        [
            (np.array(combos)[:, None] * n_parts + np.array(parts)[None, :]).ravel()
            for combos, parts in plan
        ]
    )
    table = pd.concat(tables, ignore_index=True)
    if np.all(positions[1:] > positions[:-1]):
        return table
    return table.take(np.argsort(positions, kind="stable")).reset_index(drop=True)


def _sweep_chunk(
    bars: Bars,
    strategy: Strategy,
    params_list: list[StrategyParams],
    settings: BacktestSettings,
    per: str,
    symbol_positions: list[int] | None = None,
) -> pd.DataFrame:
    signals = signals_for_grid(strategy, bars, params_list, progress=False)
    if symbol_positions is not None:
        # Signals come from the whole universe (a rotation ranks every symbol), then only
        # these symbols are traded: each symbol is its own book, so the rest change nothing.
        bars, signals = _only_symbols(bars, signals, [bars.symbols[k] for k in symbol_positions])
    orders = prepare_orders(bars, signals, settings)
    if per == "symbol":
        simulation = simulate(orders, settings, books="per_column")
        keys = orders.columns.to_frame(index=False)
    else:
        simulation = simulate(orders, settings, books="per_set")
        keys = pd.DataFrame([params.model_dump() for params in params_list])
    metrics = compute_metrics(simulation, freq=settings.freq).reset_index(drop=True)
    return pd.concat([keys, metrics], axis=1)


def _only_symbols(bars: Bars, signals: Signals, symbols: list[str]) -> tuple[Bars, Signals]:
    """These symbols' bars, and their columns of a grid's signals (kept in the grid's order)."""
    keep = signals.entries.columns.get_level_values("symbol").isin(symbols)

    def cut(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        return None if frame is None else frame.loc[:, keep]

    return bars.select(symbols), Signals(
        entries=cut(signals.entries),
        exits=cut(signals.exits),
        stop_distance=cut(signals.stop_distance),
    )
