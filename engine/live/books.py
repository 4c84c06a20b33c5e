"""The loop's books in memory: what only the loop writes of a book, as its transactions stored it.

:class:`Books` holds a book's orders (those a step may look at), positions, corporate
actions taken, book row and equity marks, with each config's cash from them summed exactly
(:class:`ExactSum`), and takes in what a committed transaction stored (:class:`Written`).
The windows here say what a step looks at; :func:`engine.live.ledger.read_books` reads the
same rows from the store, and :mod:`engine.live.kept` keeps a running loop's books between
steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.live.records import BookRow, LiveOrder, LivePosition

#: How far back the gate looks at the loop's own orders (the throttle, duplicate guard).
RECENT_ORDERS = timedelta(minutes=15)
#: How far back the drawdown rules look at equity marks (the newest ledger.MARKS_KEPT of them).
MARKS_SPAN = timedelta(days=20)


def order_window(now: datetime) -> tuple[datetime, datetime]:
    """(filled since, sent since): the times an order's fill or sending keeps it in view."""
    return now - timedelta(days=31), now - RECENT_ORDERS


def in_window(order: LiveOrder, filled_since: datetime, sent_since: datetime) -> bool:
    """:data:`engine.live.ledger._ORDER_WINDOW` in Python: whether ``order`` is in view."""
    return (
        order.is_open
        or (order.filled_qty > 0 and order.filled_at is not None and order.filled_at >= filled_since)
        or (order.created_at is not None and order.created_at >= sent_since)
    )


class ExactSum:
    """A running sum of floats kept exact (Shewchuk's partials, as :func:`math.fsum` keeps
    them): added to one value at a time, it gives what one ``fsum`` of them all gives."""

    def __init__(self, values: Iterable[float] = ()):
        self._partials: list[float] = []
        for value in values:
            self.add(value)

    def add(self, value: float) -> None:
        partials = []
        for other in self._partials:
            if abs(value) < abs(other):
                value, other = other, value
            high = value + other
            low = other - (high - value)
            if low:
                partials.append(low)
            value = high
        partials.append(value)
        self._partials = partials

    @property
    def value(self) -> float:
        return math.fsum(self._partials)


@dataclass
class Written:
    """What a transaction of the loop stored of its books, as stored (RETURNING)."""

    orders: list[LiveOrder] = field(default_factory=list)
    positions: list[LivePosition] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    adjustments: list[tuple] = field(default_factory=list)
    book: BookRow | None = None
    mark: tuple[datetime, float] | None = None  # (when, equity)


@dataclass
class Books:
    """What only the loop writes of a book, as stored: its orders (those a step at ``since``
    or later may look at), positions, corporate actions taken, book row and equity marks,
    and the cash each config's fills, dividends and cash in lieu brought or cost."""

    since: datetime  # the earliest step time these rows answer for (the windows below)
    orders: dict[str, LiveOrder]
    positions: dict[str, LivePosition]  # by symbol, in symbol order
    #: client order id -> (config id, cash its fills brought): every filled order's.
    order_flows: dict[str, tuple[str | None, float]]
    #: (symbol, kind, ex_date, config_id, amount, qty_before, cash), in ex-date order.
    adjustments: list[tuple]
    book: BookRow | None
    marks: list[tuple[datetime, float]]  # (when, equity), newest first
    #: config id -> the exact sum of its order flows and adjustments' cash.
    sums: dict[str | None, ExactSum] = field(default_factory=dict)

    def __post_init__(self):
        if not self.sums:
            for config_id, flow in self.order_flows.values():
                self.sums.setdefault(config_id, ExactSum()).add(flow)
            for *_, config_id, _, _, cash in self.adjustments:
                self.sums.setdefault(config_id, ExactSum()).add(cash)

    def flows(self) -> dict[str | None, float]:
        """Config id -> what its fills, dividends and cash in lieu did to cash."""
        return {config_id: total.value for config_id, total in self.sums.items()}

    def take(self, written: Written) -> None:
        """Takes in what a committed transaction of the loop stored (never before it committed)."""
        for order in written.orders:
            self.orders[order.client_order_id] = order
            old = self.order_flows.pop(order.client_order_id, None)
            if old is not None:  # the order filled more: its old flow out, its new one in
                self.sums[old[0]].add(-old[1])
            flow = _flow(order)
            if flow is not None:
                self.order_flows[order.client_order_id] = (order.config_id, flow)
                self.sums.setdefault(order.config_id, ExactSum()).add(flow)
        for position in written.positions:
            self.positions[position.symbol] = position
        for symbol in written.closed:
            self.positions.pop(symbol, None)
        if written.positions:  # in symbol order, as a read gives them (the store's own varies)
            self.positions = dict(sorted(self.positions.items()))
        for row in written.adjustments:
            self.adjustments.append(row)
            self.sums.setdefault(row[3], ExactSum()).add(row[6])
        self.adjustments.sort(key=lambda r: (r[2], r[0], r[1]))
        if written.book is not None:
            self.book = written.book
        if written.mark is not None:  # newest first: a step's mark is almost always the newest
            if not self.marks or written.mark[0] > self.marks[0][0]:
                self.marks.insert(0, written.mark)
            else:  # a tie keeps the sort's order: the older mark first
                self.marks.append(written.mark)
                self.marks.sort(key=lambda m: m[0], reverse=True)

    def forget_before(self, now: datetime) -> None:
        """Drops what no step at ``now`` or later looks at: orders out of every window,
        marks older than the drawdown rules look (time only moves on)."""
        if now <= self.since:
            return
        since_filled, since_sent = order_window(now)
        self.orders = {c: o for c, o in self.orders.items() if in_window(o, since_filled, since_sent)}
        oldest = now - MARKS_SPAN
        while self.marks and self.marks[-1][0] < oldest:  # newest first: the old at the end
            self.marks.pop()
        self.since = now


def _flow(order: LiveOrder) -> float | None:
    """:data:`engine.live.ledger._FLOW` of a stored order (None: no fill)."""
    if not order.filled_qty > 0 or order.filled_avg_price is None:
        return None
    value = order.filled_qty * order.filled_avg_price
    return (value if order.side == "sell" else -value) - order.fees
