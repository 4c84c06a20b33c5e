"""From a strategy's signals to fills: when orders may fill, their stops, and which books trade.

The engine, not the strategy, decides when a signal can be acted on: with
``execution="next_open"`` a signal of bar t is moved to bar t+1 here, once, for every
backtest, sweep and walk-forward fold, together with the close it was decided at (sizes
and stop levels come from that close, see :mod:`engine.backtest.rules`). Windows are cut
*after* that shift, so a test window's first bar can act on the signal of the bar before
it, and signals are always computed on the full history before the window (never on
truncated data).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from engine.backtest._simulate import order_loop
from engine.backtest.annualisation import YearOfBars, year_of
from engine.backtest.flat import flat_bars
from engine.backtest.rules import Terms, ladder_terms
from engine.backtest.settings import BacktestSettings
from engine.backtest.stops import stop_distances, target_distances
from engine.data.bars import Bars
from engine.errors import InputError
from engine.strategies.base import Signals

if TYPE_CHECKING:
    import vectorbt as vbt

#: The fields of Orders with a row per bar.
_BY_BAR = (
    "entries", "exits", "stop_distance", "target_distance", "open", "high", "low", "close",
    "decision_price",
)  # fmt: skip
#: The fields of Orders with one value per bar, for all symbols alike.
_PER_BAR = ("session", "flat_at", "no_entry")


@dataclass(frozen=True)
class Orders:
    """Signals moved to the bar they may fill on: (bars x columns) arrays, plus the prices.

    Columns are ``n_sets`` blocks of the bars' symbols (one block per parameter set).
    ``decision_price`` (bars x symbols) is the close each row's signals were decided at:
    the bar before for ``next_open`` (NaN on the first bar), the bar itself for ``close``.
    ``session`` numbers each bar's trading session (0, 1, ...; every daily bar is one);
    ``year`` is how many of these bars make a year, for every annualised figure. With
    ``flat_by_close``, ``flat_at`` is True on the bars at whose close the book sells out
    (all False otherwise). ``no_entry`` is True on the bars no entry may fill on: after
    the bar the book goes flat by, and, on intraday bars under ``last_bar_entries:
    refuse``, a session's first bar (its entries were signalled on the session before's
    last bar). The entries are masked there already; the fast sweep, which makes its own,
    reads it.
    """

    index: pd.DatetimeIndex
    columns: pd.Index
    entries: np.ndarray
    exits: np.ndarray
    stop_distance: np.ndarray
    #: The profit target's distance above the decision price (NaN: none).
    target_distance: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    decision_price: np.ndarray
    n_sets: int
    session: np.ndarray
    year: YearOfBars
    flat_at: np.ndarray
    no_entry: np.ndarray

    @property
    def n_symbols(self) -> int:
        return self.close.shape[1]

    def window(self, start: int, stop: int) -> Orders:
        """The bars from position ``start`` up to (not including) ``stop``."""

        # Copies in Fortran order, like the whole: the order loop compiles for one layout.
        rows = {name: np.asfortranarray(getattr(self, name)[start:stop]) for name in _BY_BAR}
        per_bar = {name: getattr(self, name)[start:stop] for name in _PER_BAR}
        return replace(self, index=self.index[start:stop], **rows, **per_bar)


def prepare_orders(bars: Bars, signals: Signals, settings: BacktestSettings) -> Orders:
    """The signals as orders: shifted for next-bar execution, with stop distances, cleaned.

    A bar with both an entry and an exit signal is an exit. Stop distances come from the
    strategy (``stop="strategy"``) or the engine's ATR (``stop="atr"``), target distances
    from ``take_profit``, as they stood on the signal bar. With ``flat_by_close`` no entry
    fills after the bar the book goes flat on (see :mod:`engine.backtest.flat`), nor, with
    ``execution="close"``, at that bar's close. On intraday bars an entry signalled on a
    session's last bar fills at the next session's first open only under
    ``last_bar_entries: next_open``; by default (``refuse``) it is dropped, as the live
    loop denies it.
    """
    close = bars.close.to_numpy(dtype=float)
    n_symbols = close.shape[1]
    n_cols = signals.entries.shape[1]
    if n_symbols == 0 or n_cols % n_symbols:
        raise InputError(
            f"signals have {n_cols} columns for {n_symbols} symbols",
            hint="compute the signals on the same bars you backtest",
        )
    n_sets = n_cols // n_symbols
    _check_prices(bars, close)

    entries = signals.entries.to_numpy(dtype=bool)
    exits = signals.exits.to_numpy(dtype=bool)
    stop = stop_distances(bars, signals, settings, n_sets)
    target = target_distances(bars, settings, stop, n_sets)
    decision_price = close
    if settings.execution == "next_open":
        entries, exits, stop, target, decision_price = (
            _next_bar(a, fill)
            for a, fill in (
                (entries, False), (exits, False), (stop, np.nan), (target, np.nan),
                (close, np.nan),
            )
        )  # fmt: skip
    entries = entries & ~exits
    flat_at, no_entry = _flat_by_close(bars, settings)
    no_entry = no_entry | _refused_overnight(bars, settings)
    entries &= ~no_entry[:, None]

    present = ~np.isnan(close)
    # A missing open (or high/low) on a bar that has a close: trade at what is known.
    open_ = np.where(
        present & np.isnan(bars.open.to_numpy(dtype=float)), close, bars.open.to_numpy(dtype=float)
    )
    high = np.fmax(bars.high.to_numpy(dtype=float), np.fmax(open_, close))
    low = np.fmin(bars.low.to_numpy(dtype=float), np.fmin(open_, close))
    return Orders(
        index=bars.index,
        columns=signals.entries.columns,
        entries=np.asfortranarray(entries),
        exits=np.asfortranarray(exits),
        stop_distance=np.asfortranarray(stop),
        target_distance=np.asfortranarray(target),
        open=np.asfortranarray(open_),
        high=np.asfortranarray(high),
        low=np.asfortranarray(low),
        close=np.asfortranarray(close),
        decision_price=np.asfortranarray(decision_price),
        n_sets=n_sets,
        session=np.cumsum(bars.session_start) - 1,
        year=year_of(bars),
        flat_at=flat_at,
        no_entry=no_entry,
    )


def _flat_by_close(bars: Bars, settings: BacktestSettings) -> tuple[np.ndarray, np.ndarray]:
    """(the bars the book sells out at the close of, the bars no entry fills on), per bar."""
    if not settings.flat_by_close:
        none = np.zeros(len(bars), dtype=bool)
        return none, none
    flat_at, barred = flat_bars(bars, settings.flat_minutes_before_close)
    if settings.execution == "close":
        barred = barred | flat_at  # bought at the close it must be flat by: held overnight
    return flat_at, barred


def _refused_overnight(bars: Bars, settings: BacktestSettings) -> np.ndarray:
    """True on the bars whose entries were signalled on the session before's last bar and
    are refused (intraday, ``next_open``, ``last_bar_entries: refuse``), per bar."""
    refused = np.zeros(len(bars), dtype=bool)
    overnight = bars.is_intraday and settings.execution == "next_open"
    if overnight and settings.last_bar_entries == "refuse":
        refused[1:] = bars.session_start[1:]
    return refused


def _next_bar(values: np.ndarray, fill) -> np.ndarray:
    shifted = np.empty_like(values)
    shifted[0] = fill
    shifted[1:] = values[:-1]
    return shifted


def _check_prices(bars: Bars, close: np.ndarray) -> None:
    bad = (close <= 0) | np.isinf(close)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(
            f"{bars.symbols[col]} has a close of {close[row, col]} on "
            f"{bars.index[row].date()}; prices must be positive",
            hint="re-ingest the symbol and check it with the data quality report",
        )


@dataclass
class Simulation:
    """What the order loop did: fills, each book's equity, and vectorbt's view of it on demand.

    A book is a set of columns traded together (see :func:`simulate`); ``equity`` and
    ``invested`` have one column per book.
    """

    orders: Orders
    settings: BacktestSettings
    records: np.ndarray
    reasons: np.ndarray
    equity: pd.DataFrame
    invested: np.ndarray
    book_of_col: np.ndarray
    init_cash: np.ndarray
    cash_sharing: bool
    #: The ladder leg of each record (0: the first; without a ladder every record's).
    legs: np.ndarray
    group_by: object = None
    _portfolio: vbt.Portfolio | None = None

    @property
    def n_books(self) -> int:
        return self.equity.shape[1]

    def portfolio(self) -> vbt.Portfolio:
        """The vectorbt Portfolio of these fills (built on first use): trades, plots, stats."""
        if self._portfolio is None:
            # Imported here, the one place a Portfolio is built: vectorbt (with plotly and
            # jsonschema behind it) takes seconds to import, and figures do not need it.
            import vectorbt as vbt
            from vectorbt.base.array_wrapper import ArrayWrapper
            from vectorbt.portfolio.enums import log_dt

            wrapper = ArrayWrapper(
                index=self.orders.index,
                columns=self.orders.columns,
                ndim=2,
                freq=self.settings.freq,
                group_by=self.group_by,
            )
            # Valuation only: a symbol's value before it lists is 0 shares x its first price.
            marks = pd.DataFrame(self.orders.close).ffill().bfill().to_numpy()
            close = np.tile(marks, (1, self.orders.n_sets))
            self._portfolio = vbt.Portfolio(
                wrapper,
                close,
                self.records,
                np.empty(0, dtype=log_dt),
                self.init_cash,
                self.cash_sharing,
            )
        return self._portfolio

    def trades(self) -> dict[str, np.ndarray]:
        """Every trade as flat arrays: col, book, entry/exit bar, size, prices, fees, pnl, closed.

        Orders of a column's leg alternate buy, sell (each exit sells the whole leg), so a
        buy and the sell after it are one trade (with a ladder, each leg is a trade:
        ``leg``); a last buy without a sell is a trade still open, marked at the symbol's
        last close like vectorbt marks it.
        """
        order = np.lexsort((self.records["id"], self.legs, self.records["col"]))
        records, legs = self.records[order], self.legs[order]
        buys = np.flatnonzero(records["side"] == 0)
        follows = buys + 1
        has_sell = follows < len(records)
        has_sell[has_sell] = (
            (records["col"][follows[has_sell]] == records["col"][buys[has_sell]])
            & (legs[follows[has_sell]] == legs[buys[has_sell]])
            & (records["side"][follows[has_sell]] == 1)
        )
        entry = records[buys]
        exit_ = records[np.where(has_sell, follows, buys)]
        n_symbols = self.orders.n_symbols
        last_mark = pd.DataFrame(self.orders.close).ffill().to_numpy()[-1]
        mark = last_mark[entry["col"] % n_symbols]
        exit_price = np.where(has_sell, exit_["price"], mark)
        exit_fees = np.where(has_sell, exit_["fees"], 0.0)
        pnl = entry["size"] * (exit_price - entry["price"]) - entry["fees"] - exit_fees
        return {
            "col": entry["col"],
            "leg": legs[buys].astype(np.int64),
            "book": self.book_of_col[entry["col"]],
            "entry_idx": entry["idx"],
            "exit_idx": np.where(has_sell, exit_["idx"], len(self.orders.index) - 1),
            "size": entry["size"],
            "entry_price": entry["price"],
            "exit_price": exit_price,
            "fees": entry["fees"] + exit_fees,
            "pnl": pnl,
            "closed": has_sell,
            # Records are numbered in the order the loop wrote them, as are their reasons.
            "exit_reason": np.where(has_sell, self.reasons[exit_["id"]], -1),
        }


def simulate(
    orders: Orders,
    settings: BacktestSettings,
    *,
    books: str,
    book_labels: pd.Index | None = None,
    close_at_end: bool = False,
) -> Simulation:
    """The fills of trading ``orders`` under ``settings``, book by book.

    ``books`` says which columns share a book: ``"one"`` (all columns: one strategy over
    the universe), ``"per_set"`` (each parameter set's block of symbols) or
    ``"per_column"`` (every symbol of every set alone). A book shares one cash pool and
    ``max_positions`` when ``settings.cash_sharing``; otherwise each of its symbols gets an
    equal slice of ``init_cash``. ``close_at_end`` sells what is still held at the last
    close, costs included (a walk-forward test window ends flat).
    """
    n_cols = orders.entries.shape[1]
    n_symbols = orders.n_symbols
    book_size = {"one": n_cols, "per_set": n_symbols, "per_column": 1}[books]
    n_books = n_cols // book_size
    book_of_col = np.repeat(np.arange(n_books), book_size)
    shared = settings.cash_sharing and book_size > 1
    if shared:
        group_lens = np.full(n_books, book_size, dtype=np.int64)
        init_cash = np.full(n_books, settings.init_cash)
    else:
        group_lens = np.ones(n_cols, dtype=np.int64)
        init_cash = np.full(n_cols, settings.init_cash / book_size)

    sym_of_col = np.tile(np.arange(n_symbols, dtype=np.int64), orders.n_sets)
    n_legs = 1 + len(settings.ladder)
    # An entry, then at most one exit, for each leg.
    max_orders = 2 * n_legs * int(orders.entries.sum()) + 1
    prices = (orders.open, orders.high, orders.low, orders.close, orders.decision_price, sym_of_col)
    records, reasons, legs, equity, invested = order_loop(orders.entries.size)(
        *prices, orders.entries, orders.exits, orders.stop_distance, orders.target_distance,
        group_lens, init_cash, Terms.of(settings), orders.flat_at, orders.no_entry,
        close_at_end, max_orders, *ladder_terms(settings),
    )  # fmt: skip
    if not shared and book_size > 1:  # one loop group per column: add them up per book
        starts = np.arange(0, n_cols, book_size)
        equity = np.add.reduceat(equity, starts, axis=1)
        invested = np.add.reduceat(invested, starts, axis=1)
    if book_labels is None:
        book_labels = orders.columns if books == "per_column" else pd.RangeIndex(n_books)
    return Simulation(
        orders=orders,
        settings=settings,
        records=records,
        reasons=reasons,
        equity=pd.DataFrame(equity, index=orders.index, columns=book_labels),
        invested=invested,
        book_of_col=book_of_col,
        init_cash=init_cash,
        cash_sharing=shared,
        group_by=None if books == "per_column" else book_of_col,
        legs=legs,
    )
