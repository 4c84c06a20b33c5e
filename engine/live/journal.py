"""The events a step writes, one kind per thing that happened, their payloads in one place.

``order.filled`` (enough to rebuild positions from the log alone, see
:func:`engine.live.ledger.replayed_positions`), ``order.submitted``, ``order.rejected``,
``order.denied``, ``reconcile.adopted`` / ``reconcile.difference``,
``corporate_action.taken`` (a split or dividend taken into the book), ``loop.step``.
Every payload names the book.
"""

from __future__ import annotations

from engine.live.adjustments import Adjustment
from engine.live.reconcile import FillSeen
from engine.live.records import Difference, LiveOrder

Event = tuple[str, str | None, dict]


def fills(book: str, seen: list[FillSeen]) -> list[Event]:
    return [
        (
            "order.filled",
            f.order.symbol,
            {
                "book": book,
                "client_order_id": f.order.client_order_id,
                "config_id": f.order.config_id,
                "side": f.order.side,
                "purpose": f.order.purpose,
                "qty": f.qty,
                "price": f.price,
                "fee": f.fee,
                "realised_pnl": f.realised_pnl,
            },
        )
        for f in seen
    ]


def orders(book: str, sent: list[LiveOrder], *, command: int | None = None) -> list[Event]:
    """``order.submitted`` or ``order.rejected`` for each order sent (naming the trader's
    command that sent it, if one did)."""
    return [
        (
            "order.rejected" if o.status == "rejected" else "order.submitted",
            o.symbol,
            {
                "book": book,
                "client_order_id": o.client_order_id,
                "config_id": o.config_id,
                "side": o.side,
                "purpose": o.purpose,
                "qty": o.qty,
                "type": o.type,
                "stop_price": o.stop_price,
                "stop_loss_price": o.stop_loss_price,
                "take_profit_price": o.take_profit_price,
                "decision_bar": o.decision_bar,
                "broker_order_id": o.broker_order_id,
                "reason": o.reason,
                **({"command": command} if command is not None else {}),
            },
        )
        for o in sent
    ]


def adjustments(book: str, taken: list[Adjustment]) -> list[Event]:
    """``corporate_action.taken`` for each split or dividend the book took in."""
    return [("corporate_action.taken", a.action.symbol, {**a.payload(), "book": book}) for a in taken]


def differences(book: str, found: list[Difference]) -> list[Event]:
    return [
        (
            "reconcile.adopted" if d.explained else "reconcile.difference",
            d.subject,
            {**d.payload(), "book": book},
        )
        for d in found
    ]


def denied(book: str, decision) -> Event:
    return ("order.denied", decision.intent.symbol, {**decision.to_event_payload(), "book": book})
