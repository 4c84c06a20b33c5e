"""The loop's book through a split or a cash dividend, from the data layer's records.

Reconciliation (:mod:`engine.live.reconcile`) takes in each recorded corporate action
whose ex-date the book has reached and not yet recorded (``live_adjustments`` keeps which,
so a restart never takes one twice):

- **split**: once the broker holds the split-adjusted position (the loop's shares times
  the ratio, or its whole part when the fraction was paid in cash), the loop's position
  takes the new shares, its average cost, stop anchor, trader's stop and target divided by
  the ratio, and its open orders of that symbol the same (see
  :mod:`engine.brokers.corporate_actions`). A broker still showing the old shares has not
  applied it yet: nothing changes and it is looked at again next step.
- **cash dividend**: the shares held into the ex-date earn it, into the sub-book of the
  config that holds them (cash the broker's check then expects).

Pure: records in, records out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

from engine.brokers.base import Position
from engine.brokers.corporate_actions import (
    QTY_EPSILON,
    SUB_DOLLAR_TICK,
    US_EQUITY_TICK,
    dividend_cash,
    split_order_qty,
    split_price,
    split_shares,
)
from engine.data.corporate_actions import SPLIT, CorporateAction
from engine.live.records import Difference, LiveOrder, LivePosition


@dataclass(frozen=True)
class Adjustment:
    """A corporate action the loop took into its book: shares before and after, cash."""

    action: CorporateAction
    config_id: str | None
    qty_before: float
    qty_after: float
    cash: float  # the dividend, or the cash in lieu of a fraction (an estimate at the last price)

    def row(self) -> dict[str, Any]:
        """Its ``live_adjustments`` columns, less the book and when."""
        a = self.action
        return {
            "symbol": a.symbol, "kind": a.kind, "ex_date": a.ex_date, "config_id": self.config_id,
            "ratio": a.ratio, "amount": a.amount, "qty_before": self.qty_before,
            "qty_after": self.qty_after, "cash": self.cash,
        }  # fmt: skip

    def payload(self) -> dict[str, Any]:
        return {
            **self.row(),
            "ex_date": self.action.ex_date.isoformat(),
            "what": self.action.describe(),
        }


@dataclass(frozen=True)
class Taken:
    """The book after the corporate actions: positions, re-based orders, what was taken."""

    positions: dict[str, LivePosition]
    orders: dict[str, LiveOrder]  # re-based records by client order id
    adjustments: list[Adjustment]
    differences: list[Difference]


def take_actions(
    positions: dict[str, LivePosition],
    orders: dict[str, LiveOrder],
    broker_positions: dict[str, Position],
    fill_qty: dict[str, float],
    actions: Sequence[CorporateAction],
    recorded: Iterable[tuple[str, str, Any]],
) -> Taken:
    """``positions`` and ``orders`` after the ``actions`` not ``recorded`` yet (keys: symbol,
    kind, ex-date).

    ``orders`` are the loop's orders that were open before the actions, by client order
    id (their fills since, in post-split shares, included); ``fill_qty`` the signed shares
    of each symbol the broker filled since the loop last looked.
    """
    positions, orders = dict(positions), dict(orders)
    done = set(recorded)
    taken: list[Adjustment] = []
    notes: list[Difference] = []
    for action in actions:
        mine = positions.get(action.symbol)
        if action.key in done or mine is None or abs(mine.qty) <= QTY_EPSILON:
            continue
        if action.kind != SPLIT:
            cash = dividend_cash(mine.qty, action.amount)
            taken.append(Adjustment(action, mine.config_id, mine.qty, mine.qty, cash))
            continue
        theirs = broker_positions.get(action.symbol)
        before_fills = (theirs.qty if theirs else 0.0) - fill_qty.get(action.symbol, 0.0)
        if abs(before_fills - mine.qty) <= QTY_EPSILON * max(1.0, abs(mine.qty)):
            continue  # the broker has not applied it yet: look again next step
        price = theirs.market_price if theirs and theirs.market_price else None
        shares = split_shares(
            mine.qty, action.ratio, None if price is None else price * action.ratio
        )
        whole, exact = shares.qty, mine.qty * action.ratio
        held = next(
            (q for q in (whole, exact) if abs(before_fills - q) <= QTY_EPSILON * max(1.0, abs(q))),
            None,
        )
        if held is None:
            continue  # not the split's shares: reconciliation says what differs
        fraction = exact - held
        positions[action.symbol] = rebased(
            replace(mine, qty=held, avg_price=mine.avg_price / action.ratio), action.ratio
        )
        for cid, order in orders.items():
            if order.symbol == action.symbol:
                orders[cid] = rebased_order(order, action.ratio)
        taken.append(
            Adjustment(action, mine.config_id, mine.qty, held, fraction * (shares.price or 0.0))
        )
        lieu = f", {fraction:g} share(s) paid in cash" if abs(fraction) > QTY_EPSILON else ""
        notes.append(
            Difference(
                "position",
                action.symbol,
                f"the broker holds {held:g} {action.symbol} where the loop had {mine.qty:g}, "
                f"with no fill{lieu}",
                explained=True,
                why=f"the recorded {action.describe()}: the position, its stop and target re-based",
            )
        )
    return Taken(positions, orders, taken, notes)


def rebased(position: LivePosition, ratio: float) -> LivePosition:
    """``position``'s stop levels after a ``ratio``-for-1 split: divided by the ratio (a
    ladder's legs' too, their shares multiplied by it and their prices divided)."""
    manual = position.manual_stop
    ladder = position.ladder
    if ladder is not None:
        legs = tuple(
            replace(leg, qty=leg.qty * ratio, price=leg.price / ratio,
                    stop_anchor=leg.stop_anchor / ratio)
            for leg in ladder.legs
        )  # fmt: skip
        ladder = replace(ladder, legs=legs, first_qty=ladder.first_qty * ratio)
    return replace(
        position,
        stop_anchor=position.stop_anchor / ratio,
        manual_stop=None if manual is None else manual / ratio,
        target_price=None if position.target_price is None else position.target_price / ratio,
        ladder=ladder,
    )


def rebased_order(order: LiveOrder, ratio: float) -> LiveOrder:
    """The loop's record of an open order after a split, as the broker re-bases it."""
    buy = order.side == "buy"

    def moved(price: float | None, up: bool) -> float | None:
        if price is None:
            return None
        tick = SUB_DOLLAR_TICK if price / ratio < 1 else US_EQUITY_TICK
        return split_price(price, ratio, tick, up=up)

    return replace(
        order,
        qty=split_order_qty(order.qty, ratio),
        limit_price=moved(order.limit_price, up=not buy),
        stop_price=moved(order.stop_price, up=buy),
        stop_loss_price=moved(order.stop_loss_price, up=False),
        take_profit_price=moved(order.take_profit_price, up=True),
        decision_price=None if order.decision_price is None else order.decision_price / ratio,
    )


#: At most this many dividends are tried together to explain a cash gap (2**n sums).
MOST_DIVIDENDS_TRIED = 12


def dividends_paid(
    gap: float, due: Sequence[Adjustment], tolerance: float
) -> list[Adjustment] | None:
    """The dividends whose payment makes up a cash ``gap`` the fills leave, within
    ``tolerance``: ``[]`` when there is no gap, None when no set of them explains it."""
    if abs(gap) <= tolerance:
        return []
    due = list(due)[-MOST_DIVIDENDS_TRIED:]
    for size in range(1, len(due) + 1):
        for paid in combinations(due, size):
            if abs(gap - sum(a.cash for a in paid)) <= tolerance:
                return list(paid)
    return None
