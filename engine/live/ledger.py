"""The live loop's ledger: its books in the store, read once at the start of a step, written once at its end.

Tables (migrations 0004 and 0006): ``live_orders`` (every order the loop sent, with what
the broker last said of it), ``live_positions`` (each open position's owner and stop),
``live_books`` (each book's last reconciled cash and bar) and the equity and position
snapshots the control room draws; the step also writes the controls that outlive a loop
(:mod:`engine.live.controls`) and its heartbeat (:mod:`engine.live.heartbeat`) in its
transaction. Everyone else reads these books through :mod:`engine.live.book_queries`. A book is one broker account, named ``paper:<account>``, ``alpaca:paper`` or
``alpaca:live``; several loops over time (restarts) carry on the same book.

Every write of a step is one transaction with its events, so the audit trail and the
books never disagree, and a crash before it leaves the step to be repeated whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from engine.brokers.paper_rules import positions_from_fills
from engine.data.corporate_actions import DIVIDEND, CorporateAction
from engine.live import approvals
from engine.live.adjustments import Adjustment
from engine.live.controls import (  # the step writes controls and beats in its transaction
    Controls,
    read_controls,  # noqa: F401
    set_control,  # noqa: F401
    stored_control,  # noqa: F401
    stored_values,
)
from engine.live.decisions import Ladder
from engine.live.heartbeat import beat  # noqa: F401
from engine.live.records import LiveOrder, LivePosition
from engine.risk import EquityMark, RealisedSale

# The step writes its events with its books, in one transaction (ledger.append_events).
from engine.store.events import append_events  # noqa: F401
from engine.store.writing import insert_rows, update_else_insert, upsert_rows

ORDER_FIELDS = [f.name for f in fields(LiveOrder)]
POSITION_FIELDS = [f.name for f in fields(LivePosition)]
#: How far back the gate looks at the loop's own orders (the throttle, duplicate guard).
RECENT_ORDERS = timedelta(minutes=15)


@dataclass(frozen=True)
class BookRow:
    """What the loop last recorded of a book."""

    cash: float
    equity: float
    bar_date: date | None
    configs: dict[str, float]
    updated_at: datetime
    bar_at: datetime | None = None  # an intraday loop's last bar stepped: its close, UTC


#: How long after its ex-date a dividend may still be paid (pay dates come weeks later).
DIVIDENDS_DUE = timedelta(days=90)

@dataclass(frozen=True)
class Records:
    """Everything a step reads from the store, read in one go."""

    controls: Controls
    tracked: dict[str, LiveOrder]  # open orders by client order id
    positions: dict[str, LivePosition]
    flows: dict[str | None, float]  # config id -> what its fills did to cash
    book: BookRow | None
    statuses: dict[str, str]  # config id -> registry status
    marks: tuple[EquityMark, ...]
    day_trades: tuple[date, ...]
    sales: tuple[RealisedSale, ...]
    recent: tuple[LiveOrder, ...]
    #: (symbol, kind, ex-date) of the corporate actions the book has taken in.
    adjusted: frozenset[tuple[str, str, date]] = frozenset()
    #: The dividends it took in over the last DIVIDENDS_DUE (a broker may pay them since).
    dividends: tuple[Adjustment, ...] = ()
    #: Client order ids of approved proposals whose sending is not recorded yet (their
    #: command is applied again after a restart, and records what it sent).
    in_flight: frozenset[str] = frozenset()
    #: The soonest expiry of the proposals still waiting for a trader (None: none waits).
    waiting_until: datetime | None = None

    def proposals_due(self, now: datetime) -> bool:
        """True when a proposal waiting for a trader has expired by ``now`` (only the loop
        proposes, so none can have come since this read)."""
        return self.waiting_until is not None and self.waiting_until <= now


def read_records(
    store, book: str, config_ids: list[str], now: datetime, *, marks: bool = True
) -> Records:
    """The loop's books for ``book`` as a step starts (one connection, a few small queries).

    ``marks`` False leaves out the equity marks (a gate without drawdown rules needs none).
    """
    order_columns = ", ".join(ORDER_FIELDS)
    with store.connect() as con:
        values = stored_values(con.execute("SELECT key, value FROM trading_state").fetchall())
        # Open orders, and those that filled or were sent lately (day trades, wash sales,
        # the throttle): never the whole history.
        orders = con.execute(
            f"SELECT {order_columns} FROM live_orders WHERE book = ? AND (status = 'open'"
            " OR (filled_qty > 0 AND filled_at >= ?) OR created_at >= ?)",
            [book, now - timedelta(days=31), now - RECENT_ORDERS],
        ).fetchall()
        # What fills, dividends and cash in lieu did to each config's cash.
        flows = con.execute(
            "SELECT config_id, sum(flow) FROM (SELECT config_id, CASE WHEN side = 'sell'"
            " THEN filled_qty * filled_avg_price ELSE -filled_qty * filled_avg_price END - fees"
            " AS flow FROM live_orders WHERE book = $book AND filled_qty > 0 UNION ALL"
            " SELECT config_id, cash FROM live_adjustments WHERE book = $book) GROUP BY config_id",
            {"book": book},
        ).fetchall()
        adjusted = con.execute(
            "SELECT symbol, kind, ex_date, config_id, amount, qty_before, cash,"
            " ex_date >= ? AS due FROM live_adjustments WHERE book = ? ORDER BY ex_date",
            [(now - DIVIDENDS_DUE).date(), book],
        ).fetchall()
        held = con.execute(
            f"SELECT {', '.join(POSITION_FIELDS)} FROM live_positions WHERE book = ?", [book]
        ).fetchall()
        row = con.execute(
            "SELECT cash, equity, bar_date, configs, updated_at, bar_at FROM live_books"
            " WHERE book = ?",
            [book],
        ).fetchall()
        statuses = dict(
            con.execute(
                "SELECT config_id, status FROM configs WHERE config_id IN (SELECT unnest(?))",
                [list(config_ids)],
            ).fetchall()
            if config_ids
            else []
        )
        in_flight, waiting_until = approvals.open_proposals(con, book)
        marks = (
            con.execute(
                "SELECT s.ts, s.equity FROM equity_snapshots s JOIN heartbeats h USING (loop_id)"
                " WHERE h.book = ? AND s.ts <= ? AND s.ts >= ? ORDER BY s.ts DESC LIMIT 40",
                [book, now, now - timedelta(days=20)],
            ).fetchall()
            if marks
            else []
        )
    live = [_order(dict(zip(ORDER_FIELDS, r, strict=True))) for r in orders]
    return Records(
        controls=Controls.from_values(values),
        tracked={o.client_order_id: o for o in live if o.is_open},
        positions={
            p.symbol: p
            for p in (_position(dict(zip(POSITION_FIELDS, r, strict=True))) for r in held)
        },
        flows={config_id: float(flow) for config_id, flow in flows},
        book=BookRow(*row[0][:3], json.loads(row[0][3]), *row[0][4:])
        if row
        else None,
        statuses=statuses,
        marks=tuple(EquityMark(ts, equity) for ts, equity in marks),
        day_trades=_day_trades(live, now),
        sales=tuple(
            RealisedSale(o.symbol, o.filled_at, o.filled_qty, o.realised_pnl)
            for o in live
            if o.side == "sell"
            and o.realised_pnl is not None
            and o.filled_at is not None
            and o.filled_at >= now - timedelta(days=31)
        ),
        recent=tuple(
            o for o in live if o.created_at is not None and o.created_at >= now - RECENT_ORDERS
        ),
        adjusted=frozenset((s, k, d) for s, k, d, *_ in adjusted),
        dividends=tuple(
            Adjustment(CorporateAction(s, d, k, amount=a), c, q, q, cash)
            for s, k, d, c, a, q, cash, due in adjusted
            if due and k == DIVIDEND
        ),
        in_flight=in_flight,
        waiting_until=waiting_until,
    )


def _clean(value):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _order(row: dict) -> LiveOrder:
    data = {k: _clean(v) for k, v in row.items()}
    data["fees"] = data["fees"] or 0.0
    data["filled_qty"] = data["filled_qty"] or 0.0
    return LiveOrder(**data)


def _position(row: dict) -> LivePosition:
    data = {k: _clean(v) for k, v in row.items()}
    for name in ("stop_fraction", "stop_anchor"):
        data[name] = math.nan if data[name] is None else float(data[name])
    data["trails"] = bool(data["trails"])
    data["ladder"] = Ladder.from_json(data["ladder"]) if data["ladder"] else None
    return LivePosition(**data)


def _day_trades(orders: Iterable[LiveOrder], now: datetime) -> tuple[date, ...]:
    """One date per symbol and day on which the loop both bought and sold it (last 10 days)."""
    since = now - timedelta(days=10)
    sides: dict[tuple[str, date], set[str]] = {}
    for order in orders:
        if order.filled_qty > 0 and order.filled_at is not None and order.filled_at >= since:
            sides.setdefault((order.symbol, order.filled_at.date()), set()).add(order.side)
    return tuple(sorted(day for (_, day), seen in sides.items() if len(seen) == 2))


def known_orders(store, book: str, client_order_ids: list[str]) -> set[str]:
    """Which of these client order ids the loop has recorded already (any status)."""
    if not client_order_ids:
        return set()
    rows = store.query(
        "SELECT client_order_id FROM live_orders WHERE book = ?"
        " AND client_order_id IN (SELECT unnest(?))",
        [book, client_order_ids],
    )
    return set(rows["client_order_id"])


# -- writes (inside the caller's transaction) ------------------------------------------


def save_orders(con, book: str, orders: Iterable[LiveOrder], now: datetime) -> None:
    """Insert or update the loop's records of these orders."""
    rows = {o.client_order_id: _order_row(o, book, now) for o in orders}
    upsert_rows(con, "live_orders", list(rows.values()), ["book", "client_order_id"])


def save_adjustments(con, book: str, adjustments: Iterable, now: datetime) -> None:
    """Records the corporate actions the book took in (:class:`engine.live.adjustments.Adjustment`),
    each once: one already recorded stays as it was."""
    rows = [[book, *a.row().values(), now] for a in adjustments]
    if rows:
        con.executemany(
            "INSERT INTO live_adjustments (book, symbol, kind, ex_date, config_id, ratio, amount,"
            " qty_before, qty_after, cash, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            rows,
        )


def save_positions(
    con,
    book: str,
    positions: Iterable[LivePosition],
    closed: Iterable[str],
    now: datetime,
    *,
    before: dict[str, LivePosition] | None = None,
) -> None:
    """The book's open positions after a step: these upserted, ``closed`` removed.

    Positions equal to their record in ``before`` are left as they are.
    """
    before = before or {}
    positions = [p for p in positions if before.get(p.symbol) != p]
    closed = list(closed)
    if closed:
        con.execute(
            "DELETE FROM live_positions WHERE book = ? AND symbol IN (SELECT unnest(?))",
            [book, closed],
        )
    rows = [
        {
            **{f: _stored(getattr(p, f)) for f in POSITION_FIELDS},
            "book": book,
            "updated_at": now,
        }
        for p in positions
    ]
    upsert_rows(con, "live_positions", rows, ["book", "symbol"])


def save_book(
    con, book: str, *, mode: str, broker: str, configs: dict[str, float], cash: float,
    equity: float, bar: date | None, now: datetime, buying_power: float | None = None,
    bar_at: datetime | None = None,
) -> None:  # fmt: skip
    """The book after a step (``bar`` its session; ``bar_at`` an intraday bar's close, UTC)."""
    configs_json = json.dumps(configs)
    update_else_insert(
        con,
        (
            "UPDATE live_books SET mode = ?, broker = ?, configs = ?, cash = ?, equity = ?,"
            " bar_date = coalesce(?, bar_date), bar_at = coalesce(?, bar_at),"
            " updated_at = greatest(updated_at, ?), buying_power = ? WHERE book = ?",
            [mode, broker, configs_json, cash, equity, bar, bar_at, now, buying_power, book],
        ),
        (
            "INSERT INTO live_books (book, mode, broker, configs, cash, equity, bar_date,"
            " updated_at, buying_power, bar_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [book, mode, broker, configs_json, cash, equity, bar, now, buying_power, bar_at],
        ),
    )


def snapshot(
    con, loop_id: str, bar: date, at: datetime, *, cash: float, equity: float,
    positions: Iterable[tuple[LivePosition, float]],
) -> None:  # fmt: skip
    """The book marked at ``bar``'s close: equity and each position (with its mark).

    Equity gets a row per step; positions one set per session, the latest step's (an
    intraday loop steps many times a session).
    """
    positions = list(positions)
    value = sum(p.qty * mark for p, mark in positions)
    con.execute(
        "INSERT INTO equity_snapshots VALUES (?, ?, ?, ?, ?, ?)",
        [loop_id, at, bar, equity, cash, value],
    )
    rows = [
        {
            "loop_id": loop_id,
            "bar_date": bar,
            "symbol": p.symbol,
            "qty": p.qty,
            "avg_price": p.avg_price,
            "price": mark,
            "stop_price": p.stop_price,
            "config_id": p.config_id,
        }
        for p, mark in positions
    ]
    con.execute("DELETE FROM position_snapshots WHERE loop_id = ? AND bar_date = ?", [loop_id, bar])
    insert_rows(con, "position_snapshots", rows)  # the latest step's set: one per session


def replayed_positions(store, book: str) -> dict[str, float]:
    """Positions rebuilt from the loop's ``order.filled`` and ``corporate_action.taken``
    events alone (the audit trail's view)."""
    rows = store.query(
        "SELECT kind, subject, payload FROM events WHERE kind IN ('order.filled',"
        " 'corporate_action.taken') AND json_extract_string(payload, '$.book') = ? ORDER BY id",
        [book],
    )
    fills = []
    for kind, subject, payload in zip(rows["kind"], rows["subject"], rows["payload"], strict=True):
        data = json.loads(payload)
        if kind == "corporate_action.taken":
            if data["kind"] == "split":  # the shares it made, less a fraction paid in cash
                paid = data["qty_after"] - data["qty_before"] * data["ratio"]
                fills.append((subject, paid, 0.0, data["ratio"]))
            continue
        qty = data["qty"] if data["side"] == "buy" else -data["qty"]
        fills.append((subject, qty, data["price"]))
    return {s: q for s, (q, _) in positions_from_fills(fills).items()}


# -- helpers ---------------------------------------------------------------------------


def _stored(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Ladder):
        return value.to_json()
    return value


def _order_row(order: LiveOrder, book: str, now: datetime) -> dict[str, Any]:
    row = {f: _stored(getattr(order, f)) for f in ORDER_FIELDS}
    row["created_at"] = order.created_at or now
    return {**row, "book": book, "updated_at": now}


