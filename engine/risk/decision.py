"""What the gate answers: each rule's outcome, and the decision on an order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.risk.gate_inputs import OrderIntent, TradingState


@dataclass(frozen=True, slots=True)
class Deny:
    """A rule's refusal: the order must not be sent, because ``reason``."""

    rule: str
    reason: str
    state_change: TradingState | None = None
    #: Why the state changes, without the order's words (what the control room shows).
    state_reason: str = ""


@dataclass(frozen=True, slots=True)
class Resize:
    """A rule's smaller quantity: the order may go, with ``qty`` shares, because ``reason``."""

    rule: str
    qty: float
    reason: str


@dataclass(frozen=True, slots=True)
class Flag:
    """A rule's mark on an approved order (e.g. ``wash_sale``) for the audit trail."""

    rule: str
    flag: str
    reason: str


@dataclass(frozen=True, slots=True)
class Escalate:
    """A rule's finding that the account must move to ``state`` (the loop persists it)."""

    rule: str
    state: TradingState
    reason: str


Outcome = Deny | Resize | Flag | Escalate


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's answer: approved or not, the quantity to send, and why.

    ``rule`` names the rule that denied the order (``"approved"`` otherwise). ``notes``
    say what rules changed (a smaller size) or marked; ``flags`` are marks such as
    ``wash_sale``. ``state_change`` is a trading state the loop must persist (e.g. HALTED
    after the weekly hard loss), with ``state_reason``. ``alerts`` says whether a denial
    should reach a person (see :mod:`engine.risk.rule_facts`).
    """

    approved: bool
    qty: float
    rule: str
    reason: str
    intent: OrderIntent
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    state_change: TradingState | None = None
    state_reason: str = ""
    #: Whether a person should be alerted to this denial (the denying rule says).
    alerts: bool = False

    def to_event_payload(self) -> dict[str, Any]:
        """The decision as the payload of an ``order.approved``/``order.denied`` event."""
        intent = self.intent
        return {
            "approved": self.approved,
            "rule": self.rule,
            "reason": self.reason,
            "qty": self.qty,
            "requested_qty": intent.qty,
            "symbol": intent.symbol,
            "side": str(intent.side),
            "purpose": str(intent.purpose),
            "order_type": str(intent.order_type),
            "limit_price": intent.limit_price,
            "stop_price": intent.stop_price,
            "config_id": intent.config_id,
            "bar": intent.bar.isoformat() if intent.bar else None,
            "actor": intent.actor,
            "flags": list(self.flags),
            "notes": list(self.notes),
            "state_change": str(self.state_change) if self.state_change else None,
            "state_reason": self.state_reason,
        }
