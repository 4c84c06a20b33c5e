"""Walk-forward validation: choose params in sample, trade them out of sample, stitch the results.

Each fold picks the combination with the best ``objective`` on its training window (the
universe traded as one book, as a config would trade it), then trades that combination on
the test window that follows. The test windows follow each other without overlap, and
their equity curves are chained into one out-of-sample curve.

Signals are computed once, on the full history: a strategy that passes the look-ahead
check gives bar t the same signal whether or not later bars exist, so every window sees
exactly the signals it would have seen live, warm-up included (a test window's averages
are never computed on a history truncated at its start). Trading is confined to the
window: a test window starts with cash only and sells what it still holds at its last
close, costs included.

The trials (every combination over the full history and over each training window) are
the bulk of the work; ``executor="ray"`` runs them as tasks on a Ray cluster, cut by
combinations and then by folds, with the same result as a local run.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.backtest._execution import prepare_orders, simulate
from engine.backtest.annualisation import YearOfBars, year_of
from engine.backtest.day_trades import day_trade_figures
from engine.backtest.metrics import OBJECTIVES, compute_metrics, metrics_dict, summarize
from engine.backtest.runner import trade_table
from engine.backtest.settings import BacktestSettings
from engine.backtest.sweep import chunk_label, combination_chunks, expand_grid, run_planned
from engine.data.bars import Bars
from engine.errors import InputError
from engine.executors import Executor, plan_tasks, resolve_executor
from engine.strategies import get, signals_for_grid
from engine.strategies.base import Strategy, StrategyParams

#: Shortest windows that give metrics worth comparing.
MIN_TRAIN_BARS = 20
MIN_TEST_BARS = 5


@dataclass(frozen=True)
class Fold:
    """One fold: its windows (dates inclusive), the params chosen in sample, both results."""

    number: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    params: dict[str, Any]
    in_sample: dict[str, float | int]
    out_of_sample: dict[str, float | int]

    def to_dict(self) -> dict[str, Any]:
        """The fold as plain data (dates as ISO strings), as a config's evidence keeps it."""
        return {
            "train_start": self.train_start.date().isoformat(),
            "train_end": self.train_end.date().isoformat(),
            "test_start": self.test_start.date().isoformat(),
            "test_end": self.test_end.date().isoformat(),
            "params": dict(self.params),
            "in_sample": dict(self.in_sample),
            "out_of_sample": dict(self.out_of_sample),
        }


@dataclass(frozen=True)
class WalkForwardResult:
    """Folds, the stitched out-of-sample equity and metrics, and the trials behind them."""

    strategy: str
    objective: str
    anchored: bool
    settings: BacktestSettings
    folds: list[Fold]
    #: The test windows' equity chained end to end, starting from init_cash.
    oos_equity: pd.Series
    #: The mean over folds of the chosen combination's in-sample metrics.
    is_metrics: dict[str, float]
    #: Metrics of the stitched out-of-sample equity and of all out-of-sample trades.
    oos_metrics: dict[str, float | int]
    #: Every out-of-sample trade, with the fold it belongs to.
    oos_trades: pd.DataFrame
    #: Combinations tried (the grid's valid ones) and the ones the params model rejected.
    n_trials: int
    skipped: int
    #: Per-bar returns of every combination traded over the full history (bars x trials,
    #: columns the params): the input of the deflated Sharpe and of PBO.
    trial_returns: pd.DataFrame
    #: What the annualised figures are annualised by.
    annualisation: YearOfBars

    @property
    def params(self) -> dict[str, Any]:
        """The params the last fold chose: what a config proposed from this run would trade."""
        return dict(self.folds[-1].params)

    def summary(self) -> dict[str, Any]:
        """The result as plain data, for ``--json`` and notebooks."""
        return {
            "strategy": self.strategy,
            "objective": self.objective,
            "anchored": self.anchored,
            "n_trials": self.n_trials,
            "skipped": self.skipped,
            "params": self.params,
            "annualisation": self.annualisation.to_dict(),
            "in_sample": self.is_metrics,
            "out_of_sample": self.oos_metrics,
            "folds": [fold.to_dict() for fold in self.folds],
        }


def fold_windows(
    n_bars: int,
    folds: int,
    train_bars: int | None = None,
    test_bars: int | None = None,
    anchored: bool = False,
    *,
    session: np.ndarray | None = None,
) -> list[tuple[int, int, int, int]]:
    """(train_start, train_stop, test_start, test_stop) bar positions of each fold, stops excluded.

    Without sizes, the bars are cut into ``folds + 1`` equal parts: fold k trains on part k
    (all parts up to k when ``anchored``) and tests on part k+1. Given sizes, the folds
    end at the last bar. Test windows never overlap and each follows its training window.

    ``session`` (each bar's session number, as intraday orders carry it) cuts intraday bars
    into whole sessions, never inside one: the parts are counted in sessions, and sizes
    given in bars are rounded to whole sessions.
    """
    if folds < 1:
        raise InputError(f"folds must be at least 1, not {folds}")
    if session is None:
        return _windows(n_bars, folds, train_bars, test_bars, anchored, "bars",
                        MIN_TRAIN_BARS, MIN_TEST_BARS)  # fmt: skip
    starts = np.flatnonzero(np.r_[True, session[1:] != session[:-1]])
    bounds = np.r_[starts, n_bars]
    per_session = float(np.median(np.diff(bounds)))

    def sessions(bars: int | None) -> int | None:
        return None if bars is None else max(1, round(bars / per_session))

    # The fewest whole sessions that hold the fewest bars a window may have.
    min_train, min_test = (max(1, math.ceil(n / per_session)) for n in (MIN_TRAIN_BARS, MIN_TEST_BARS))
    windows = _windows(len(starts), folds, sessions(train_bars), sessions(test_bars), anchored,
                       "sessions", min_train, min_test)  # fmt: skip
    return [tuple(int(bounds[k]) for k in window) for window in windows]


def _windows(
    n_units: int,
    folds: int,
    train: int | None,
    test: int | None,
    anchored: bool,
    unit: str,
    min_train: int,
    min_test: int,
) -> list[tuple[int, int, int, int]]:
    """The folds' windows in ``unit`` positions (bars, or whole sessions)."""
    if train is None and test is None:
        test = n_units // (folds + 1)
        train = n_units - folds * test
        if not anchored:
            train = test
    elif test is None:
        test = (n_units - train) // folds
    elif train is None:
        train = n_units - folds * test
    needed = train + folds * test
    if test < min_test or train < min_train or needed > n_units:
        raise InputError(
            f"{folds} folds of {max(test, 0)} test {unit} after {max(train, 0)} "
            f"training {unit} need {max(needed, min_train + folds * min_test)} {unit}; "
            f"the data has {n_units}",
            hint=f"load a longer history, use fewer folds, or shorter windows (at least "
            f"{min_train} training and {min_test} test {unit})",
        )
    first_test = n_units - folds * test
    windows = []
    for k in range(folds):
        test_start = first_test + k * test
        train_start = (first_test - train) if anchored else test_start - train
        windows.append((train_start, test_start, test_start, test_start + test))
    return windows


def walk_forward(
    bars: Bars,
    strategy: str | Strategy,
    grid: Mapping[str, Sequence[Any]],
    settings: BacktestSettings | None = None,
    *,
    folds: int = 5,
    train_bars: int | None = None,
    test_bars: int | None = None,
    anchored: bool = False,
    objective: str = "sharpe",
    progress: bool = True,
    max_columns: int | None = None,
    executor: str | Executor = "local",
) -> WalkForwardResult:
    """The walk-forward of ``strategy`` over ``grid`` on ``bars`` (see the module docstring).

    ``objective`` is the metric the in-sample best is chosen by (one of OBJECTIVES);
    ``anchored`` trains every fold from the first training bar instead of a rolling window.
    ``max_columns`` bounds the columns simulated at once, as in a sweep; ``executor`` is
    where the trials run: "local" (this process), "ray", or an executor.
    """
    if objective not in OBJECTIVES:
        close = difflib.get_close_matches(objective, OBJECTIVES, n=1, cutoff=0.5)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"unknown objective {objective!r}{guess}",
            hint=f"choose one of {', '.join(OBJECTIVES)} (higher is better for each)",
        )
    strategy = get(strategy)
    settings = (settings or BacktestSettings()).for_freq(bars.freq)
    params_list, skipped = expand_grid(strategy, grid, n_symbols=len(bars.symbols))
    session = np.cumsum(bars.session_start) - 1 if bars.is_intraday else None
    windows = fold_windows(len(bars), folds, train_bars, test_bars, anchored, session=session)

    trial_returns, in_sample = _trials(
        bars, strategy, params_list, settings, windows, max_columns, progress, executor
    )
    fold_results, equity_parts, trade_parts = [], [], []
    sessions_traded = [np.zeros((4, 0), dtype=np.int64)]  # (book, entry, exit, closed) per trade
    traded_value, exposure_bars, bars_in_market = 0.0, 0.0, 0.0
    for number, (train_start, train_stop, test_start, test_stop) in enumerate(windows):
        choice = int(np.argmax(in_sample[number][objective].fillna(-np.inf).to_numpy()))
        params = params_list[choice]
        signals = signals_for_grid(strategy, bars, [params], progress=False)
        test = prepare_orders(bars, signals, settings).window(test_start, test_stop)
        simulation = simulate(test, settings, books="one", close_at_end=True)
        out_of_sample = compute_metrics(simulation, freq=settings.freq).iloc[0]
        equity_parts.append(simulation.equity.iloc[:, 0])
        trade_parts.append(trade_table(simulation, bars.symbols).assign(fold=number))
        fold_trades = simulation.trades()
        sessions_traded.append(
            np.array(
                [
                    np.zeros(len(fold_trades["col"]), dtype=np.int64),
                    test.session[fold_trades["entry_idx"]],
                    test.session[fold_trades["exit_idx"]],
                    fold_trades["closed"],
                ],
                dtype=np.int64,
            )
        )
        fills = simulation.records
        traded_value += float((fills["size"] * fills["price"]).sum())
        exposure_bars += float(out_of_sample["exposure"]) * (test_stop - test_start)
        bars_in_market += float(out_of_sample["time_in_market"]) * (test_stop - test_start)
        fold_results.append(
            Fold(
                number=number,
                train_start=bars.index[train_start],
                train_end=bars.index[train_stop - 1],
                test_start=bars.index[test_start],
                test_end=bars.index[test_stop - 1],
                params=params.model_dump(),
                in_sample=metrics_dict(in_sample[number].iloc[choice]),
                out_of_sample=metrics_dict(out_of_sample),
            )
        )

    year = year_of(bars)
    oos_equity = _stitched(equity_parts, settings.init_cash)
    oos_trades = pd.concat(trade_parts, ignore_index=True)
    oos_table = summarize(
        oos_equity.to_numpy()[:, None],
        np.array([settings.init_cash]),
        trade_book=np.zeros(len(oos_trades), dtype=np.int64),
        trade_pnl=oos_trades["pnl"].to_numpy(dtype=float),
        trade_closed=(oos_trades["status"] == "closed").to_numpy(),
        traded_value=np.array([traded_value]),
        exposure=np.array([exposure_bars / len(oos_equity)]),
        time_in_market=np.array([bars_in_market / len(oos_equity)]),
        day_trades=day_trade_figures(*np.concatenate(sessions_traded, axis=1), n_books=1),
        bars_per_year=year.bars_per_year,
    )
    is_metrics = {
        name: _mean([fold.in_sample[name] for fold in fold_results])
        for name in fold_results[0].in_sample
    }
    return WalkForwardResult(
        strategy=strategy.name,
        objective=objective,
        anchored=anchored,
        settings=settings,
        folds=fold_results,
        oos_equity=oos_equity,
        is_metrics=is_metrics,
        oos_metrics=metrics_dict(oos_table.iloc[0]),
        oos_trades=oos_trades,
        n_trials=len(params_list),
        skipped=skipped,
        trial_returns=trial_returns,
        annualisation=year,
    )


def _trials(
    bars: Bars,
    strategy: Strategy,
    params_list: list[StrategyParams],
    settings: BacktestSettings,
    windows: list[tuple[int, int, int, int]],
    max_columns: int | None,
    progress: bool,
    executor: str | Executor = "local",
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """(every combination's per-bar returns over the full history, each fold's in-sample table).

    Each combination trades the universe as one book; chunks of combinations bound memory.
    The in-sample tables have one row per combination, in ``params_list`` order.
    """
    # Part 0 of a combination is its run over the full history; part k its run over fold
    # k-1's training window. A task runs some parts of a chunk of combinations.
    n_parts = len(windows) + 1
    chunks = combination_chunks(params_list, len(bars.symbols), len(bars), max_columns)
    runner = resolve_executor(executor)
    cells = len(params_list) * len(bars.symbols) * len(bars) * 2  # full history + the windows
    plan = plan_tasks([len(c) for c in chunks], n_parts, runner.wanted_tasks(cells))
    results = run_planned(
        runner,
        _trials_task,
        (bars, strategy, settings, windows),
        params_list,
        plan,
        label=lambda combos, parts: chunk_label(params_list, combos) + _parts_label(parts, n_parts),
        desc=f"walk-forward {strategy.name}",
        progress=progress,
    )
    # Tasks go combinations first, so each part's pieces come back in params_list order.
    trial_returns = pd.concat([r[0] for r in results if 0 in r], axis=1)
    in_sample = [
        pd.concat([r[part] for r in results if part in r], ignore_index=True)
        for part in range(1, n_parts)
    ]
    return trial_returns, in_sample


def _trials_task(shared, payload) -> dict[int, pd.DataFrame]:
    """One task of the trials (on any executor): some parts of a chunk of combinations."""
    bars, strategy, settings, windows = shared
    chunk, parts = payload
    signals = signals_for_grid(strategy, bars, chunk, progress=False)
    orders = prepare_orders(bars, signals, settings)
    results: dict[int, pd.DataFrame] = {}
    for part in parts:
        if part == 0:
            keys = pd.MultiIndex.from_frame(pd.DataFrame([p.model_dump() for p in chunk]))
            equity = simulate(orders, settings, books="per_set", book_labels=keys).equity
            results[0] = equity / equity.shift(1).fillna(settings.init_cash) - 1.0
        else:
            train_start, train_stop, _, _ = windows[part - 1]
            simulation = simulate(orders.window(train_start, train_stop), settings, books="per_set")
            results[part] = compute_metrics(simulation, freq=settings.freq).reset_index(drop=True)
    return results


def _parts_label(parts: range, n_parts: int) -> str:
    if len(parts) == n_parts:
        return ""
    named = ["full history" if part == 0 else f"fold {part}" for part in parts]
    return ", " + ", ".join(named)


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _stitched(parts: list[pd.Series], init_cash: float) -> pd.Series:
    """The test windows' equity chained: each window's returns compounded onto the last."""
    returns = [part / part.shift(1).fillna(init_cash) - 1.0 for part in parts]
    chained = pd.concat(returns)
    return (init_cash * (1.0 + chained).cumprod()).rename("oos_equity")
