"""The one way an order leaves the workbench: gate, controls recheck, cancel, submit, record.

The loop's step, the trader's commands (:mod:`engine.live.overrides`) and the control
room's direct flatten all send through :class:`OrderRouter`:

1. **gate**: every price put on the broker's tick first (what the gate judges is what is
   sent), then the caller's judge (the risk gate against the account as it is now)
   decides each order; a denial becomes an ``order.denied`` event, and an alert when its
   rule says so (:mod:`engine.risk.rule_facts`);
2. **the trader's controls, again**: the kill switch and a halt are checked once more
   right before sending, because a trader may have pressed one while the orders were being
   decided; the orders the state they ask for stops (:mod:`engine.risk.states`) are
   denied too (a caller holding the store file open, which no other process can write
   meanwhile, passes the controls it read in that hold instead);
3. **cancel**: the resting orders the approved ones replace or exit (a broker reserves the
   shares a stop would sell), in one call that waits until the broker has done them; an
   order whose cancel the broker has not confirmed still holds its shares, so the order
   replacing it is held back (``order.denied``, rule ``cancel_pending``) for the next step;
4. **submit**: the approved orders together; a broker's refusal is recorded with its
   reason, HTTP status and code, and alerted;
5. **record**: the orders and their events come back for the caller to write in its own
   transaction (a step's with its fills, a command's with its resolution).

"Cancel everything, close each position" (:meth:`OrderRouter.flatten`) and the kill
switch's cancels (:meth:`OrderRouter.cancel_entries`) are written here once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from engine.brokers.base import Broker, Order, OrderRejected
from engine.live import journal
from engine.live.alerts import Alert, Notifiers
from engine.live.orders import PendingOrder, closing_order
from engine.live.records import Controls, LiveOrder
from engine.risk import Decision, OrderIntent, TradingState, states

#: Decides a batch of order intents together (the risk gate against the account now).
Judge = Callable[[list[OrderIntent]], list[Decision]]

KILL_SWITCH_DURING = "the kill switch was engaged during the step"
CANCEL_PENDING = (
    "the cancel of the order holding its shares is not confirmed by {broker} yet; it goes at "
    "the next step"
)


@dataclass
class Routed:
    """What one send did: the orders to record, their events, and each order's fate."""

    sent: list[LiveOrder] = field(default_factory=list)  # submitted or rejected
    events: list[journal.Event] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)  # client order ids
    rejected: list[str] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)
    #: Why each denied or rejected order did not go, in the trader's words.
    refusals: list[str] = field(default_factory=list)
    #: What the gate changed or marked on the orders it approved (a smaller size, a flag).
    notes: list[str] = field(default_factory=list)
    #: A trading state the gate found (e.g. HALTED), with its reason, for the caller to keep.
    state_change: tuple[TradingState, str] | None = None
    #: The broker's answer for each submitted order, by client order id.
    answers: dict[str, Order] = field(default_factory=dict)
    canceled: int = 0
    #: Orders the gate approved that wait for a trader instead (engine.live.approvals), each
    #: with why.
    held: list[tuple[PendingOrder, str]] = field(default_factory=list)


class OrderRouter:
    """Sends orders to ``broker`` for ``book`` the one way (see the module docstring)."""

    def __init__(self, store, broker: Broker, book: str, notifier: Notifiers):
        self.store = store
        self.broker = broker
        self.book = book
        self.notifier = notifier

    # -- the one path ------------------------------------------------------------------

    def send(
        self,
        pending: list[PendingOrder],
        judge: Judge | None,
        *,
        command: int | None = None,
        hold: Callable[[PendingOrder], str | None] | None = None,
        held_controls: Controls | None = None,
    ) -> Routed:
        """Each of ``pending`` gated, checked against the kill switch, and sent.

        ``judge`` None sends ungated: only for the control room's direct flatten, the
        trader's own exit when no loop runs to gate it (it only closes positions).
        ``command`` names the trader's command the orders carry out, in their events.
        ``hold`` says why an approved order waits for a trader (None: it goes); those
        orders come back in ``held``, unsent. ``held_controls``: the trader's controls the
        judge saw, read while this process holds the store file open
        (:meth:`~engine.store.Store.hold`), which no other process can write until it lets
        go: the check right before sending takes them instead of reading them again.
        """
        routed = Routed()
        pending = [item.on_tick(self.broker.capabilities) for item in pending]
        approved = pending if judge is None else self._gate(pending, judge, routed)
        if judge is not None:
            approved = self._recheck_controls(approved, routed, held_controls)
        if hold is not None:
            waits = [(item, hold(item)) for item in approved]
            routed.held = [(item, why) for item, why in waits if why]
            approved = [item for item, why in waits if not why]
        replaced = [o for item in approved for o in item.replaces]
        routed.canceled = len(replaced)
        approved = self._held_back(approved, self._cancel(replaced), routed)
        self._submit(approved, routed)
        routed.events += journal.orders(self.book, routed.sent, command=command)
        return routed

    def _gate(self, pending: list[PendingOrder], judge: Judge, routed: Routed):
        approved = []
        decisions = judge([p.intent for p in pending]) if pending else []
        for item, decision in zip(pending, decisions, strict=True):
            if decision.state_change is not None:
                routed.state_change = (decision.state_change, decision.state_reason)
            if decision.approved:
                approved.append(item.resized(decision.qty))
                routed.notes += decision.notes
                continue
            routed.denied.append(item.client_order_id)
            routed.refusals.append(decision.reason)
            routed.events.append(journal.denied(self.book, decision))
            if decision.alerts:
                self.notifier.send(Alert("limit", decision.reason, {"rule": decision.rule}))
        return approved

    def _recheck_controls(self, approved: list[PendingOrder], routed: Routed,
                          held: Controls | None = None):  # fmt: skip
        """The approved orders that the trader's controls, as they stand now (``held``: as
        read in this hold of the store, so still), still let go."""
        if not approved:
            return approved  # most steps: nothing to send, nothing to ask the store
        state, rule = controls_now(self.store) if held is None else strictest(held)
        if state is TradingState.ACTIVE:
            return approved
        reason = (
            KILL_SWITCH_DURING if rule == "kill_switch" else f"trading was {state} during the step"
        )
        kept = []
        for item in approved:
            if states.lets_through(state, item.intent):
                kept.append(item)
                continue
            routed.denied.append(item.client_order_id)
            routed.refusals.append(reason)
            routed.events.append(
                ("order.denied", item.intent.symbol,
                 {"rule": rule, "reason": reason,
                  "client_order_id": item.client_order_id, "book": self.book})
            )  # fmt: skip
        return kept

    def cancel(self, orders: list[Order]) -> int:
        """Cancels ``orders`` at the broker (one call); gives how many were asked."""
        self._cancel(orders)
        return len(orders)

    def _cancel(self, orders: list[Order]) -> list[Order]:
        """The broker's answers to canceling ``orders`` (waited for, where cancels take time)."""
        return self.broker.cancel_many([o.id for o in orders]) if orders else []

    def _held_back(self, approved: list[PendingOrder], answers: list[Order], routed: Routed):
        """The approved orders whose replaced orders are all closed; the rest are held back.

        A cancel the broker has not confirmed leaves the shares held, and a sale of them
        would be refused, leaving neither the stop nor the exit in place.
        """
        still_open = {o.id for o in answers if o.is_open}
        if not still_open:
            return approved
        reason = CANCEL_PENDING.format(broker=self.broker.name)
        ready = []
        for item in approved:
            if not any(o.id in still_open for o in item.replaces):
                ready.append(item)
                continue
            routed.denied.append(item.client_order_id)
            routed.refusals.append(f"{item.request.symbol}: {reason}")
            routed.events.append(
                ("order.denied", item.intent.symbol,
                 {"rule": "cancel_pending", "reason": reason,
                  "client_order_id": item.client_order_id, "book": self.book})
            )  # fmt: skip
            self.notifier.send(
                Alert("broker", f"{item.client_order_id} held back: {reason}",
                      {"client_order_id": item.client_order_id})
            )  # fmt: skip
        return ready

    def _submit(self, approved: list[PendingOrder], routed: Routed) -> None:
        results = self.broker.submit_many([item.request for item in approved]) if approved else []
        for item, result in zip(approved, results, strict=True):
            cid = item.client_order_id
            if isinstance(result, OrderRejected):
                routed.rejected.append(cid)
                routed.refusals.append(f"{item.request.symbol}: {result.detail}")
                routed.sent.append(replace(item.record, status="rejected", reason=result.detail))
                self.notifier.send(
                    Alert(
                        "rejected",
                        f"{self.broker.name} rejected {cid}: {result.detail}",
                        {"client_order_id": cid, "status": result.status_code,
                         "code": result.code},
                    )
                )  # fmt: skip
                continue
            routed.submitted.append(cid)
            routed.answers[cid] = result
            routed.sent.append(replace(item.record, broker_order_id=result.id))

    # -- what a trader's overrides do --------------------------------------------------

    def flatten(
        self,
        command: int,
        actor: str,
        now: datetime,
        judge: Judge | None,
        owners: dict[str, str | None],
    ) -> Routed:
        """Every open order canceled, then every position closed at market.

        ``owners`` names the config each symbol's position belongs to, for the records.
        The closing orders are named by the command, so flattening again sends nothing twice.
        """
        open_orders = self.broker.orders("open")
        # Those whose cancel is not confirmed yet go again with the close that needs their
        # shares, which waits for them (or is held back) like any replacing order.
        pending = [o for o in self._cancel(open_orders) if o.is_open]
        closing = [
            closing_order(command, actor, now, p, owner=owners.get(p.symbol), what="flatten",
                          replaces=[o for o in pending if o.symbol == p.symbol])
            for p in self.broker.positions()
            if p.qty != 0
        ]  # fmt: skip
        routed = self.send(closing, judge, command=command)
        routed.canceled = len(open_orders)
        return routed

    def cancel_entries(self) -> int:
        """Cancels every open buy (the kill switch and a halt stop new risk); gives how many."""
        return self.cancel([o for o in self.broker.orders("open") if o.side == "buy"])


def controls_now(store) -> tuple[TradingState, str]:
    """The strictest state the trader's controls ask for now, and the rule that says so.

    What is set, and what a command not yet applied asks for (a kill switch on, a halt):
    a trader who pressed one during a step is obeyed before the step's orders go.
    """
    (kill, state, kill_asked, halt_asked), = store.rows(
        "SELECT (SELECT value FROM trading_state WHERE key = 'kill_switch') AS kill,"
        " (SELECT value FROM trading_state WHERE key = 'state') AS state,"
        " (SELECT count(*) FROM commands WHERE status = 'pending' AND kind = 'kill_switch'"
        "  AND json_extract(payload, '$.on')::BOOLEAN) AS kill_asked,"
        " (SELECT count(*) FROM commands WHERE status = 'pending' AND kind = 'halt') AS halt_asked"
    )
    stored = {k: json.loads(v) for k, v in (("kill", kill), ("state", state)) if v is not None}
    controls = Controls.from_values(
        {"kill_switch": stored.get("kill", False), "state": stored.get("state")}
    )
    return strictest(controls, kill_asked=bool(kill_asked), halt_asked=bool(halt_asked))


def strictest(controls: Controls, *, kill_asked: bool = False,
              halt_asked: bool = False) -> tuple[TradingState, str]:  # fmt: skip
    """The strictest state ``controls`` (and a kill switch or halt asked but not applied
    yet) put trading in, and the rule that says so."""
    if controls.state is TradingState.HALTED or halt_asked:
        return TradingState.HALTED, "trading_state"
    if controls.kill_switch or kill_asked:
        return states.KILL_SWITCH_STATE, "kill_switch"
    return controls.state, "trading_state"
