"""The trader's commands, applied by the loop: each one resolved with its effect, audited.

The control room (or ``wb kill-switch``, ``wb flatten``, ...) queues commands
(:mod:`engine.live.commands`); the loop applies the pending ones at the start of each step
and between steps. Each command is marked applied or denied, with what happened or why
not, in the same transaction as its effect on the store. Orders a command sends go
through the risk gate like any other (a trader's order that reduces a position passes
even a halt) and carry client order ids made from the command's number, so a command
applied again after a crash sends nothing twice.

- ``kill_switch`` on: trading HALTED, open entry orders canceled; off: the switch released
  (and a halt it caused lifted).
- ``resume_trading``: ACTIVE again (refused while the kill switch is on).
- ``flatten_all``: every open order canceled, every position sold at market.
- ``pause_strategy`` / ``resume_strategy``: a config stops entering / may enter again.
- ``close_position``: one position sold at market (its stop canceled first).
- ``manual_order``: the trader's order, through the gate.
- ``tighten_stop``: a position's stop raised (never lowered), kept by the loop from then on.
- ``set_risk_limits``: new limits, validated; the change is in the event.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from engine.brokers.base import OrderRejected, OrderRequest
from engine.live import books, ids
from engine.live.alerts import Alert
from engine.live.commands import (
    ClosePosition,
    FlattenAll,
    KillSwitch,
    ManualOrder,
    PauseStrategy,
    ResumeStrategy,
    ResumeTrading,
    SetRiskLimits,
    TightenStop,
    pending_commands,
    resolve_command,
)
from engine.live.gate_state import account_state
from engine.live.market import broker_view
from engine.live.model import LiveOrder
from engine.risk import LimitsError, OrderIntent, TradingState, limits_diff, limits_from_mapping

#: Commands that send orders: they wait until the loop has stepped once (it prices them
#: against the day's bars and checks them with the gate).
TRADING = (FlattenAll, ClosePosition, ManualOrder, TightenStop)


def apply_pending(loop, now: datetime, day: date | None = None) -> int:
    """Apply the pending commands, oldest first; gives how many were applied."""
    applied = 0
    day = day or loop.last_bar
    for command_id, actor, command in pending_commands(loop.store):
        if isinstance(command, TRADING) and day is None:
            continue  # no bar seen yet: applied at the first step
        _Apply(loop, now, day).run(command_id, actor, command)
        applied += 1
    return applied


class _Apply:
    """One command against the loop's store and broker."""

    def __init__(self, loop, now: datetime, day: date | None):
        self.loop = loop
        self.now = now
        self.day = day

    def records(self):
        return books.read_records(self.loop.store, self.loop.book, list(self.loop.by_id), self.now)

    def run(self, command_id: int, actor: str, command) -> None:
        handler = {
            KillSwitch: self.kill_switch,
            ResumeTrading: self.resume_trading,
            FlattenAll: self.flatten,
            PauseStrategy: self.pause,
            ResumeStrategy: self.unpause,
            ClosePosition: self.close_position,
            ManualOrder: self.manual_order,
            TightenStop: self.tighten_stop,
            SetRiskLimits: self.set_limits,
        }[type(command)]
        handler(command_id, actor, command)

    # -- resolving ---------------------------------------------------------------------

    def resolve(self, command_id, applied: bool, result: str, effect=None, orders=()) -> None:
        loop = self.loop

        def write(con):
            if effect is not None:
                effect(con)
            if orders:
                books.save_orders(con, loop.book, orders, self.now)
                books.append_events(
                    con,
                    loop.actor,
                    [
                        ("order.submitted" if o.status == "open" else "order.rejected", o.symbol,
                         {"book": loop.book, "client_order_id": o.client_order_id, "side": o.side,
                          "qty": o.qty, "type": o.type, "purpose": o.purpose, "command": command_id,
                          "reason": o.reason})
                        for o in orders
                    ],
                )  # fmt: skip
            resolve_command(
                loop.store, command_id, applied=applied, result=result, by=loop.actor, con=con
            )

        loop.store.transaction(write)

    def deny(self, command_id, why: str) -> None:
        self.resolve(command_id, False, why)

    # -- the commands ------------------------------------------------------------------

    def kill_switch(self, command_id, actor, command: KillSwitch) -> None:
        loop = self.loop
        if command.on:
            canceled = 0
            for order in loop.broker.orders("open"):
                if order.side == "buy":
                    loop.broker.cancel(order.id)
                    canceled += 1
            why = f"kill switch engaged by {actor}"

            def effect(con):
                books.set_control(con, "kill_switch", {"on": True}, actor, reason=why)
                books.set_control(
                    con, "state", {"state": "HALTED", "reason": why}, actor, reason=why
                )

            self.resolve(
                command_id,
                True,
                f"kill switch ON: trading HALTED; {canceled} open entry orders canceled",
                effect,
            )
            loop.notifier.send(Alert("halt", f"{why}: trading HALTED"))
            return
        controls = self.records().controls
        lifted = controls.state is TradingState.HALTED and controls.reason.startswith("kill switch")

        def effect(con):
            books.set_control(con, "kill_switch", {"on": False}, actor, reason="released")
            if lifted:
                books.set_control(
                    con, "state", {"state": "ACTIVE", "reason": ""}, actor, reason="kill switch off"
                )

        result = "kill switch OFF" + ("; trading ACTIVE again" if lifted else "")
        if controls.state is TradingState.HALTED and not lifted:
            result += f"; trading stays HALTED ({controls.reason}) until a trader resumes it"
        self.resolve(command_id, True, result, effect)

    def resume_trading(self, command_id, actor, command) -> None:
        controls = self.records().controls
        if controls.kill_switch:
            return self.deny(command_id, "the kill switch is still ON: release it first")
        was = f"{controls.state.value}" + (f" ({controls.reason})" if controls.reason else "")

        def effect(con):
            books.set_control(
                con, "state", {"state": "ACTIVE", "reason": ""}, actor, reason=f"resumed from {was}"
            )
            books.set_control(con, "resumed_at", self.now.isoformat(), actor, reason="resumed")

        self.resolve(command_id, True, f"trading ACTIVE (was {was})", effect)

    def pause(self, command_id, actor, command: PauseStrategy) -> None:
        paused = set(self.records().controls.paused)
        if command.config_id in paused:
            return self.resolve(command_id, True, f"config {command.config_id} was already paused")
        note = "" if command.config_id in self.loop.by_id else " (this loop does not trade it)"

        def effect(con):
            books.set_control(
                con, "paused_configs", sorted(paused | {command.config_id}), actor, reason="pause"
            )

        self.resolve(
            command_id, True, f"config {command.config_id} paused: no new entries{note}", effect
        )

    def unpause(self, command_id, actor, command: ResumeStrategy) -> None:
        paused = set(self.records().controls.paused)
        if command.config_id not in paused:
            return self.deny(command_id, f"config {command.config_id} is not paused")

        def effect(con):
            books.set_control(
                con, "paused_configs", sorted(paused - {command.config_id}), actor, reason="resume"
            )

        self.resolve(command_id, True, f"config {command.config_id} may enter again", effect)

    def set_limits(self, command_id, actor, command: SetRiskLimits) -> None:
        try:
            new = limits_from_mapping(command.limits, source="the new risk limits")
        except LimitsError as exc:
            return self.deny(command_id, exc.message)
        old = self.records().controls.limits
        changed = limits_diff(old, new)

        def effect(con):
            books.set_control(
                con, "risk_limits", new.to_mapping(), actor, reason=f"changed: {changed}"
            )

        listing = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items()) or "no change"
        self.loop.gate.limits = new
        self.resolve(command_id, True, f"risk limits set: {listing}", effect)

    # -- commands that trade -----------------------------------------------------------

    def _gate(self, intents: list[OrderIntent]):
        loop = self.loop
        records = self.records()
        view = broker_view(loop.broker, records.tracked)
        state = account_state(
            view,
            records,
            records.positions,
            loop.feed.window(self.day),
            paused=records.controls.paused,
            state=records.controls.state,
            reason=records.controls.reason,
        )
        loop.gate.limits = records.controls.limits
        return records, view, loop.gate.check_all(intents, state, self.now)

    def _send(self, requests: list[OrderRequest], records: list[LiveOrder]) -> list[LiveOrder]:
        results = self.loop.broker.submit_many(requests) if requests else []
        out = []
        for record, result in zip(records, results, strict=True):
            if isinstance(result, OrderRejected):
                out.append(replace(record, status="rejected", reason=result.reason))
            else:
                out.append(replace(record, broker_order_id=result.id))
        return out

    def _closing(self, command_id, actor, symbol: str, qty: float, owner, what: str):
        cid = ids.command_id(command_id, symbol, what)
        intent = OrderIntent(symbol=symbol, side="sell", qty=qty, purpose="manual", actor=actor)
        request = OrderRequest(symbol=symbol, side="sell", qty=qty, client_order_id=cid)
        record = LiveOrder(
            client_order_id=cid, config_id=owner, symbol=symbol, side="sell", purpose="manual",
            qty=qty, created_at=self.now,
        )  # fmt: skip
        return intent, request, record

    def flatten(self, command_id, actor, command: FlattenAll) -> None:
        broker = self.loop.broker
        canceled = 0
        for order in broker.orders("open"):
            broker.cancel(order.id)
            canceled += 1
        records = self.records()
        held = [p for p in broker.positions() if p.qty > 0]
        planned = [
            self._closing(
                command_id,
                actor,
                p.symbol,
                p.qty,
                getattr(records.positions.get(p.symbol), "config_id", None),
                "flatten",
            )
            for p in held
        ]
        _, _, decisions = self._gate([i for i, _, _ in planned])
        go = [(r, rec) for (_, r, rec), d in zip(planned, decisions, strict=True) if d.approved]
        refused = [d.reason for d in decisions if not d.approved]
        sent = self._send([r for r, _ in go], [rec for _, rec in go])
        rejected = [f"{o.symbol}: {o.reason}" for o in sent if o.status == "rejected"]
        result = f"flatten: {len(go) - len(rejected)} closing orders sent, {canceled} open orders canceled"
        if refused or rejected:
            result += "; not closed: " + "; ".join([*refused, *rejected])
        self.resolve(command_id, not (refused or rejected), result, orders=sent)

    def close_position(self, command_id, actor, command: ClosePosition) -> None:
        broker = self.loop.broker
        held = broker.position(command.symbol)
        if held is None or held.qty <= 0:
            return self.deny(command_id, f"no open position in {command.symbol}")
        owner = getattr(self.records().positions.get(command.symbol), "config_id", None)
        intent, request, record = self._closing(
            command_id, actor, command.symbol, held.qty, owner, "close"
        )
        _, view, (decision,) = self._gate([intent])
        if not decision.approved:
            return self.deny(command_id, decision.reason)
        for order in view.open_orders:
            if order.symbol == command.symbol and order.side == "sell":
                broker.cancel(order.id)  # the stop holds the shares an exit must sell
        (sent,) = self._send([request], [record])
        if sent.status == "rejected":
            return self.resolve(
                command_id, False, f"{broker.name} rejected it: {sent.reason}", orders=[sent]
            )
        self.resolve(
            command_id, True, f"sell {held.qty:g} {command.symbol} at market sent", orders=[sent]
        )

    def manual_order(self, command_id, actor, command: ManualOrder) -> None:
        symbol = command.symbol
        cid = ids.command_id(command_id, symbol, "order")
        prices = {"limit_price": command.limit_price, "stop_price": command.stop_price}
        intent = OrderIntent(
            symbol=symbol, side=command.side, qty=command.qty, purpose="manual",
            order_type=command.order_type, actor=actor, **prices,
        )  # fmt: skip
        records, _, (decision,) = self._gate([intent])
        if not decision.approved:
            return self.deny(command_id, decision.reason)
        owner = getattr(records.positions.get(symbol), "config_id", None)
        request = OrderRequest(
            symbol=symbol, side=command.side, qty=decision.qty, client_order_id=cid,
            type=command.order_type, **prices,
        )  # fmt: skip
        record = LiveOrder(
            client_order_id=cid, config_id=owner, symbol=symbol, side=command.side,
            purpose="manual", qty=decision.qty, type=command.order_type,
            limit_price=command.limit_price, stop_price=command.stop_price, created_at=self.now,
        )  # fmt: skip
        (sent,) = self._send([request], [record])
        if sent.status == "rejected":
            return self.resolve(
                command_id,
                False,
                f"{self.loop.broker.name} rejected it: {sent.reason}",
                orders=[sent],
            )
        self.resolve(
            command_id,
            True,
            f"{command.side} {decision.qty:g} {symbol} {command.order_type} sent"
            + (f" ({'; '.join(decision.notes)})" if decision.notes else ""),
            orders=[sent],
        )

    def tighten_stop(self, command_id, actor, command: TightenStop) -> None:
        loop = self.loop
        symbol, price = command.symbol, command.stop_price
        records = self.records()
        position = records.positions.get(symbol)
        if position is None:
            return self.deny(command_id, f"no open position in {symbol} that the loop keeps")
        current = position.stop_price
        if current is not None and price <= current:
            return self.deny(
                command_id,
                f"a stop at {price:g} would not tighten the stop on {symbol} at {current:g}: "
                "stops only move up",
            )
        intent = OrderIntent(
            symbol=symbol, side="sell", qty=position.qty, purpose="stop", order_type="stop",
            stop_price=price, actor=actor,
        )  # fmt: skip
        _, view, (decision,) = self._gate([intent])
        if not decision.approved:
            return self.deny(command_id, decision.reason)
        for order in view.open_orders:
            if order.symbol == symbol and order.side == "sell" and order.type == "stop":
                loop.broker.cancel(order.id)
        cid = ids.command_id(command_id, symbol, "stop")
        request = OrderRequest(
            symbol=symbol, side="sell", qty=position.qty, client_order_id=cid, type="stop",
            stop_price=price, time_in_force="gtc",
        )  # fmt: skip
        record = LiveOrder(
            client_order_id=cid, config_id=position.config_id, symbol=symbol, side="sell",
            purpose="stop", qty=position.qty, type="stop", stop_price=price, created_at=self.now,
        )  # fmt: skip
        (sent,) = self._send([request], [record])
        if sent.status == "rejected":
            return self.resolve(
                command_id, False, f"{loop.broker.name} rejected it: {sent.reason}", orders=[sent]
            )

        def effect(con):
            books.save_positions(
                con, loop.book, [replace(position, manual_stop=price)], [], self.now
            )

        was = f"{current:g}" if current is not None else "none"
        self.resolve(
            command_id, True, f"stop on {symbol} raised to {price:g} (was {was})", effect, [sent]
        )
