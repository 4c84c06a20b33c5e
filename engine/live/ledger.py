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
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any

from engine.brokers.paper_rules import positions_from_fills
from engine.data.corporate_actions import DIVIDEND, STAMP_SQL, CorporateAction
from engine.live import approvals
from engine.live.adjustments import Adjustment
from engine.live.books import MARKS_SPAN, Books, in_window, order_window
from engine.live.controls import (  # the step writes controls and beats in its transaction
    Controls,
    read_controls,  # noqa: F401
    set_control,  # noqa: F401
    stored_control,  # noqa: F401
    stored_values,
)
from engine.live.decisions import Ladder
from engine.live.heartbeat import beat  # noqa: F401
from engine.live.records import BookRow, LiveOrder, LivePosition
from engine.risk import EquityMark, RealisedSale

# The step writes its events with its books, in one transaction (ledger.append_events).
from engine.store.events import append_events, utcnow  # noqa: F401
from engine.store.writing import insert_rows, put_rows, python_value, update_else_insert

ORDER_FIELDS = [f.name for f in fields(LiveOrder)]
POSITION_FIELDS = [f.name for f in fields(LivePosition)]


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


@dataclass(frozen=True)
class Shared:
    """What others write and a step reads every time: the controls (kill switch, limits,
    pauses), the configs' registry status, the proposals a trader answered, the version of
    the loop's own books (bumped by a write of them outside the loop's steps), a stamp of
    the stored corporate actions and the commands waiting."""

    values: dict[str, Any]  # trading_state: key -> decoded value
    statuses: dict[str, str]
    in_flight: frozenset[str]
    waiting_until: datetime | None
    version: int
    #: The splits and dividends stored (engine.data.corporate_actions.STAMP_SQL): when it
    #: moves, the ones kept are read again.
    actions: str = ""
    #: The trader's commands waiting for the loop, oldest first: (id, actor, JSON payload).
    commands: list[tuple[int, str, str]] = field(default_factory=list)


def read_shared(con, book: str, config_ids: list[str]) -> Shared:
    """:class:`Shared` for ``book``, in one statement (one snapshot of the store).

    Its tables hold a few rows each: DuckDB spends nearly all of the statement's time
    planning it (EXPLAIN ANALYZE: under 0.2 ms of its ~2 ms runs), so each part is kept to
    the plainest plan (the registry's statuses a filter, not a join with a list unnested).
    """
    rows = con.execute(
        "SELECT 'control', key, value::VARCHAR, NULL::TIMESTAMP, NULL::BIGINT FROM trading_state"
        " UNION ALL SELECT 'status', config_id, status, NULL, NULL FROM configs"
        " WHERE list_contains($ids::VARCHAR[], config_id)"
        " UNION ALL SELECT 'proposal', client_order_id, state, expires_at, NULL FROM proposals"
        " WHERE book = $book AND state IN ($in_flight, $waiting)"
        " UNION ALL SELECT 'version', NULL, version::VARCHAR, NULL, NULL FROM book_versions"
        " WHERE book = $book"
        f" UNION ALL SELECT 'actions', NULL, ({STAMP_SQL}), NULL, NULL"
        " UNION ALL SELECT 'command', actor, payload::VARCHAR, NULL, id FROM commands"
        " WHERE status = 'pending'",
        {"ids": list(config_ids), "book": book, "in_flight": approvals.IN_FLIGHT,
         "waiting": approvals.WAITING},
    ).fetchall()  # fmt: skip
    found: dict[str, list] = {"control": [], "status": [], "proposal": [], "version": [],
                              "actions": [], "command": []}  # fmt: skip
    for kind, *row in rows:
        found[kind].append(row)
    in_flight, waiting_until = approvals.open_proposals([row[:3] for row in found["proposal"]])
    return Shared(
        values=stored_values((key, value) for key, value, *_ in found["control"]),
        statuses={config_id: status for config_id, status, *_ in found["status"]},
        in_flight=in_flight,
        waiting_until=waiting_until,
        version=int(found["version"][0][1]) if found["version"] else 0,
        actions=found["actions"][0][1],
        commands=sorted((number, actor, payload) for actor, payload, _, number in found["command"]),
    )


def read_books(con, book: str, now: datetime) -> Books:
    """:class:`Books` of ``book`` as stored, for steps at ``now`` or later."""
    orders = con.execute(
        f"SELECT {', '.join(ORDER_FIELDS)} FROM live_orders WHERE book = ? AND {_ORDER_WINDOW}"
        " ORDER BY created_at, client_order_id",
        [book, *order_window(now)],
    ).fetchall()
    flows = con.execute(
        f"SELECT client_order_id, config_id, {_FLOW} FROM live_orders WHERE book = ?"
        " AND filled_qty > 0 AND filled_avg_price IS NOT NULL",
        [book],
    ).fetchall()
    adjusted = con.execute(
        f"SELECT {', '.join(_ADJUSTMENT_COLUMNS)} FROM live_adjustments"
        " WHERE book = ? ORDER BY ex_date, symbol, kind",
        [book],
    ).fetchall()
    held = con.execute(
        f"SELECT {', '.join(POSITION_FIELDS)} FROM live_positions WHERE book = ? ORDER BY symbol",
        [book],
    ).fetchall()
    row = con.execute(f"SELECT {_BOOK_COLUMNS} FROM live_books WHERE book = ?", [book]).fetchall()
    # Every mark of the window, not only its newest: a later step's window may reach marks
    # stamped after ``now`` (a book replayed again over earlier bars).
    marks = con.execute(
        "SELECT s.ts, s.equity FROM equity_snapshots s JOIN heartbeats h USING (loop_id)"
        " WHERE h.book = ? AND s.ts >= ? ORDER BY s.ts DESC",
        [book, now - MARKS_SPAN],
    ).fetchall()
    return Books(
        since=now,
        orders={o.client_order_id: o for o in map(order_from_row, orders)},
        positions={p.symbol: p for p in map(position_from_row, held)},
        order_flows={cid: (config_id, float(flow)) for cid, config_id, flow in flows},
        adjustments=[tuple(r) for r in adjusted],
        book=_book_row(row[0]) if row else None,
        marks=[tuple(m) for m in marks],
    )


def assemble(shared: Shared, books: Books, now: datetime, *, marks: bool = True) -> Records:
    """The :class:`Records` a step at ``now`` reads: ``books`` seen through their windows at
    ``now``, with what others wrote (``shared``). Pure."""
    since_filled, since_sent = order_window(now)
    live = [o for o in books.orders.values() if in_window(o, since_filled, since_sent)]
    live.sort(key=lambda o: (o.created_at, o.client_order_id))
    due = (now - DIVIDENDS_DUE).date()
    # The marks are newest first: the first MARKS_KEPT in the span, without a look at the rest.
    shown = list(islice((m for m in books.marks if now - MARKS_SPAN <= m[0] <= now), MARKS_KEPT)
                 if marks else ())  # fmt: skip
    return Records(
        controls=Controls.from_values(shared.values),
        tracked={o.client_order_id: o for o in live if o.is_open},
        positions=dict(books.positions),
        flows=books.flows(),
        book=books.book,
        statuses=dict(shared.statuses),
        marks=tuple(EquityMark(at, equity) for at, equity in shown),
        day_trades=_day_trades(live, now),
        sales=tuple(
            RealisedSale(o.symbol, o.filled_at, o.filled_qty, o.realised_pnl)
            for o in live
            if o.side == "sell"
            and o.realised_pnl is not None
            and o.filled_at is not None
            and o.filled_at >= since_filled
        ),
        recent=tuple(o for o in live if o.created_at is not None and o.created_at >= since_sent),
        adjusted=frozenset((s, k, d) for s, k, d, *_ in books.adjustments),
        dividends=tuple(
            Adjustment(CorporateAction(s, d, k, amount=a), c, q, q, cash)
            for s, k, d, c, a, q, cash in books.adjustments
            if d >= due and k == DIVIDEND
        ),
        in_flight=shared.in_flight,
        waiting_until=shared.waiting_until,
    )


def read_records(
    store, book: str, config_ids: list[str], now: datetime, *, marks: bool = True
) -> Records:
    """The loop's books for ``book`` as a step starts, read whole (one connection, a few
    small queries; a running loop keeps them instead: :mod:`engine.live.kept`).

    ``marks`` False leaves out the equity marks (a gate without drawdown rules needs none).
    """
    with store.connect() as con:
        shared = read_shared(con, book, config_ids)
        books = read_books(con, book, now)
    return assemble(shared, books, now, marks=marks)


#: Open orders, and those that filled or were sent lately (day trades, wash sales, the
#: throttle): never the whole history. The kept books' twin: :func:`engine.live.books.in_window`.
_ORDER_WINDOW = "(status = 'open' OR (filled_qty > 0 AND filled_at >= ?) OR created_at >= ?)"
#: What an order's fills did to cash: a sale brings, a buy costs; fees cost (as the kept
#: books sum it: :class:`engine.live.books.Books`).
_FLOW = (
    "CASE WHEN side = 'sell' THEN filled_qty * filled_avg_price"
    " ELSE -filled_qty * filled_avg_price END - fees"
)
_BOOK_COLUMNS = "cash, equity, bar_date, configs, updated_at, bar_at"
_ADJUSTMENT_COLUMNS = ["symbol", "kind", "ex_date", "config_id", "amount", "qty_before", "cash"]
#: How many equity marks of the last MARKS_SPAN the drawdown rules look at (the newest).
MARKS_KEPT = 40


def _book_row(row) -> BookRow:
    return BookRow(*row[:3], json.loads(row[3]), *row[4:])


def order_from_row(row) -> LiveOrder:
    """A stored ``live_orders`` row (its :data:`ORDER_FIELDS`) as the loop keeps it."""
    return _order(dict(zip(ORDER_FIELDS, row, strict=True)))


def position_from_row(row) -> LivePosition:
    """A stored ``live_positions`` row (its :data:`POSITION_FIELDS`) as the loop keeps it."""
    return _position(dict(zip(POSITION_FIELDS, row, strict=True)))


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


def save_orders(con, book: str, orders: Iterable[LiveOrder], now: datetime, *,
                stored: Iterable[str] = ()) -> list[LiveOrder]:  # fmt: skip
    """Insert or update the loop's records of these orders; gives them as stored.

    ``stored``: client order ids the caller knows are recorded (its kept books'): their
    rows are updated, the others inserted (:func:`~engine.store.writing.put_rows`).
    """
    rows = {o.client_order_id: _order_row(o, book, now) for o in orders}
    known = [(book, cid) for cid in stored or () if cid in rows]
    put_rows(con, "live_orders", list(rows.values()), ["book", "client_order_id"], stored=known)
    # Every column is written from the row, so the row is what a read would give.
    return [order_from_row([python_value(row[f]) for f in ORDER_FIELDS]) for row in rows.values()]


def save_adjustments(con, book: str, adjustments: Iterable, now: datetime) -> list[tuple]:
    """Records the corporate actions the book took in (:class:`engine.live.adjustments.Adjustment`),
    each once: one already recorded stays as it was. Gives those recorded now, as
    :attr:`Books.adjustments` keeps them."""
    rows = [{"book": book, **a.row(), "recorded_at": now} for a in adjustments]
    return insert_rows(con, "live_adjustments", rows, on_conflict="DO NOTHING",
                       returning=_ADJUSTMENT_COLUMNS)  # fmt: skip


def save_positions(
    con,
    book: str,
    positions: Iterable[LivePosition],
    closed: Iterable[str],
    now: datetime,
    *,
    before: dict[str, LivePosition] | None = None,
) -> tuple[list[LivePosition], list[str]]:
    """The book's open positions after a step: these upserted, ``closed`` removed; gives
    (the positions written, as stored; the symbols removed).

    Positions equal to their record in ``before`` are left as they are.
    """
    before = before or {}
    positions = [p for p in positions if before.get(p.symbol) != p]
    closed = list(closed)
    rows = {p.symbol: {**_fields(p, POSITION_FIELDS), "book": book, "updated_at": now}
            for p in positions}  # fmt: skip
    known = [(book, symbol) for symbol in before if symbol in rows]
    put_rows(con, "live_positions", list(rows.values()), ["book", "symbol"], stored=known,
             gone=[(book, symbol) for symbol in closed])  # fmt: skip
    # Every column is written from the row, so the row is what a read would give.
    stored = [position_from_row([python_value(row[f]) for f in POSITION_FIELDS])
              for row in rows.values()]  # fmt: skip
    return stored, closed


def save_book(
    con, book: str, *, mode: str, broker: str, configs: dict[str, float], cash: float,
    equity: float, bar: date | None, now: datetime, buying_power: float | None = None,
    bar_at: datetime | None = None, before: BookRow | None = None,
) -> BookRow:  # fmt: skip
    """The book after a step (``bar`` its session; ``bar_at`` an intraday bar's close, UTC);
    gives its row as stored.

    ``before``: the row as stored now (the loop's kept one; only the loop writes it), from
    which the new one is known without reading it back.
    """
    configs_json = json.dumps(configs)
    update = (
        "UPDATE live_books SET mode = ?, broker = ?, configs = ?, cash = ?, equity = ?,"
        " bar_date = coalesce(?, bar_date), bar_at = coalesce(?, bar_at),"
        " updated_at = greatest(updated_at, ?), buying_power = ? WHERE book = ?",
        [mode, broker, configs_json, cash, equity, bar, bar_at, now, buying_power, book],
    )
    insert = (
        "INSERT INTO live_books (book, mode, broker, configs, cash, equity, bar_date,"
        " updated_at, buying_power, bar_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [book, mode, broker, configs_json, cash, equity, bar, now, buying_power, bar_at],
    )
    if before is None:
        returning = f" RETURNING {_BOOK_COLUMNS}"
        (row,) = update_else_insert(con, (update[0] + returning, update[1]),
                                    (insert[0] + returning, insert[1]), returning=True)  # fmt: skip
        return _book_row(row)
    update_else_insert(con, update, insert)
    # The UPDATE's coalesce and greatest, on the row as it was.
    return BookRow(
        cash, equity, bar if bar is not None else before.bar_date, json.loads(configs_json),
        max(before.updated_at, now), bar_at if bar_at is not None else before.bar_at,
    )  # fmt: skip


def snapshot(
    con, loop_id: str, bar: date, at: datetime, *, cash: float, equity: float,
    positions: Iterable[tuple[LivePosition, float]], again: bool = True,
) -> tuple[datetime, float]:  # fmt: skip
    """The book marked at ``bar``'s close: equity and each position (with its mark); gives
    the equity mark as stored.

    Equity gets a row per step; positions one set per session, the latest step's (an
    intraday loop steps many times a session): ``again`` False says this loop has not
    marked ``bar``'s positions yet (none to replace).
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
    if again:
        con.execute(
            "DELETE FROM position_snapshots WHERE loop_id = ? AND bar_date = ?", [loop_id, bar]
        )
    insert_rows(con, "position_snapshots", rows)  # the latest step's set: one per session
    return at, equity


def bump_version(con, book: str) -> None:
    """Says, in the caller's transaction, that ``book``'s orders or positions were written
    outside the loop's own steps: a running loop reads them from the store again."""
    con.execute(
        "INSERT INTO book_versions VALUES (?, 1, ?) ON CONFLICT (book) DO UPDATE"
        " SET version = book_versions.version + 1, updated_at = excluded.updated_at",
        [book, utcnow()],
    )


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


def _fields(record, names: list[str]) -> dict[str, Any]:
    """A record's columns as the store keeps them."""
    return {f: _stored(getattr(record, f)) for f in names}


def _order_row(order: LiveOrder, book: str, now: datetime) -> dict[str, Any]:
    row = _fields(order, ORDER_FIELDS)
    row["created_at"] = order.created_at or now
    return {**row, "book": book, "updated_at": now}


