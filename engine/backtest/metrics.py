"""Performance figures of a backtest, annualised by a bar frequency that is stated, never guessed.

Every figure is per book (a column, or a group of columns sharing cash) and vectorised, so
a sweep of thousands of books costs one call. Conventions a trader reads them by:

- ``total_return``, ``cagr``: fractions (0.25 is +25%).
- ``sharpe``, ``sortino``: annualised with ``bars_per_year`` bars (252 for daily bars), zero
  risk-free rate; NaN when the equity never moved.
- ``max_drawdown``: the deepest fall from a peak (the starting cash counts as one, which
  vectorbt's drawdowns leave out), as a positive fraction (0.2 is a 20% fall); ``max_drawdown_duration``: the most bars spent
  below a previous peak; ``calmar``: cagr / max_drawdown.
- ``win_rate``, ``profit_factor``: over closed trades (gross wins / gross losses, after
  costs); ``trades``: positions opened, including one still open at the end.
- ``exposure``: the average invested fraction, the share of equity held in positions
  averaged over the bars (1.0 is always fully invested); ``time_in_market``: the share of
  bars at whose close the book held any position (a book 20% invested every day has an
  exposure of 0.2 and a time in the market of 1.0); ``turnover``: value traded one way
  per year, in multiples of average equity.
- ``day_trades``: closed trades bought and sold in one session (every trade of a config
  that is flat by the close); ``max_day_trades_5_sessions``: the most of them in any 5
  consecutive sessions, the count FINRA's pattern-day-trader rule looks at (see
  :mod:`engine.backtest.day_trades`).

The ratios are vectorbt's definitions (``vbt.returns.nb``: the sample standard deviation,
the downside deviation over all bars), computed here on whole arrays with the annualisation
factor passed in explicitly; a test holds them to vectorbt's own functions. vectorbt itself
is imported only to read a Portfolio someone already built: importing it takes seconds.
"""

from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

# The names live in a light module of their own: the control room labels evidence with them.
from engine.backtest.day_trades import day_trade_figures
from engine.backtest.labels import (  # noqa: F401
    FRACTIONS,
    LABELS,
    METRICS,
    OBJECTIVES,
    WHOLE_NUMBERS,
)
from engine.backtest.settings import BARS_PER_YEAR
from engine.errors import InputError

if TYPE_CHECKING:
    import vectorbt as vbt


def bars_per_year(freq: str) -> int:
    """Bars in a year at bar size ``freq`` ("1D" -> 252 trading days)."""
    try:
        return BARS_PER_YEAR[freq]
    except KeyError:
        raise InputError(
            f"unknown bar size {freq!r}",
            hint=f"use one of {', '.join(BARS_PER_YEAR)}",
        ) from None


def compute_metrics(result, *, freq: str, per_year: float | None = None) -> pd.DataFrame:
    """The metrics of each book of ``result``: one row per book, figures annualised at ``freq``.

    ``result`` is a vectorbt ``Portfolio`` (a book is a column, or a group of columns if
    grouped) or the engine's own simulation (its books, without building a Portfolio,
    which is what keeps sweeps fast). ``freq`` is the bar size, e.g. "1D". A simulation
    annualises by the year of its own bars (engine.backtest.annualisation); ``per_year``
    gives a Portfolio the same (default: the nominal figure for ``freq``).
    """
    from engine.backtest._execution import Simulation

    if isinstance(result, Simulation):
        return _simulation_metrics(result, result.orders.year.bars_per_year)
    if type(result).__module__.startswith("vectorbt."):
        # Someone built a Portfolio, so vectorbt is loaded already: this import is free.
        import vectorbt as vbt

        if isinstance(result, vbt.Portfolio):
            return _portfolio_metrics(result, per_year or bars_per_year(freq))
    raise InputError(
        f"cannot compute metrics of a {type(result).__name__}",
        hint="pass a vectorbt Portfolio or a backtest's simulation",
    )


def _simulation_metrics(simulation, per_year: int) -> pd.DataFrame:
    equity = simulation.equity.to_numpy()
    # Every book starts with init_cash, shared or sliced equally among its symbols.
    book_cash = np.full(simulation.n_books, simulation.settings.init_cash)
    trades = simulation.trades()
    fills = simulation.records
    traded = np.bincount(
        simulation.book_of_col[fills["col"]],
        weights=fills["size"] * fills["price"],
        minlength=simulation.n_books,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        exposure = np.where(equity > 0, simulation.invested / equity, 0.0).mean(axis=0)
    table = summarize(
        equity,
        book_cash,
        trade_book=trades["book"],
        trade_pnl=trades["pnl"],
        trade_closed=trades["closed"],
        traded_value=traded,
        exposure=exposure,
        time_in_market=(simulation.invested != 0).mean(axis=0),
        day_trades=day_trade_figures(
            trades["book"],
            simulation.orders.session[trades["entry_idx"]],
            simulation.orders.session[trades["exit_idx"]],
            trades["closed"],
            simulation.n_books,
        ),
        bars_per_year=per_year,
    )
    table.index = simulation.equity.columns
    return table


def _portfolio_metrics(portfolio: vbt.Portfolio, per_year: int) -> pd.DataFrame:
    wrapper = portfolio.wrapper
    grouped = wrapper.grouper.is_grouped()
    books = wrapper.get_columns()
    value = np.asarray(portfolio.value()).reshape(len(wrapper.index), len(books))
    init_cash = np.asarray(portfolio.init_cash, dtype=float).reshape(len(books))
    gross = np.asarray(portfolio.gross_exposure()).reshape(value.shape)
    exposure = gross.mean(axis=0)

    book_of_col = (
        wrapper.grouper.get_groups() if grouped else np.arange(len(wrapper.columns))
    ).astype(np.int64)
    orders = portfolio.orders.values
    traded = np.bincount(
        book_of_col[orders["col"]],
        weights=orders["size"] * orders["price"],
        minlength=len(books),
    )
    trades = portfolio.trades.values
    # A session is a date in the bars' own (exchange) time: each daily bar is one.
    session = pd.factorize(pd.DatetimeIndex(wrapper.index).normalize())[0]
    table = summarize(
        value,
        init_cash,
        trade_book=book_of_col[trades["col"]],
        trade_pnl=trades["pnl"],
        trade_closed=trades["status"] == 1,
        traded_value=traded,
        exposure=exposure,
        time_in_market=(gross != 0).mean(axis=0),
        day_trades=day_trade_figures(
            book_of_col[trades["col"]],
            session[trades["entry_idx"]],
            session[trades["exit_idx"]],
            trades["status"] == 1,
            len(books),
        ),
        bars_per_year=per_year,
    )
    table.index = books
    return table


def summarize(
    value: np.ndarray,
    init_cash: np.ndarray,
    *,
    trade_book: np.ndarray,
    trade_pnl: np.ndarray,
    trade_closed: np.ndarray,
    traded_value: np.ndarray,
    exposure: np.ndarray,
    bars_per_year: int,
    time_in_market: np.ndarray | None = None,
    day_trades: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The metrics table (one row per book) from plain arrays.

    ``value`` is each book's equity at every bar's close (bars x books), ``init_cash`` its
    value before the first bar. Trades are given as flat arrays, each trade's book,
    profit and whether it is closed. ``traded_value`` is the value bought plus sold per
    book, ``exposure`` the average share of equity invested per book, ``time_in_market``
    the share of its bars with a position held, ``day_trades`` the day trades per book
    and the most in any 5 sessions (:func:`~engine.backtest.day_trades.day_trade_figures`;
    None: not known, NaN, as for ``time_in_market``).
    """
    value = np.asarray(value, dtype=float)
    n_bars, n_books = value.shape
    init_cash = np.asarray(init_cash, dtype=float)
    before = np.empty_like(value, order="F")
    before[0] = init_cash
    before[1:] = value[:-1]
    returns = value / before - 1.0

    total_return = value[-1] / init_cash - 1.0
    moved = np.any(returns != 0.0, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cagr, sharpe, sortino = annualized_ratios(returns, bars_per_year)
        sharpe = np.where(moved, sharpe, np.nan)
        sortino = np.where(moved, sortino, np.nan)
        max_dd, max_dd_bars = _drawdowns_of(value.size)(np.ascontiguousarray(value.T), init_cash)
        calmar = np.where(max_dd > 0, cagr / max_dd, np.nan)

        closed = np.asarray(trade_closed, dtype=bool)
        book, pnl = np.asarray(trade_book)[closed], np.asarray(trade_pnl, dtype=float)[closed]
        n_closed = np.bincount(book, minlength=n_books)
        wins = np.bincount(book, weights=pnl > 0, minlength=n_books)
        gross_win = np.bincount(book, weights=np.where(pnl > 0, pnl, 0.0), minlength=n_books)
        gross_loss = -np.bincount(book, weights=np.where(pnl < 0, pnl, 0.0), minlength=n_books)
        win_rate = np.where(n_closed > 0, wins / n_closed, np.nan)
        profit_factor = np.where(
            n_closed == 0, np.nan, np.where(gross_loss > 0, gross_win / gross_loss, np.inf)
        )
        profit_factor = np.where(
            (n_closed > 0) & (gross_win == 0) & (gross_loss == 0), np.nan, profit_factor
        )
        mean_equity = value.mean(axis=0)
        turnover = (
            np.asarray(traded_value, dtype=float) / 2.0 / mean_equity * bars_per_year / n_bars
        )
    n_trades = np.bincount(np.asarray(trade_book), minlength=n_books)
    unknown = np.full(n_books, np.nan)
    day_count, day_most = (unknown, unknown) if day_trades is None else day_trades

    return pd.DataFrame(
        {
            "total_return": total_return,
            "cagr": cagr,
            "sharpe": sharpe,
            "sortino": sortino,
            "calmar": calmar,
            "max_drawdown": max_dd,
            "max_drawdown_duration": max_dd_bars,
            "win_rate": win_rate,
            "profit_factor": profit_factor,
            "exposure": np.asarray(exposure, dtype=float),
            "trades": n_trades.astype(np.int64),
            "turnover": turnover,
            "time_in_market": (
                unknown if time_in_market is None else np.asarray(time_in_market, dtype=float)
            ),
            "day_trades": day_count,
            "max_day_trades_5_sessions": day_most,
        }
    )


def annualized_ratios(returns: np.ndarray, bars_per_year: int):
    """(CAGR, Sharpe, Sortino) of each column of bar ``returns``, annualised with ``bars_per_year``.

    vectorbt's definitions: growth compounded over the bars; the mean over the sample
    standard deviation (infinite when it is 0); the mean over the root mean square of the
    losses (infinite without a loss). NaN returns are left out; fewer than two bars give NaN.
    """
    returns = np.asarray(returns, dtype=float)
    n_bars = returns.shape[0]
    if n_bars == 0:
        nothing = np.full(returns.shape[1], np.nan)
        return nothing, nothing, nothing
    cagr = np.nanprod(returns + 1.0, axis=0) ** (bars_per_year / n_bars) - 1.0
    if n_bars < 2:
        nothing = np.full(returns.shape[1], np.nan)
        return cagr, nothing, nothing
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a book with one bar that is not NaN
        mean = np.nanmean(returns, axis=0)
        std = np.nanstd(returns, axis=0, ddof=1)
        losses = np.minimum(returns, 0.0)
        downside = np.sqrt(np.nanmean(losses * losses, axis=0)) * np.sqrt(bars_per_year)
        sharpe = np.where(std == 0.0, np.inf, mean / std * np.sqrt(bars_per_year))
        sortino = np.where(downside == 0.0, np.inf, mean * bars_per_year / downside)
    return cagr, sharpe, sortino


def _drawdowns_of(cells: int):
    """The drawdown loop for ``cells`` bars x books: compiled when it is worth numba's start-up.

    The order loop's rule (see engine.backtest._simulate.order_loop): plain Python for a
    backtest or two, numba for a sweep, or once numba is loaded in this process.
    """
    from engine.backtest._simulate import SMALL_WORK, compiled

    if cells >= SMALL_WORK or compiled.cache_info().currsize:
        return _compiled_drawdowns()
    return _drawdowns


@functools.cache
def _compiled_drawdowns():
    from numba import njit  # imported only for work big enough to repay its start-up

    return njit(cache=True)(_drawdowns)


def _drawdowns(value_by_book, init_cash):
    """(deepest fall from a peak as a positive fraction, most bars spent below a peak) per book."""
    n_books, n_bars = value_by_book.shape
    depth = np.zeros(n_books)
    duration = np.zeros(n_books, dtype=np.int64)
    for book in range(n_books):
        peak = init_cash[book]
        under = 0
        for i in range(n_bars):
            v = value_by_book[book, i]
            if v >= peak:
                peak = v
                under = 0
            else:
                under += 1
                if under > duration[book]:
                    duration[book] = under
                fall = 1.0 - v / peak
                if fall > depth[book]:
                    depth[book] = fall
    return depth, duration


def metrics_dict(row: pd.Series) -> dict[str, float | int]:
    """One book's metrics as a plain dict (floats; the counts as ints where known)."""
    out: dict[str, float | int] = {}
    for name in METRICS:
        figure = float(row[name])
        out[name] = int(figure) if name in WHOLE_NUMBERS and np.isfinite(figure) else figure
    return out
