"""The paper account kept in memory: a cache of its books in the store, never the truth.

A step of the live loop asks the paper broker for its account, positions and open orders,
and hands it a bar: read from the store each time, that is a dozen statements a step. The
broker keeps them here instead (:class:`Kept`: cash, shares held and their cost, marks,
open orders with their attached stops, the last bar) and reads the store only to check
that nothing else wrote the account since.

Why the copy is safe:

- every write to an account's books (orders, fills, marks, adjustments, its row), by any
  paper broker object in any process, bumps ``paper_accounts.generation`` in the same
  transaction; a broker compares it with the one it keeps (one cheap read) before it uses
  the copy, and rebuilds the copy from the store (:func:`load`) when another writer moved it.
  A write compares it at its end instead, in the statement that bumps it (and writes the
  account row): a copy found stale there rolls the write back, which then runs again on
  the account read afresh, so nothing judged on a stale copy is ever committed;
- a broker changes its copy only after its own transaction committed: a write works on a
  copy (:meth:`Kept.copy`) and that copy is kept only once the store took it, so a failed
  or retried transaction leaves the kept state as it was;
- :func:`load` runs the same moves (:meth:`Kept.take_fill`, :meth:`Kept.take_adjustment`)
  over the stored fills and adjustments in their order, so a rebuilt copy equals the one
  kept step by step, to the last bit.

Inside a store's step (:meth:`engine.store.Store.step`: the loop's bar, cancels, submits
and record in one transaction) the broker's writes join that transaction, and its copy
changes at once, for the step's later work; a step that rolls back drops it. Nobody else
writes the account while the step's transaction is open (this process holds the file,
and its other threads wait for the step's lock), so the copy needs no check there once it
has been checked in the step, and the generation needs one bump a step, not one a write:
:func:`standing` says where a broker's copy stands in the open step, so that a second
broker object on the same account, were one used inside the step, never takes the
first one's writes for its own or keeps a copy those writes left behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from typing import Any

from engine.brokers import _paper_books as books
from engine.brokers.base import Order, Side
from engine.brokers.paper_rules import add_to_position

#: The start of time: every order closed after it (all of them) is kept.
_ALWAYS = datetime.min


@dataclass(frozen=True)
class Resting:
    """An order as kept, with what the broker stores beside it: its place in submission
    order (``seq``), the bar it waits after, and the stop a buy attaches when it fills.

    ``seq`` orders the account's orders as the store's ``seq`` does, but is the store's value
    only for an order read from it: one placed here is numbered after every order of the
    account then (:meth:`Kept.place`), before its row is written (a bar's attached stop
    waits for the step's next insert of orders), and the store numbers it later, never
    lower. No RETURNING is asked for, and the orders keep their order."""

    order: Order
    seq: int = field(compare=False)
    after_bar: date | None = None
    after_bar_at: datetime | None = None
    stop_loss_price: float | None = None

    def waits_for(self, session: date, at: datetime | None) -> bool:
        """True when the order was placed before the bar of ``session`` (an intraday bar
        starting ``at``: then the bar's start decides, not its session)."""
        if at is not None:
            return self.after_bar_at is None or self.after_bar_at < at
        return self.after_bar is None or self.after_bar < session


@dataclass
class Kept:
    """The account's books as of ``generation``."""

    generation: int
    cash: float
    #: Signed shares per symbol (a symbol traded back to flat stays, at 0).
    held: dict[str, float]
    #: Open positions: ``{symbol: (qty, average cost)}``.
    book: dict[str, tuple[float, float]]
    marks: dict[str, float]
    last_bar: date | None
    last_bar_at: datetime | None
    #: Open orders by id, in submission order.
    open: dict[str, Resting]
    #: Orders closed after ``horizon`` (every one of them), by id.
    closed: dict[str, Resting]
    horizon: datetime
    #: Every client order id the account ever took (shared by a write's copy, which adds
    #: its own in ``placed_ids`` until it commits: the set may be large, copying it is not).
    client_ids: set[str]
    #: The (symbol, kind, ex-date) of the corporate actions applied.
    applied: set[tuple[str, str, date]]
    #: Set by a write that changed the books (the account's generation moves on).
    touched: bool = field(default=False, compare=False)
    placed_ids: list[str] = field(default_factory=list, compare=False)
    #: The store's corporate-actions stamp a write used (its end checks it is still so).
    actions_stamp: str | None = field(default=None, compare=False)
    #: Set by a write that changed the marks (the account row is written with all of them).
    marks_moved: bool = field(default=False, compare=False)
    #: The highest ``seq`` of the account's orders, stored or placed here (:meth:`place`).
    top_seq: int = field(default=0, compare=False)

    def copy(self) -> Kept:
        """A copy a write can change (the kept one stays as it is until the write commits)."""
        return replace(
            self, held=dict(self.held), book=dict(self.book), marks=dict(self.marks),
            open=dict(self.open), closed=dict(self.closed), applied=set(self.applied),
            touched=False, placed_ids=[], actions_stamp=None, marks_moved=False,
        )  # fmt: skip

    def committed(self) -> Kept:
        """This copy once its write has committed: the client ids it placed join the set."""
        self.client_ids.update(self.placed_ids)
        self.placed_ids = []
        return self

    # -- money and shares ----------------------------------------------------------------

    def take_fill(self, symbol: str, side: Side | str, qty: float, price: float, fee: float) -> None:
        """A fill moves cash, shares and the position's cost (as :data:`books._MOVES` sums them)."""
        signed = qty if side == Side.BUY else -qty
        self.cash += -(signed * price) - fee
        self.held[symbol] = self.held.get(symbol, 0.0) + signed
        add_to_position(self.book, symbol, signed, price)

    def take_adjustment(self, row: dict[str, Any]) -> None:
        """A split or dividend taken in (a ``paper_adjustments`` row): shares, cash, cost."""
        symbol = row["symbol"]
        self.cash += row["cash"]
        self.held[symbol] = self.held.get(symbol, 0.0) + (row["qty_after"] - row["qty_before"])
        if row["kind"] == "split":
            moved = row["qty_after"] - row["qty_before"] * row["ratio"]
            add_to_position(self.book, symbol, moved, row["price"] or 0.0, row["ratio"])
        self.applied.add((symbol, row["kind"], row["ex_date"]))

    # -- orders --------------------------------------------------------------------------

    def place(self, order: Order, **stored: Any) -> None:
        """A new order (``stored``: its after_bar, after_bar_at, stop_loss_price), numbered
        after every order of the account, as the store's sequence numbers its row (each
        number it gives is above every one it gave before), whenever that is written."""
        self.top_seq += 1
        self.open[order.id] = Resting(order, self.top_seq, **stored)
        self.placed_ids.append(order.client_order_id)

    def learn_closed(self, rows: list[Resting], since: datetime | None) -> None:
        """Closed orders read from the store, among them every one closed after ``since``
        (None: only some): kept from now on."""
        for resting in rows:
            self.closed.setdefault(resting.order.id, resting)
        if since is not None:
            self.horizon = min(self.horizon, since)

    def update(self, order_id: str, **changes: Any) -> Order:
        """An order of the account changed (its status, fill or prices); gives it as it is now."""
        resting = self.open.get(order_id) or self.closed[order_id]
        order = replace(resting.order, **{k: v for k, v in changes.items() if k in _ORDER_FIELDS})
        kept = replace(resting, order=order,
                       **{k: v for k, v in changes.items() if k not in _ORDER_FIELDS})  # fmt: skip
        if order.status.value in books.OPEN:
            self.open[order_id] = kept
        else:
            self.open.pop(order_id, None)
            self.closed[order_id] = kept
        return order

    def find(self, key: str, value: str) -> Order | None:
        """The order kept whose ``key`` (id or client_order_id) is ``value`` (None: not kept)."""
        if key == "id":
            found = self.open.get(value) or self.closed.get(value)
            return found.order if found else None
        for resting in (*self.open.values(), *self.closed.values()):
            if resting.order.client_order_id == value:
                return resting.order
        return None

    def closed_since(self, since: datetime) -> list[Order] | None:
        """The orders closed after ``since`` in submission order; None when that reaches back
        past what is kept (the store knows)."""
        if since < self.horizon:
            return None
        done = sorted((r for r in self.closed.values() if r.order.updated_at > since),
                      key=lambda r: r.seq)  # fmt: skip
        return [r.order for r in done]

    def forget_closed(self, through: datetime) -> None:
        """Drop the closed orders last changed by ``through`` (the loop has seen them)."""
        if through <= self.horizon:
            return
        self.closed = {i: r for i, r in self.closed.items() if r.order.updated_at > through}
        self.horizon = through


_ORDER_FIELDS = {f for f in Order.__dataclass_fields__}

_ACCOUNT = (
    "SELECT generation, last_bar_date, last_bar_at,"
    " (SELECT max(updated_at) FROM paper_orders WHERE account = $account),"
    " (SELECT coalesce(max(seq), 0) FROM paper_orders WHERE account = $account)"
    " FROM paper_accounts WHERE account = $account"
)
#: Fills and adjustments in the order they happened (one sequence numbers both).
_MOVES = (
    "SELECT 'fill', symbol, side, qty, price, fee, NULL, NULL, NULL, NULL, seq"
    " FROM paper_fills WHERE account = $account UNION ALL"
    " SELECT kind, symbol, NULL, NULL, price, cash, ratio, qty_before, qty_after, ex_date, seq"
    " FROM paper_adjustments WHERE account = $account ORDER BY seq"
)
_RESTING = ["seq", "after_bar", "after_bar_at", "stop_loss_price"]
#: The columns :func:`resting_from_row` reads.
RESTING_COLUMNS = ", ".join([*books.ORDER_COLUMNS, *_RESTING])
_OPEN_ORDERS = (
    f"SELECT {RESTING_COLUMNS} FROM paper_orders"
    " WHERE account = ? AND status IN (SELECT unnest(?)) ORDER BY seq"
)


def resting_from_row(row) -> Resting:
    """The order a ``paper_orders`` row read as :data:`RESTING_COLUMNS` holds."""
    split = len(books.ORDER_COLUMNS)
    return Resting(books.order_from_row(row[:split]), *row[split:])


def generation(con, account: str) -> int:
    """The account's generation in the store (see the module docstring)."""
    return con.execute(
        "SELECT generation FROM paper_accounts WHERE account = ?", [account]
    ).fetchall()[0][0]


def load(con, account: str, starting_cash: float) -> Kept:
    """The account's books as the store has them now, read on ``con``."""
    books.write_waiting_orders(con)  # in a step: the orders as the step changed them
    ((gen, last_bar, last_bar_at, newest_change, top_seq),) = con.execute(
        _ACCOUNT, {"account": account}
    ).fetchall()
    kept = Kept(
        generation=gen, cash=starting_cash, held={}, book={}, marks=books.marks(con, account),
        last_bar=last_bar, last_bar_at=last_bar_at, open={}, closed={},
        horizon=newest_change or _ALWAYS, client_ids=set(), applied=set(), top_seq=top_seq,
    )  # fmt: skip
    for kind, symbol, side, qty, price, amount, ratio, before, after, ex_date, _ in con.execute(
        _MOVES, {"account": account}
    ).fetchall():
        if kind == "fill":
            kept.take_fill(symbol, side, qty, price, amount)
        else:
            kept.take_adjustment({"symbol": symbol, "kind": kind, "price": price, "cash": amount,
                                  "ratio": ratio, "qty_before": before, "qty_after": after,
                                  "ex_date": ex_date})  # fmt: skip
    for resting in map(resting_from_row, con.execute(_OPEN_ORDERS, [account, books.OPEN]).fetchall()):
        kept.open[resting.order.id] = resting
    kept.client_ids = {
        cid for (cid,) in con.execute(
            "SELECT client_order_id FROM paper_orders WHERE account = ?", [account]
        ).fetchall()
    }  # fmt: skip
    return kept


# -- inside a store's step -------------------------------------------------------------


class Standing(Enum):
    """Where a broker's copy of its account stands in the store's open step."""

    #: No step is open: the store's generation says whether the copy is current.
    OUTSIDE = "outside"
    #: No broker object has used the account in this step yet: the generation says, too.
    UNSEEN = "unseen"
    #: The copy is the step's latest (checked in it, or written in it): no read needed.
    LATEST = "latest"
    #: The same, and its writes in this step bumped the generation already: later ones
    #: need not bump it again (others see the bump when the step commits).
    BUMPED = "bumped"
    #: Another broker object's copy is the step's latest: its writes may have left the
    #: generation where it was, so the account is read again.
    BEHIND = "behind"


#: Standings in which the copy is the store's as the step's transaction has it.
CHECKED = (Standing.LATEST, Standing.BUMPED)


def standing(step, account: str, broker: object) -> Standing:
    """Where ``broker``'s copy of ``account`` stands in ``step`` (a store's open step, or None)."""
    if step is None:
        return Standing.OUTSIDE
    noted = step.caches.get(("paper_account", account))
    if noted is None:
        return Standing.UNSEEN
    holder, bumped = noted
    if holder is not broker:
        return Standing.BEHIND
    return Standing.BUMPED if bumped else Standing.LATEST


def note(step, account: str, broker: object, *, bumped: bool) -> None:
    """Notes in ``step`` (if any) that ``broker``'s copy of ``account`` is now its latest
    (``bumped``: and its writes in it have bumped the generation)."""
    if step is not None:
        step.caches[("paper_account", account)] = (broker, bumped)
