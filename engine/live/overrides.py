"""The trader's commands: what each one does, as a resolution the loop writes.

The control room (or ``wb kill-switch``, ``wb flatten``, ...) queues commands
(:mod:`engine.live.commands`); the loop applies the pending ones at the start of each step
and between steps (:meth:`engine.live.loop.LiveLoop.apply_commands`). A handler here sees
only a :class:`CommandContext` (the books now, the order router, the gate), never the
loop, and gives back a :class:`Resolution`: applied or denied, with what happened or why
not, the orders it sent and the controls it sets. The loop writes each resolution in one
transaction. Orders a command sends go through the one order path
(:mod:`engine.live.router`): the risk gate like any other (a trader's order that reduces
a position passes even a halt), and client order ids made from the command's number, so
a command applied again after a crash sends nothing twice.

What each trading state lets through is :mod:`engine.risk.states`; the commands move the
book between them:

- ``kill_switch`` on: trading REDUCING (no new entries; exits and protective stops still
  go), open entry orders canceled; off: the switch released (and the REDUCING it caused
  lifted; a halt stays).
- ``halt``: trading HALTED (no orders but a trader's own reducing ones), open entry orders
  canceled; stops resting at the broker stay.
- ``resume_trading``: ACTIVE again (REDUCING while the kill switch is on).
- ``flatten_all``: every open order canceled, every position closed at market.
- ``pause_strategy`` / ``resume_strategy``: a config stops entering / may enter again.
- ``close_position``: one position closed at market (its stop canceled first).
- ``manual_order``: the trader's order, through the gate.
- ``tighten_stop``: a position's stop raised (never lowered), kept by the loop from then on.
- ``cancel_order``: one open order canceled at the broker (not a held position's
  protective stop, which the loop would put back at its next step).
- ``set_risk_limits``: new limits, validated; the change is in the event.
- ``approve_proposal`` / ``reject_proposal``: a proposed entry sent through the gate
  (once, even across a crash) / refused for good (:mod:`engine.live.approvals`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from engine.brokers.base import Broker, Order
from engine.errors import NotFoundError
from engine.live import approvals, ledger
from engine.live.alerts import Alert, notifier_from
from engine.live.commands import (
    ApproveProposal,
    CancelOrder,
    ClosePosition,
    FlattenAll,
    Halt,
    KillSwitch,
    ManualOrder,
    PauseStrategy,
    RejectProposal,
    ResumeStrategy,
    ResumeTrading,
    SetRiskLimits,
    TightenStop,
    resolve_command,
)
from engine.live.journal import Event
from engine.live.ledger import Records
from engine.live.orders import closing_order, command_order
from engine.live.records import LiveOrder, LivePosition
from engine.live.router import Judge, OrderRouter, Routed
from engine.risk import (
    LimitsError,
    RiskLimits,
    TradingState,
    limits_diff,
    limits_from_mapping,
    states,
)
from engine.store.events import append_events, utcnow

#: Commands that send orders: they wait until the loop has stepped once (it prices them
#: against the day's bars and checks them with the gate).
TRADING = (FlattenAll, ClosePosition, ManualOrder, TightenStop, ApproveProposal)


@dataclass(frozen=True)
class CommandContext:
    """What a command may use: the time, the loop's configs, its books, the router, the gate."""

    now: datetime
    config_ids: frozenset[str]
    records: Callable[[], Records]  # the loop's books as they are now
    router: OrderRouter
    judge: Judge  # the risk gate against the account as it is now


@dataclass
class Resolution:
    """What a command did, for the loop to write in one transaction with its resolution."""

    applied: bool
    result: str
    #: Trading controls the command sets: (key, value, reason), in the trader's name.
    controls: list[tuple[str, Any, str]] = field(default_factory=list)
    orders: list[LiveOrder] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    positions: list[LivePosition] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    #: Proposals the command moves on: (proposal id, state, note).
    proposals: list[tuple[int, str, str]] = field(default_factory=list)


def apply(context: CommandContext, command_id: int, actor: str, command) -> Resolution:
    """What ``command`` (number ``command_id``, from ``actor``) does now."""
    handler = {
        KillSwitch: kill_switch,
        Halt: halt,
        ResumeTrading: resume_trading,
        FlattenAll: flatten,
        PauseStrategy: pause,
        ResumeStrategy: unpause,
        ClosePosition: close_position,
        ManualOrder: manual_order,
        TightenStop: tighten_stop,
        CancelOrder: cancel_order,
        SetRiskLimits: set_limits,
        ApproveProposal: approve_proposal,
        RejectProposal: reject_proposal,
    }[type(command)]
    return handler(context, command_id, actor, command)


def write(con, resolution: Resolution, *, command_id: int, actor: str, book: str, by: str,
          now: datetime) -> None:  # fmt: skip
    """Writes ``resolution`` of command ``command_id`` on ``con``: controls set in ``actor``'s
    name, orders and positions in ``book``, the command resolved by ``by``."""
    for key, value, reason in resolution.controls:
        ledger.set_control(con, key, value, actor, reason=reason)
    if resolution.positions:
        ledger.save_positions(con, book, resolution.positions, [], now)
    if resolution.orders:
        ledger.save_orders(con, book, resolution.orders, now)
    if resolution.positions or resolution.orders:
        ledger.bump_version(con, book)  # a running loop's kept books are out of date
    if resolution.events:
        append_events(con, by, resolution.events)
    for proposal_id, state, note in resolution.proposals:
        approvals.set_state(con, proposal_id, state, by=actor, now=now, note=note,
                            command_id=command_id)  # fmt: skip
    resolve_command(
        None, command_id, applied=resolution.applied, result=resolution.result, by=by, con=con
    )


def _sent(routed: Routed, applied: bool, result: str, **effects) -> Resolution:
    """The resolution of a command whose orders went through ``routed``."""
    return Resolution(applied, result, orders=routed.sent, events=routed.events, **effects)


# -- the commands that set controls ----------------------------------------------------


def kill_switch(context: CommandContext, command_id, actor, command: KillSwitch) -> Resolution:
    controls = context.records().controls
    if command.on:
        canceled = context.router.cancel_entries()
        why = f"kill switch engaged by {actor}"
        # A halt is stricter than the kill switch's REDUCING: it stays until a trader resumes.
        state = states.stricter(controls.state, states.KILL_SWITCH_STATE)
        changes = [("kill_switch", {"on": True}, why)]
        if state is not controls.state:
            changes.append(("state", {"state": state.value, "reason": why}, why))
        stays = (
            ""
            if state is states.KILL_SWITCH_STATE
            else f" (stays {state.value}: {controls.reason})"
        )
        return Resolution(
            True,
            f"kill switch ON: trading {state.value}{stays}, {states.MEANING[state]}; "
            f"{canceled} open entry orders canceled",
            controls=changes,
            alerts=[Alert("halt", f"{why}: trading {state.value}, {states.MEANING[state]}")],
        )
    lifted = controls.state is not TradingState.ACTIVE and controls.reason.startswith("kill switch")
    result = "kill switch OFF" + ("; trading ACTIVE again" if lifted else "")
    if controls.state is not TradingState.ACTIVE and not lifted:
        result += (
            f"; trading stays {controls.state.value} ({controls.reason}) until a trader resumes it"
        )
    changes = [("kill_switch", {"on": False}, "released")]
    if lifted:
        changes.append(("state", {"state": "ACTIVE", "reason": ""}, "kill switch off"))
    return Resolution(True, result, controls=changes)


def halt(context: CommandContext, command_id, actor, command: Halt) -> Resolution:
    controls = context.records().controls
    canceled = context.router.cancel_entries()
    why = f"halted by {actor}" + (f": {command.reason}" if command.reason else "")
    meaning = states.MEANING[TradingState.HALTED]
    if controls.state is TradingState.HALTED:
        return Resolution(
            True,
            f"trading was already HALTED ({controls.reason}); {canceled} open entry orders canceled",
        )
    return Resolution(
        True,
        f"trading HALTED, {meaning}; {canceled} open entry orders canceled",
        controls=[("state", {"state": "HALTED", "reason": why}, why)],
        alerts=[Alert("halt", f"{why}: trading HALTED, {meaning}")],
    )


def resume_trading(context: CommandContext, command_id, actor, command) -> Resolution:
    controls = context.records().controls
    was = f"{controls.state.value}" + (f" ({controls.reason})" if controls.reason else "")
    # The kill switch holds the book at REDUCING until a trader releases it.
    to = states.KILL_SWITCH_STATE if controls.kill_switch else TradingState.ACTIVE
    if controls.kill_switch and controls.state is to:
        return Resolution(
            False, f"the kill switch is still ON: trading stays {was} until it is released"
        )
    reason = f"kill switch still on; resumed from {was}" if controls.kill_switch else ""
    return Resolution(
        True,
        f"trading {to.value} (was {was})"
        + ("; the kill switch is still ON" if controls.kill_switch else ""),
        controls=[
            ("state", {"state": to.value, "reason": reason}, f"resumed from {was}"),
            ("resumed_at", context.now.isoformat(), "resumed"),
        ],
    )


def pause(context: CommandContext, command_id, actor, command: PauseStrategy) -> Resolution:
    paused = set(context.records().controls.paused)
    if command.config_id in paused:
        return Resolution(True, f"config {command.config_id} was already paused")
    note = "" if command.config_id in context.config_ids else " (this loop does not trade it)"
    return Resolution(
        True,
        f"config {command.config_id} paused: no new entries{note}",
        controls=[("paused_configs", sorted(paused | {command.config_id}), "pause")],
    )


def unpause(context: CommandContext, command_id, actor, command: ResumeStrategy) -> Resolution:
    paused = set(context.records().controls.paused)
    if command.config_id not in paused:
        return Resolution(False, f"config {command.config_id} is not paused")
    return Resolution(
        True,
        f"config {command.config_id} may enter again",
        controls=[("paused_configs", sorted(paused - {command.config_id}), "resume")],
    )


def set_limits(context: CommandContext, command_id, actor, command: SetRiskLimits) -> Resolution:
    try:
        new = limits_from_mapping(command.limits, source="the new risk limits")
    except LimitsError as exc:
        return Resolution(False, exc.message)
    controls = context.records().controls
    # Stored limits that no longer validate are what this command is for: replace them.
    invalid = controls.limits_error
    changed = limits_diff(RiskLimits() if invalid else controls.limits, new)
    listing = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items()) or "no change"
    if invalid:
        listing = (
            f"replaced the invalid stored limits ({invalid.message}); from the defaults: {listing}"
        )
    return Resolution(
        True,
        f"risk limits set: {listing}",
        controls=[("risk_limits", new.to_mapping(), f"changed: {changed}")],
    )


def limits_after(controls, commands) -> RiskLimits:
    """The risk limits in force once ``commands`` apply in turn (invalid new limits are denied).

    The stored limits are read only when no valid new ones replace them: a queued change is
    how a trader mends stored limits that no longer validate (StoredLimitsError otherwise).
    """
    limits = None
    for command in commands:
        if isinstance(command, SetRiskLimits):
            try:
                limits = limits_from_mapping(command.limits, source="the new risk limits")
            except LimitsError:
                continue
    return controls.limits if limits is None else limits


# -- the commands that trade -----------------------------------------------------------


def flatten(context: CommandContext, command_id, actor, command: FlattenAll) -> Resolution:
    owners = {s: p.config_id for s, p in context.records().positions.items()}
    routed = context.router.flatten(command_id, actor, context.now, context.judge, owners)
    result = (
        f"flatten: {len(routed.submitted)} closing orders sent, "
        f"{routed.canceled} open orders canceled"
    )
    if routed.refusals:
        result += "; not closed: " + "; ".join(routed.refusals)
    return _sent(routed, not routed.refusals, result)


def flatten_directly(store, broker: Broker, command_id: int, actor: str) -> Routed:
    """Applies flatten command ``command_id`` through ``broker`` now, because no loop runs.

    The control room's way out when the loop is down: the same cancels and closing orders
    as :func:`flatten` (the same client order ids), sent ungated since no loop is there to
    gate them, recorded in the broker's book and resolved ``direct`` in one transaction, so
    a loop started later tracks them as its own.
    """
    now = utcnow()
    book = broker.book
    held = ledger.read_records(store, book, [], now, marks=False).positions
    router = OrderRouter(store, broker, book, notifier_from(None))
    routed = router.flatten(command_id, actor, now, None, {s: p.config_id for s, p in held.items()})
    result = (
        f"no live loop: sent {len(routed.submitted)} closing orders, canceled "
        f"{routed.canceled} open orders directly"
    )
    if routed.refusals:
        result += "; problems: " + "; ".join(routed.refusals)
    resolution = _sent(routed, not routed.refusals, result)
    store.transaction(
        lambda con: write(
            con, resolution, command_id=command_id, actor=actor, book=book, by="direct", now=now
        )
    )
    return routed


def close_position(context: CommandContext, command_id, actor, command: ClosePosition):
    router, symbol = context.router, command.symbol
    held = router.broker.position(symbol)
    if held is None or held.qty == 0:
        return Resolution(False, f"no open position in {symbol}")
    position = context.records().positions.get(symbol)
    # The stop holds the shares an exit must sell: canceled once the close is approved.
    sells = [o for o in router.broker.orders("open") if o.symbol == symbol and o.side == "sell"]
    order = closing_order(
        command_id, actor, context.now, held, what="close", replaces=sells,
        owner=position.config_id if position else None,
    )  # fmt: skip
    routed = router.send([order], context.judge, command=command_id)
    what = f"{order.request.side} {abs(held.qty):g} {symbol} at market sent"
    return _outcome(routed, router, what)


def manual_order(context: CommandContext, command_id, actor, command: ManualOrder) -> Resolution:
    position = context.records().positions.get(command.symbol)
    order = command_order(
        command_id, actor, context.now, symbol=command.symbol, side=command.side,
        qty=command.qty, what="order", owner=position.config_id if position else None,
        type=command.order_type, limit_price=command.limit_price, stop_price=command.stop_price,
    )  # fmt: skip
    routed = context.router.send([order], context.judge, command=command_id)
    qty = routed.sent[0].qty if routed.sent else command.qty
    notes = f" ({'; '.join(routed.notes)})" if routed.notes else ""
    return _outcome(
        routed,
        context.router,
        f"{command.side} {qty:g} {command.symbol} {command.order_type} sent{notes}",
    )


def tighten_stop(context: CommandContext, command_id, actor, command: TightenStop) -> Resolution:
    symbol, price = command.symbol, command.stop_price
    position = context.records().positions.get(symbol)
    if position is None:
        return Resolution(False, f"no open position in {symbol} that the loop keeps")
    current = position.stop_price
    if current is not None and price <= current:
        return Resolution(
            False,
            f"a stop at {price:g} would not tighten the stop on {symbol} at {current:g}: "
            "stops only move up",
        )
    router = context.router
    resting = [
        o
        for o in router.broker.orders("open")
        if o.symbol == symbol and o.side == "sell" and o.type == "stop"
    ]
    # The position's target stays with the tighter stop (one bracket), unless the trader
    # raised the stop to it or past it.
    target = position.target_price
    order = command_order(
        command_id, actor, context.now, symbol=symbol, side="sell", qty=position.qty,
        what="stop", owner=position.config_id, purpose="stop", type="stop", stop_price=price,
        take_profit_price=target if target is not None and target > price else None,
        replaces=resting,
    )  # fmt: skip
    routed = router.send([order], context.judge, command=command_id)
    sent = routed.sent[0].stop_price if routed.sent else price  # on the broker's tick
    was = f"{current:g}" if current is not None else "none"
    resolution = _outcome(routed, router, f"stop on {symbol} raised to {sent:g} (was {was})")
    if resolution.applied:
        resolution.positions = [replace(position, manual_stop=sent)]
    return resolution


def _outcome(routed: Routed, router: OrderRouter, done: str) -> Resolution:
    """A one-order command's resolution: ``done`` if it went, else why not."""
    if routed.denied:
        return _sent(routed, False, routed.refusals[0])
    if routed.rejected:
        reason = routed.sent[0].reason
        return _sent(routed, False, f"{router.broker.name} rejected it: {reason}")
    return _sent(routed, True, done)


def cancel_order(context: CommandContext, command_id, actor, command: CancelOrder) -> Resolution:
    return cancel_at_broker(context.router.broker, command, context.records().positions)


def cancel_directly(store, broker: Broker, command_id: int, actor: str, command: CancelOrder):
    """Applies cancel command ``command_id`` through ``broker`` now, because no loop runs.

    The same checks and answer as when a loop applies it, resolved ``direct``; gives the
    :class:`Resolution` (its ``applied`` and ``result`` are what the trader is told).
    """
    now = utcnow()
    held = ledger.read_records(store, broker.book, [], now, marks=False).positions
    resolution = cancel_at_broker(broker, command, held)
    store.transaction(
        lambda con: write(
            con,
            resolution,
            command_id=command_id,
            actor=actor,
            book=broker.book,
            by="direct",
            now=now,
        )  # fmt: skip
    )
    return resolution


def cancel_at_broker(broker: Broker, command: CancelOrder, positions: dict) -> Resolution:
    """Cancels the command's order at ``broker`` unless :func:`cancel_refusal` says why not;
    the result says what the broker answered."""
    try:
        order = broker.get_order(command.order_id)
    except NotFoundError:
        return Resolution(False, f"{broker.name} has no order {command.order_id}")
    refusal = cancel_refusal(order, positions)
    if refusal:
        return Resolution(False, refusal)
    answer = broker.cancel(order.id)
    what = describe_order(order)
    if answer.status == "canceled":
        return Resolution(True, f"{what} canceled")
    if answer.is_open:
        return Resolution(
            True,
            f"cancel of {what} asked; {broker.name} has not confirmed it yet ({answer.status})",
        )
    return Resolution(False, f"{what} was {answer.status} before the cancel reached it")


def cancel_refusal(order: Order, positions: dict[str, LivePosition]) -> str | None:
    """Why ``order`` cannot be canceled (None: it can): closed already, or the protective stop
    of a position the loop keeps (it would put the stop back at its next step)."""
    what = describe_order(order)
    if not order.is_open:
        return f"{what} is already {order.status}: nothing to cancel"
    held = positions.get(order.symbol)
    protective = (
        order.type in ("stop", "stop_limit") and order.side == "sell"
        and held is not None and held.qty > 0 and held.config_id is not None
        and held.stop_price is not None
    )  # fmt: skip
    if protective:
        return (
            f"{what} is the protective stop of the {held.qty:g} {order.symbol} the loop keeps, "
            "and the loop would put it back at its next step: tighten the stop, or close the position"
        )
    return None


def describe_order(order: Order) -> str:
    """``sell 10 GE stop $18.50 (order abc123)``: an order in a trader's words."""
    price = order.limit_price if order.type == "limit" else order.stop_price
    at = f" ${price:,.2f}" if price is not None else ""
    return f"{order.side} {order.qty:g} {order.symbol} {order.type}{at} (order {order.id})"


# -- entries a trader approves (engine.live.approvals) ------------------------------------


def approve_proposal(context: CommandContext, command_id, actor, command: ApproveProposal):
    """Sends the proposed entry through the one order path, once (see engine.live.approvals)."""
    store, router = context.router.store, context.router
    try:
        proposal = approvals.get(store, command.proposal_id)
    except NotFoundError as exc:
        return Resolution(False, exc.message)
    if proposal.book != router.book:
        return Resolution(False, f"proposal #{proposal.id} is for the book {proposal.book}, "
                                 f"not {router.book} that this loop trades")  # fmt: skip
    refusal = approvals.refusal(proposal, context.now, command_id=command_id)
    resumed = proposal.state == approvals.IN_FLIGHT
    if resumed and context.now >= proposal.expires_at:
        # Approved in time, then a crash: what reached the broker is recorded; nothing goes late.
        try:
            router.broker.get_order_by_client_id(proposal.client_order_id)
        except NotFoundError:
            note = "approved, but not sent before it expired (the loop was down)"
            return Resolution(False, note, proposals=[(proposal.id, "expired", note)])
    elif refusal:
        expired = proposal.state == approvals.WAITING and context.now >= proposal.expires_at
        return Resolution(False, refusal,
                          proposals=[(proposal.id, "expired", refusal)] if expired else [])  # fmt: skip
    if proposal.config_id not in context.config_ids:
        return Resolution(False, f"this loop does not trade config {proposal.config_id} of "
                                 f"proposal #{proposal.id}")  # fmt: skip
    if not resumed:
        # Marked approved before it goes: a crash after sending leaves the command pending,
        # applied again under the same client order id (the broker gives back its order).
        store.transaction(lambda con: approvals.set_state(
            con, proposal.id, approvals.IN_FLIGHT, by=actor, now=context.now,
            command_id=command_id))  # fmt: skip
    order = proposal.entry_order(actor, context.now)
    routed = router.send([order], context.judge, command=command_id)
    resolution = _outcome(routed, router, f"proposal {proposal.describe()} approved by {actor}: "
                                          "entry sent")  # fmt: skip
    state = "sent" if resolution.applied else "denied"
    resolution.proposals = [(proposal.id, state, "" if resolution.applied else resolution.result)]
    return resolution


def reject_proposal(context: CommandContext, command_id, actor, command: RejectProposal):
    """Refuses the proposed entry: it is never sent."""
    try:
        proposal = approvals.get(context.router.store, command.proposal_id)
    except NotFoundError as exc:
        return Resolution(False, exc.message)
    refusal = approvals.refusal(proposal, context.now)
    if refusal:
        return Resolution(False, refusal)
    why = command.reason or "no reason given"
    return Resolution(
        True,
        f"proposal {proposal.describe()} rejected by {actor}: {why}",
        proposals=[(proposal.id, "rejected", why)],
    )
