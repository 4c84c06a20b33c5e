"""The paper broker's books in the store: reads, bulk writes and row conversions.

Every function takes the caller's connection, so a whole submit or bar runs in one
transaction. Writes are set-based (one statement per table, whatever the number of
orders) because a step of the live loop may place or fill hundreds at once.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import pandas as pd

from engine.brokers.base import Fill, Order, OrderStatus, OrderType, Position, Side, TimeInForce
from engine.brokers.corporate_actions import split_order_qty, split_price
from engine.brokers.paper_rules import Costs, positions_from_fills, reserve_for
from engine.data import calendar
from engine.data.bars import Bars
from engine.errors import InputError
from engine.store.db import StaleStep, path_lock, step_on
from engine.store.writing import insert_rows, update_rows

T = TypeVar("T")

OPEN = [s.value for s in (OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)]
ORDER_COLUMNS = [
    "id", "client_order_id", "symbol", "side", "qty", "type", "time_in_force", "status",
    "filled_qty", "filled_avg_price", "limit_price", "stop_price", "submitted_at", "updated_at",
    "take_profit_price",
]  # fmt: skip
FILL_COLUMNS = [
    "id", "order_id", "client_order_id", "symbol", "side", "qty", "price", "fee", "filled_at",
]  # fmt: skip
#: The columns of orders and fills the store keeps as an enum's value.
_ENUM_COLUMNS = {
    "side": Side, "type": OrderType, "time_in_force": TimeInForce, "status": OrderStatus,
}  # fmt: skip
_RACE_RETRIES = 12


# -- taking turns ----------------------------------------------------------------------


def store_lock(path: Path) -> threading.RLock:
    """One lock per store file, shared by every paper broker of this process: the store's
    own (:func:`engine.store.db.path_lock`).

    DuckDB fails rather than waits when threads of one process open and close the same
    file at once, so paper brokers take turns here; other processes are kept apart by
    the store's file lock and by the unique constraints. The store's lock, not one of
    their own: a step's transaction (:meth:`engine.store.Store.step`) holds it from start
    to end, and a second lock taken in the other order by another thread would deadlock.
    """
    return path_lock(Path(path).resolve())


@contextmanager
def reading(store, lock: threading.RLock) -> Iterator[duckdb.DuckDBPyConnection]:
    with lock, store.connect() as con:
        yield con


def writing(store, lock: threading.RLock, work: Callable[..., T], *args) -> T:
    """``store.transaction(work, *args)``, run again whenever another writer won a race.

    Two writers inserting the same client order id (or filling the same order) at once:
    the database fails one on its unique constraint, at insert while the other is still
    open, or at commit. Run again once the winner has committed, the loser reads the
    winner's rows and returns them, which is exactly what its caller asked for. Inside a
    store's step (:meth:`engine.store.Store.step`) the race lost the step's transaction
    whole: :class:`~engine.store.db.StaleStep` asks for the step again.
    """
    for attempt in range(_RACE_RETRIES):
        try:
            with lock:
                return store.transaction(work, *args)
        except duckdb.Error as exc:
            if not _lost_a_race(exc):
                raise
            if store.in_step:  # the step's whole transaction is lost, not only this write
                raise StaleStep from exc
            if attempt == _RACE_RETRIES - 1:
                raise
            # The winner's transaction is short: give it time to commit.
            time.sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 6)))
    raise AssertionError("unreachable")


def _lost_a_race(exc: BaseException | None) -> bool:
    """True when ``exc`` (or an error it arose from) is a unique-constraint violation."""
    while exc is not None:
        if isinstance(exc, duckdb.ConstraintException) or "constraint violation" in str(exc):
            return True
        exc = exc.__context__
    return False


# -- reads -----------------------------------------------------------------------------


def _select(
    con,
    table: str,
    columns: Sequence[str],
    account: str,
    where: Sequence[tuple[str, Any]],
    order_by: str,
) -> list[tuple]:
    """The rows of ``account`` in ``table`` that meet every ``(condition, value)`` of ``where``.

    A condition whose value is None is left out: that filter was not asked for.
    """
    if table == "paper_orders":
        write_waiting_orders(con)  # in a step: the orders as the step changed them
    where = [(condition, value) for condition, value in where if value is not None]
    conditions = "".join(f" AND {condition}" for condition, _ in where)
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE account = ?{conditions}"
    params = [account, *(value for _, value in where)]
    return con.execute(f"{sql} ORDER BY {order_by}", params).fetchall()


def find_order(con, account: str, key: str, value: str) -> Order | None:
    row = _select(con, "paper_orders", ORDER_COLUMNS, account, [(f"{key} = ?", value)], "seq")
    return order_from_row(row[0]) if row else None


def orders(
    con, account: str, status: str, *, after: datetime | None = None
) -> list[Order]:
    """Orders newest first: ``status`` "open", "closed" or "all"; with ``after``, placed after it."""
    in_or_not = "IN" if status == "open" else "NOT IN"
    statuses = None if status == "all" else OPEN
    where = [(f"status {in_or_not} (SELECT unnest(?))", statuses), ("submitted_at > ?", after)]
    rows = _select(con, "paper_orders", ORDER_COLUMNS, account, where, "seq DESC")
    return [order_from_row(row) for row in rows]


def fills(
    con, account: str, *, order_id: str | None = None, after: datetime | None = None
) -> list[Fill]:
    """Executions in time order, optionally of one order or after a time."""
    where = [("order_id = ?", order_id), ("filled_at > ?", after)]
    rows = _select(con, "paper_fills", FILL_COLUMNS, account, where, "seq")
    return [fill_from_row(row) for row in rows]


def orders_by_client_id(con, account: str, client_order_ids: list[str]) -> dict[str, Order]:
    where = [("client_order_id IN (SELECT unnest(?))", client_order_ids)]
    rows = _select(con, "paper_orders", ORDER_COLUMNS, account, where, "seq")
    return {o.client_order_id: o for o in map(order_from_row, rows)}


def has_account(con, account: str) -> bool:
    """True when the paper account ``account`` was ever opened."""
    rows = con.execute("SELECT 1 FROM paper_accounts WHERE account = ?", [account]).fetchall()
    return bool(rows)


# Each fill and each corporate-action adjustment as (symbol, signed shares, cash flow): a
# split adds the shares it made (less any fraction paid out), a dividend or cash in lieu
# only cash.
_MOVES = (
    "SELECT symbol, CASE WHEN side = 'buy' THEN qty ELSE -qty END AS shares,"
    " CASE WHEN side = 'sell' THEN qty * price ELSE -qty * price END - fee AS flow"
    " FROM paper_fills WHERE account = $account"
    " UNION ALL SELECT symbol, qty_after - qty_before, cash FROM paper_adjustments"
    " WHERE account = $account"
)


def cash(con, account: str, starting_cash: float) -> float:
    """Starting cash, less what buys cost, plus what sells brought, less every fee, plus
    dividends and cash in lieu of fractional shares."""
    flow = con.execute(
        f"SELECT coalesce(sum(flow), 0) FROM ({_MOVES})", {"account": account}
    ).fetchall()[0][0]
    return starting_cash + float(flow)


def marks(con, account: str) -> dict[str, float]:
    """The last close seen per symbol (kept in the account's row, see migration 0021)."""
    rows = con.execute("SELECT marks FROM paper_accounts WHERE account = ?", [account]).fetchall()
    return json.loads(rows[0][0]) if rows and rows[0][0] else {}


def signed_fills(con, account: str) -> list[tuple[str, float, float, float]]:
    """(symbol, signed qty, price, split ratio) of every fill and split in time order
    (see :func:`~engine.brokers.paper_rules.positions_from_fills`)."""
    rows = con.execute(
        "SELECT symbol, CASE WHEN side = 'buy' THEN qty ELSE -qty END, price, 1.0, seq"
        " FROM paper_fills WHERE account = $account UNION ALL SELECT symbol,"
        " qty_after - qty_before * ratio, coalesce(price, 0), ratio, seq FROM paper_adjustments"
        " WHERE account = $account AND kind = 'split' ORDER BY seq",
        {"account": account},
    ).fetchall()
    return [row[:4] for row in rows]


def rebase_orders(
    con, orders: list[tuple[Order, float | None]], ratio: float, tick
) -> list[dict[str, Any]]:
    """Re-bases these open orders (each with its attached stop-loss price) for a
    ``ratio``-for-1 split; gives what changed, by order.

    ``tick(price)`` is the increment a price is put on. Prices move by the rounding that
    is never worse for the order's owner (:func:`~engine.brokers.base.on_tick`'s rule).
    """
    changed = []
    for order, stop_loss in orders:
        buy = order.side == Side.BUY

        def moved(price, up):
            return split_price(price, ratio, tick(price / ratio) if price else None, up=up)

        new = {
            "qty": split_order_qty(order.qty, ratio),
            "limit_price": moved(order.limit_price, up=not buy),
            "stop_price": moved(order.stop_price, up=buy),
            "take_profit_price": moved(order.take_profit_price, up=True),
            "stop_loss_price": moved(stop_loss, up=False),
        }
        write_waiting_orders(con)  # in a step: its status changes before this one
        con.execute(
            "UPDATE paper_orders SET qty = ?, limit_price = ?, stop_price = ?, take_profit_price = ?,"
            " stop_loss_price = ? WHERE id = ?",
            [*new.values(), order.id],
        )
        changed.append({"order_id": order.id, "client_order_id": order.client_order_id,
                        **{k: v for k, v in new.items() if v is not None}})  # fmt: skip
    return changed


def positions(con, account: str, prices: dict[str, float] | None = None) -> list[Position]:
    """Open positions from the fills, each marked at its last close (its average cost before
    any); ``prices``: the account's marks, when the caller read them already."""
    prices = marks(con, account) if prices is None else prices
    return marked_positions(positions_from_fills(signed_fills(con, account)), prices)


def marked_positions(book: dict[str, tuple[float, float]], prices: dict[str, float]) -> list[Position]:
    """The positions of ``book`` (``{symbol: (qty, avg cost)}``) by symbol, each marked at its
    last close in ``prices`` (its average cost before any)."""
    held = []
    for symbol, (qty, avg) in sorted(book.items()):
        mark = prices.get(symbol)
        valued_at = avg if mark is None else mark
        held.append(
            Position(
                symbol=symbol,
                qty=qty,
                avg_entry_price=avg,
                market_price=mark,
                market_value=qty * valued_at,
                unrealized_pl=(valued_at - avg) * qty,
            )
        )
    return held


def reserved_cash(open_: Sequence[Order], prices: dict[str, float], costs: Costs) -> float:
    """Cash that open buy orders will need, at their limit, stop or the last close."""
    return sum(
        reserve_for(o.remaining_qty, o.limit_price or o.stop_price or prices.get(o.symbol), costs)
        for o in open_
        if o.side == Side.BUY
    )


# -- writes ----------------------------------------------------------------------------


#: The key of a step's order writes waiting for its end (:meth:`engine.store.db.Step.waiting`).
_WAITING = "paper_orders"


@dataclass
class _OrderWrites:
    """A step's writes of ``paper_orders`` that wait: rows to insert (orders a bar's fills
    attached), then status changes by order id (the last change of an order wins)."""

    new: list[dict[str, Any]]
    status: dict[str, dict[str, Any]]

    def write(self, con) -> None:
        if self.new:  # first: a status change may be of one of them
            insert_rows(con, "paper_orders", self.new)
        if self.status:
            update_rows(con, "paper_orders", list(self.status.values()), ["id"])


def _waiting(con) -> _OrderWrites | None:
    """The order writes waiting in the store's step ``con`` is the transaction of (None:
    ``con`` is no step's; the caller writes now)."""
    step = step_on(con)
    if step is None:
        return None
    return step.waiting(_WAITING, lambda: _OrderWrites([], {}), lambda c, w: w.write(c))


def insert_orders(con, rows: list[dict[str, Any]], *, wait: bool = False) -> None:
    """Inserts orders (:func:`order_row`'s dicts), after those waiting in the store's step, in
    one statement. ``wait``: in a step, they wait instead (for its next insert of orders or
    its end): a bar's attached stops go in with the orders the step then submits, one
    statement where there were two (about a millisecond each)."""
    waiting = _waiting(con)
    if waiting is not None:
        if wait:
            waiting.new.extend(rows)
            return
        rows, waiting.new = [*waiting.new, *rows], []
    insert_rows(con, "paper_orders", rows)


def set_status(con, updates: list[dict[str, Any]]) -> None:
    """Update orders' status, filled qty, average price and time from dicts keyed by ``id``
    (each with all four); in a store's step, at its end (:func:`status_waits`)."""
    if not status_waits(con, updates):
        update_rows(con, "paper_orders", updates, ["id"])


def status_waits(con, updates: list[dict[str, Any]]) -> bool:
    """True when ``con`` is a store's step's transaction: the orders' status changes
    (:func:`set_status`'s dicts) then wait for its end, with every other piece of work's
    (the bar's fills, the cancels): one statement a step, not one a piece of work, the last
    change of an order winning. Every other statement on the orders in the step writes them
    first (:func:`write_waiting_orders`: the reads here and in ``_paper_memory``, a
    snapshot's, a split's re-basing), so that it finds the orders as they are. False
    outside a step: the caller writes them now."""
    waiting = _waiting(con)
    if waiting is None:
        return False
    waiting.status.update((update["id"], update) for update in updates)
    return True


def write_waiting_orders(con) -> None:
    """Writes the order inserts and status changes waiting in the store's step ``con`` is the
    transaction of: before any other statement on ``paper_orders`` in it (a new one must
    call this)."""
    step = step_on(con)
    if step is not None:
        step.write_waiting(_WAITING)


def status_row(order: Order) -> dict[str, Any]:
    """The :func:`set_status` dict of ``order`` as it is now."""
    return {"id": order.id, "status": order.status.value, "filled_qty": order.filled_qty,
            "filled_avg_price": order.filled_avg_price, "updated_at": order.updated_at}  # fmt: skip


# -- rows and frames -------------------------------------------------------------------


def order_from_row(row) -> Order:
    """The order a ``paper_orders`` row read as :data:`ORDER_COLUMNS` holds."""
    return Order(**_record_fields(ORDER_COLUMNS, row))


def order_row(
    order: Order,
    account: str,
    after_bar: date | None,
    *,
    after_bar_at: datetime | None = None,
    stop_loss_price: float | None = None,
    parent_id: str | None = None,
) -> dict[str, Any]:
    return {
        **_stored_fields(order, ORDER_COLUMNS),
        "account": account,
        "after_bar": after_bar,
        "after_bar_at": after_bar_at,
        "stop_loss_price": stop_loss_price,
        "parent_id": parent_id,
    }


def fill_from_row(row) -> Fill:
    """The fill a ``paper_fills`` row read as :data:`FILL_COLUMNS` holds."""
    return Fill(**_record_fields(FILL_COLUMNS, row))


def fill_row(fill: Fill, account: str, day: date) -> dict[str, Any]:
    return {**_stored_fields(fill, FILL_COLUMNS), "account": account, "bar_date": day}


def _record_fields(columns: Sequence[str], row) -> dict[str, Any]:
    """A row's values by column, an enum's stored value read back as its member."""
    values = dict(zip(columns, row, strict=True))
    for column, enum in _ENUM_COLUMNS.items():
        if column in values:
            values[column] = enum(values[column])
    return values


def _stored_fields(record: Order | Fill, columns: Sequence[str]) -> dict[str, Any]:
    """A record's fields by column, an enum member as the value the store keeps."""
    values = {column: getattr(record, column) for column in columns}
    for column in _ENUM_COLUMNS:
        if column in values:
            values[column] = values[column].value
    return values


@dataclass(frozen=True)
class BarPrices:
    """One bar's prices as traded, by symbol: open, high, low and close (NaN: none)."""

    symbols: tuple[str, ...]
    prices: np.ndarray  # one row per symbol: open, high, low, close

    def quotes(self, symbols: Iterable[str]) -> dict[str, dict[str, float]]:
        """Open, high and low of each of ``symbols`` the bar names (the prices its orders
        fill at)."""
        wanted = set(symbols)
        return {
            symbol: {"open": o, "high": h, "low": lo}
            for symbol, (o, h, lo, _) in zip(self.symbols, self.prices.tolist(), strict=True)
            if symbol in wanted
        }

    def closes(self) -> dict[str, float]:
        """The close of each symbol that has one (the account's marks)."""
        close = self.prices[:, 3]
        return {s: c for s, c, ok in zip(self.symbols, close.tolist(), ~np.isnan(close),
                                            strict=True) if ok}  # fmt: skip


_PRICES = ("open", "high", "low", "close")


def bar_prices(day: pd.Timestamp, bars: Bars | pd.DataFrame) -> BarPrices:
    """The prices of ``day``'s bar: from :class:`~engine.data.bars.Bars` holding it, or a
    frame indexed by symbol with open, high, low and close."""
    if isinstance(bars, Bars):
        if day not in bars.index:
            raise InputError(
                f"the bars given have no row for {day.date()}",
                hint=f"they run from {bars.index[0].date()} to {bars.index[-1].date()}",
            )
        row = bars.index.get_loc(day)  # the row of each field's frame, read as numpy
        prices = np.column_stack([getattr(bars, f).to_numpy(dtype=float)[row] for f in _PRICES])
        # tolist() first: iterating an Arrow-backed index is a Python call per symbol.
        return BarPrices(tuple(map(str, bars.close.columns.tolist())), prices)
    if not isinstance(bars, pd.DataFrame):
        raise InputError("process_bar takes Bars or a DataFrame of one day's bars by symbol")
    frame = bars.set_index("symbol") if "symbol" in bars.columns else bars
    missing = [f for f in _PRICES if f not in frame.columns]
    if missing:
        raise InputError(
            f"the bars for {day.date()} lack {', '.join(missing)}",
            hint="pass a frame indexed by symbol with open, high, low and close",
        )
    if frame.index.has_duplicates:
        raise InputError(f"the bars for {day.date()} name a symbol twice")
    return BarPrices(tuple(map(str, frame.index.tolist())), frame[list(_PRICES)].to_numpy(dtype=float))


def session_open(day: date) -> datetime:
    """The session's open in naive UTC (midnight when the calendar has no session then)."""
    # One schedule per year (cached by the calendar): a replay over years stays quick.
    sessions = calendar.schedule(date(day.year, 1, 1), date(day.year, 12, 31))
    when = pd.Timestamp(day)
    if when in sessions.index:
        return naive_utc(sessions.at[when, "market_open"])
    return datetime(day.year, day.month, day.day)


def naive_utc(ts) -> datetime:
    ts = pd.Timestamp(ts)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.tz_localize(None).to_pydatetime()
