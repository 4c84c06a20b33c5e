"""Reconciliation: the store's view of the book against the broker's, and what to believe.

The broker is the truth about orders, fills, positions and cash. Every step (and at
start-up) the loop compares what it recorded with what the broker says:

- An order it sent that filled, in whole or in part, since it last looked: a fill, booked
  to the order's config. One that was canceled, expired or rejected: its new status.
- An open order at the broker with one of the loop's own client order ids that the store
  does not know: sent by an earlier run of a step that crashed before recording it
  (ids are deterministic, :mod:`engine.live.ids`): adopted. A sell stop on a symbol the
  loop holds: the stop attached to its entry (the broker placed it as the entry filled):
  adopted.
- A position whose quantity the fills explain: taken as the broker has it.
- A split or cash dividend the data layer records, its ex-date reached: taken into the
  book once (:mod:`engine.live.adjustments`): the split-adjusted position (the shares times
  the ratio, or their whole part with the fraction paid in cash) with its stop levels
  and open orders re-based; the dividend's cash into the holder's sub-book.
- A position re-based without a fill, its cost unchanged, by a split-like ratio (2-for-1,
  3-for-2, 1-for-10) that no record names: a stock split all the same. Taken as the
  broker has it, its stop levels divided by the ratio (a broker does not adjust the stop
  attached to an entry; the loop puts it back at the adjusted price).

Anything else cannot be explained: a position or an order nobody in the workbench placed,
a position gone without a sale, an order the broker no longer knows, cash that moved
with no fill (at start-up). Each is a :class:`~engine.live.records.Difference` with
``explained=False``; the loop then refuses to trade (an OperatorError saying which) unless
a person has told it to adopt the broker's view.

Pure: plain records in, plain records out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from fractions import Fraction

from engine.brokers.base import (
    BrokerView,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
)
from engine.data.corporate_actions import SPLIT, CorporateAction
from engine.live import ids
from engine.live.adjustments import Adjustment, dividends_paid, rebased, take_actions
from engine.live.decisions import Ladder
from engine.live.records import FILLED, OPEN, Difference, LiveOrder, LivePosition

#: Share quantities closer than this are equal (float residue).
QTY_EPSILON = 1e-6
#: A split's ratio is a fraction with at most this denominator (3-for-2, 1-for-20).
SPLIT_DENOMINATOR = 20

_STATUS = {
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.EXPIRED: "expired",
    OrderStatus.REJECTED: "rejected",
}


@dataclass(frozen=True)
class FillSeen:
    """New shares of an order filled since the loop last looked."""

    order: LiveOrder  # as updated
    qty: float
    price: float
    fee: float
    realised_pnl: float | None  # a sell's profit over the average cost, fee included

    @property
    def signed_qty(self) -> float:
        return self.qty if self.order.side == "buy" else -self.qty

    @property
    def cash_flow(self) -> float:
        value = self.qty * self.price
        return (value if self.order.side == "sell" else -value) - self.fee


@dataclass(frozen=True)
class Reconciled:
    """The book after reconciling: changed order records, fills, positions, differences."""

    changed: list[LiveOrder]
    fills: list[FillSeen]
    positions: dict[str, LivePosition]
    closed: list[str]
    differences: list[Difference]
    adjustments: list[Adjustment] = field(default_factory=list)  # corporate actions taken in

    @property
    def unexplained(self) -> list[Difference]:
        return [d for d in self.differences if not d.explained]


def reconcile(
    tracked: dict[str, LiveOrder],
    positions: dict[str, LivePosition],
    broker: BrokerView,
    *,
    config_ids: set[str],
    trails: Callable[[str | None], bool],
    fee: Callable[[float, float], float],
    now: datetime,
    laddered: Callable[[str | None], bool] = lambda _: False,
    bar: date | None = None,
    expected_cash: float | None = None,
    cash_tolerance: float = 0.01,
    actions: Sequence[CorporateAction] = (),
    recorded_actions: Iterable[tuple] = (),
    recent_dividends: Sequence[Adjustment] = (),
    leave: frozenset[str] = frozenset(),
) -> Reconciled:
    """The book after taking in what the broker says (see the module docstring).

    ``tracked`` are the loop's open orders by client order id; ``positions`` its open
    positions by symbol; ``config_ids`` the configs whose order ids count as its own;
    ``trails(config_id)`` whether a config's stops trail, ``laddered(config_id)`` whether it
    builds positions in legs; ``fee(qty, price)`` what the broker charges a fill. Orders the
    loop decided at ``bar`` (the bar being stepped) are left to the step, which decides them again and finds them. With ``expected_cash`` (the
    cash the loop last recorded, at start-up) a cash change no fill explains is a difference.
    ``actions`` are the recorded splits and dividends whose ex-date the book has reached,
    ``recorded_actions`` the (symbol, kind, ex-date) of those it has already taken in,
    ``recent_dividends`` the dividends it took in lately (a broker may pay them since).
    Orders named in ``leave`` (approved entries whose command, applied again, records them)
    are left to that command.
    """
    differences: list[Difference] = []
    changed: dict[str, LiveOrder] = {}
    fills: list[FillSeen] = []
    by_cid = {o.client_order_id: o for o in [*broker.recent_closed, *broker.open_orders]}

    # 1. The orders the loop sent: fills and final statuses.
    for cid, mine in tracked.items():
        theirs = broker.looked_up.get(mine.broker_order_id or "") or by_cid.get(cid)
        if theirs is None:
            differences.append(
                Difference(
                    "order",
                    cid,
                    f"the broker has no order {cid} ({mine.side} {mine.qty:g} {mine.symbol}) "
                    "that the loop sent",
                    explained=False,
                    why="was the account reset or the order deleted at the broker?",
                )
            )
            continue
        updated, fill = _take_in(mine, theirs, fee, now)
        if updated != mine:
            changed[cid] = updated
        if fill is not None:
            fills.append(fill)

    # 2. Orders at the broker the loop does not know.
    held = {s for s, p in broker.positions.items() if abs(p.qty) > QTY_EPSILON}
    owners = {s: p.config_id for s, p in positions.items()}
    entering = {o.symbol: o for o in tracked.values() if o.side == "buy" and o.config_id}
    for order in [*broker.recent_closed, *broker.open_orders]:
        if order.client_order_id in tracked or order.client_order_id in changed:
            continue
        if order.client_order_id in leave:
            continue
        decided = ids.parse_decision_id(order.client_order_id)
        if (
            decided is not None
            and bar is not None
            and decided.key == ids.bar_key(bar)
            and decided.config_id in config_ids
        ):
            continue  # this very step's decision: the step finds it when it decides again
        adopted = _adopt(order, config_ids, held, owners, entering, now)
        if adopted is None:
            if order.is_open:
                differences.append(
                    Difference(
                        "order",
                        order.client_order_id,
                        f"an open order {order.client_order_id} ({order.side} {order.qty:g} "
                        f"{order.symbol} {order.type}) that no part of the workbench placed",
                        explained=False,
                        why="cancel it at the broker, or adopt it on purpose",
                    )
                )
            continue
        record, why = adopted
        updated, fill = _take_in(record, order, fee, now)
        changed[order.client_order_id] = updated
        if fill is not None:
            fills.append(fill)
        if why:  # an attached stop is simply the loop's, not a difference
            differences.append(
                Difference("order", order.client_order_id, _describe(order), True, why)
            )

    # 3. Corporate actions since the loop last looked, before the fills (which came after
    # the ex-date's open, in post-split shares).
    filled: dict[str, float] = {}
    for f in fills:
        filled[f.order.symbol] = filled.get(f.order.symbol, 0.0) + f.signed_qty
    # The orders open before it (the loop's own: adopted ones come in the broker's terms).
    before = {cid: changed.get(cid, o) for cid, o in tracked.items()}
    taken = take_actions(positions, before, broker.positions, filled, actions, recorded_actions)
    positions = taken.positions
    changed.update({cid: o for cid, o in taken.orders.items() if o != before[cid]})
    fills = [replace(f, order=changed.get(f.order.client_order_id, f.order)) for f in fills]
    differences.extend(taken.differences)

    # 4. Positions: the broker's quantities, explained by the fills.
    fills = _with_realised(fills, positions)
    after: dict[str, LivePosition] = {}
    closed: list[str] = []
    for symbol in sorted(set(positions) | set(broker.positions) | {f.order.symbol for f in fills}):
        mine = positions.get(symbol)
        theirs = broker.positions.get(symbol)
        seen = [f for f in fills if f.order.symbol == symbol]
        expected = (mine.qty if mine else 0.0) + sum(f.signed_qty for f in seen)
        actual = theirs.qty if theirs else 0.0
        ratio = None
        if abs(actual - expected) > QTY_EPSILON * max(1.0, abs(expected)):
            ratio = split_ratio(mine, theirs) if mine is not None and not seen else None
        if ratio is not None:
            differences.append(_split(symbol, mine, theirs, ratio))
        elif abs(actual - expected) > QTY_EPSILON * max(1.0, abs(expected)):
            differences.append(
                Difference(
                    "position",
                    symbol,
                    f"the broker holds {actual:g} {symbol}; the loop expected {expected:g} "
                    f"({mine.qty if mine else 0:g} recorded, {expected - (mine.qty if mine else 0):+g} "
                    "from fills)",
                    explained=False,
                    why="a trade outside the workbench? check the account's activity",
                )
            )
        if abs(actual) <= QTY_EPSILON:
            if mine is not None:
                closed.append(symbol)
            continue
        position = _position_after(symbol, mine, theirs, seen, trails, laddered, now)
        after[symbol] = position if ratio is None else rebased(position, ratio)

    # 5. Cash, when the loop knows what it last recorded.
    if expected_cash is not None:
        expected = expected_cash + sum(f.cash_flow for f in fills)
        # Cash in lieu of a fraction is paid at a price the loop can only estimate.
        splits = [a for a in taken.adjustments if a.action.kind == SPLIT]
        expected += sum(a.cash for a in splits)
        lieu = sum(abs(a.cash) for a in splits)
        gap = broker.account.cash - expected
        # A dividend is paid on the ex-date (the paper broker) or on its pay date, weeks
        # later (Alpaca): the gap may be any of those due lately.
        due = [a for a in [*taken.adjustments, *recent_dividends] if a.action.kind != SPLIT]
        paid = dividends_paid(gap, due, cash_tolerance + lieu)
        if paid:
            differences.append(
                Difference(
                    "cash",
                    "cash",
                    f"the broker's cash is {gap:+,.2f} from what the fills leave",
                    explained=True,
                    why="paid: " + ", ".join(a.action.describe() for a in paid),
                )
            )
        elif paid is None:
            differences.append(
                Difference(
                    "cash",
                    "cash",
                    f"the broker's cash is {broker.account.cash:,.2f}; the loop expected "
                    f"{expected:,.2f} ({gap:+,.2f})",
                    explained=False,
                    why="a deposit, withdrawal, dividend or fee? check the account's activity",
                )
            )
    return Reconciled(list(changed.values()), fills, after, closed, differences, taken.adjustments)


def _take_in(mine: LiveOrder, theirs: Order, fee, now) -> tuple[LiveOrder, FillSeen | None]:
    """The record after the broker's news of it, and the new fill in it (if any)."""
    status = OPEN if theirs.is_open else _STATUS.get(theirs.status, "canceled")
    filled = float(theirs.filled_qty or 0.0)
    new_qty = filled - mine.filled_qty
    if status == OPEN == mine.status and new_qty <= QTY_EPSILON and theirs.id == mine.broker_order_id:
        return mine, None  # still resting as recorded: most orders at most steps
    updated = replace(mine, status=status, broker_order_id=theirs.id)
    if new_qty <= QTY_EPSILON:
        if status != FILLED and filled < mine.qty - QTY_EPSILON and status != OPEN:
            updated = replace(updated, reason=updated.reason or f"{status} at the broker")
        return updated, None
    avg = float(theirs.filled_avg_price)
    before = mine.filled_qty * (mine.filled_avg_price or 0.0)
    price = (filled * avg - before) / new_qty if mine.filled_qty else avg
    charged = fee(new_qty, price)
    updated = replace(
        updated,
        filled_qty=filled,
        filled_avg_price=avg,
        fees=mine.fees + charged,
        filled_at=now,
    )
    if status == "canceled" and filled < mine.qty - QTY_EPSILON:
        updated = replace(updated, reason=f"filled {filled:g} of {mine.qty:g}; the rest canceled")
    return updated, FillSeen(updated, new_qty, price, charged, None)


def _adopt(order: Order, config_ids, held, owners, entering, now):
    """(a record of ``order``, why it is the loop's although unrecorded -- "" for a stop the
    broker attached to an entry, which is simply the loop's) or None when it is not the loop's."""
    decision = ids.parse_decision_id(order.client_order_id)
    if decision is not None and decision.config_id in config_ids:
        purpose = {"buy": "entry", "sell": "exit"}.get(decision.action, "stop")
        why = f"sent by the step of {decision.bar} before a restart; recorded now"
        return _record(order, decision.config_id, purpose, decision.bar, now), why
    if ids.is_command_order(order.client_order_id):
        owner = owners.get(order.symbol)
        return _record(
            order, owner, "manual", None, now
        ), "a trader's command sent before a restart"
    protective = order.side == Side.SELL and order.type == OrderType.STOP
    attached = ids.attached_stop_of(order.client_order_id)
    # A broker that names an attached stop itself (Alpaca) lists it before its buy fills
    # (status held), on the symbol being entered.
    if protective and (attached is not None or order.symbol in held or order.symbol in entering):
        parent = entering.get(order.symbol)
        owner = owners.get(order.symbol) or (attached.config_id if attached else None)
        owner = owner or (parent.config_id if parent else None)
        if owner is None or owner in config_ids:
            return _record(order, owner, "stop", None, now), ""
    return None


def _record(order: Order, config_id, purpose, bar, now) -> LiveOrder:
    return LiveOrder(
        client_order_id=order.client_order_id,
        config_id=config_id,
        symbol=order.symbol,
        side=order.side.value,
        purpose=purpose,
        qty=order.qty,
        type=order.type.value,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        take_profit_price=order.take_profit_price,
        decision_bar=bar,
        broker_order_id=order.id,
        created_at=order.submitted_at or now,
    )


def _with_realised(fills: list[FillSeen], positions: dict[str, LivePosition]) -> list[FillSeen]:
    """The fills in book order (each symbol's buys before its sells), sells with their P&L."""
    ordered = sorted(fills, key=lambda f: (f.order.symbol, f.order.side != "buy"))
    qty = {s: p.qty for s, p in positions.items()}
    avg = {s: p.avg_price for s, p in positions.items()}
    out = []
    for fill in ordered:
        symbol = fill.order.symbol
        held, cost = qty.get(symbol, 0.0), avg.get(symbol, 0.0)
        if fill.order.side == "buy":
            total = held + fill.qty
            avg[symbol] = (held * cost + fill.qty * fill.price) / total if total else fill.price
            qty[symbol] = total
            out.append(fill)
            continue
        pnl = (fill.price - cost) * fill.qty - fill.fee
        qty[symbol] = held - fill.qty
        out.append(
            replace(
                fill,
                realised_pnl=pnl,
                order=replace(fill.order, realised_pnl=(fill.order.realised_pnl or 0.0) + pnl),
            )
        )
    return out


def split_ratio(mine: LivePosition, theirs: Position | None) -> float | None:
    """The split that turned the loop's position into the broker's, or None if none did.

    A split changes the shares by a simple ratio and leaves their cost where it was; a
    trade at any other price than the average changes the cost.
    """
    if theirs is None or mine.qty <= 0 or theirs.qty <= 0:
        return None
    ratio = theirs.qty / mine.qty
    simple = Fraction(ratio).limit_denominator(SPLIT_DENOMINATOR)
    cost, cost_now = mine.qty * mine.avg_price, theirs.qty * theirs.avg_entry_price
    if not math.isclose(float(simple), ratio, rel_tol=1e-9) or simple == 1:
        return None
    if not math.isclose(cost, cost_now, rel_tol=1e-6, abs_tol=0.01):
        return None
    return ratio


def _split(symbol: str, mine: LivePosition, theirs: Position, ratio: float) -> Difference:
    simple = Fraction(ratio).limit_denominator(SPLIT_DENOMINATOR)
    return Difference(
        "position",
        symbol,
        f"the broker holds {theirs.qty:g} {symbol} at {theirs.avg_entry_price:g} where the "
        f"loop had {mine.qty:g} at {mine.avg_price:g}, with no fill",
        explained=True,
        why=f"a {simple.numerator}-for-{simple.denominator} split re-based the position at "
        "the same cost; its stop goes back at the adjusted price",
    )


def _position_after(symbol, mine, theirs, seen, trails, laddered, now) -> LivePosition:
    bought = [f for f in seen if f.order.side == "buy"]
    if mine is not None:
        position = replace(mine, qty=theirs.qty, avg_price=theirs.avg_entry_price)
        if position.ladder is not None:
            position = replace(position, ladder=_legs_after(position.ladder, seen))
        return replace(position, last_buy_at=now) if bought else position
    entry = next((f.order for f in bought if f.order.purpose == "entry"), None)
    owner = entry.config_id if entry else (bought[0].order.config_id if bought else None)
    found = LivePosition(
        symbol=symbol, config_id=owner, qty=theirs.qty, avg_price=theirs.avg_entry_price,
        opened_at=now, last_buy_at=now, entry_bar=entry.decision_bar if entry else None,
    )  # fmt: skip
    if entry is None:
        return found  # bought by no decision of a config's: no stop, no target
    if laddered(owner):
        # Each leg keeps its own stop: the position has none of its own.
        return replace(found, ladder=_legs_after(Ladder(), seen))
    fraction = entry.stop_fraction if entry.stop_fraction is not None else math.nan
    stopped = not math.isnan(fraction)
    return replace(
        found, stop_fraction=fraction, stop_anchor=entry.decision_price if stopped else math.nan,
        trails=stopped and trails(owner), target_price=entry.take_profit_price,
    )  # fmt: skip


def _legs_after(ladder: Ladder, seen: list[FillSeen]) -> Ladder:
    """A laddered position's legs after these fills (buys first): a strategy's buy adds to
    the leg its id names, with the stop it was decided with; a leg's stop sells that leg;
    any other sale (an exit, a trader's) sells from the last leg back."""
    for fill in seen:
        order = fill.order
        leg = ids.leg_of(order.client_order_id)
        if order.side == "buy":
            if order.purpose != "entry":
                continue  # a trader's buy adds shares to no leg
            fraction = math.nan if order.stop_fraction is None else order.stop_fraction
            anchor = math.nan if math.isnan(fraction) else (order.decision_price or math.nan)
            ladder = ladder.bought(leg, fill.qty, fill.price, fraction, anchor)
        else:
            ladder = ladder.sold(fill.qty, leg if order.purpose == "stop" else None)
    return ladder


def _describe(order: Order) -> str:
    price = f" at {order.stop_price or order.limit_price:g}" if order.type != "market" else ""
    return (
        f"{order.side} {order.qty:g} {order.symbol} {order.type}{price} "
        f"({order.client_order_id}, {order.status})"
    )
