"""From the configs' plans (and a trader's commands) to the orders sent: each the gate's
question, the broker's request and the loop's record, named by its decision or its
command (:mod:`engine.live.ids`).

Sending order: resting stops first (new or moved up), then exits, then entries, so that a
broker sees the sales before the buys they pay for. A position's resting stop is replaced
only when the plan wants it higher (stops never move down) or for another quantity, and
it is canceled before an exit (a broker reserves the shares a stop would sell). A position
that a trader's order is already selling (a close, a flatten) is left alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from engine.brokers.base import Order, OrderRequest, Position
from engine.live import ids
from engine.live.decisions import Plan
from engine.live.model import LiveOrder
from engine.risk import OrderIntent
from engine.risk.rules import whole

#: Stop prices closer than this (relative) are the same stop.
SAME_PRICE = 1e-9


@dataclass
class PendingOrder:
    """One order a step means to send."""

    intent: OrderIntent
    request: OrderRequest
    record: LiveOrder
    replaces: list[Order] = field(default_factory=list)  # resting stops to cancel first

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    def resized(self, qty: float) -> PendingOrder:
        """This order for ``qty`` shares (the gate may cut a size)."""
        if abs(qty - self.request.qty) <= 1e-12:
            return self
        return replace(
            self, request=replace(self.request, qty=qty), record=replace(self.record, qty=qty)
        )


@dataclass(frozen=True)
class OrderRules:
    """How orders are shaped for this loop's broker and account."""

    actor: str
    fractional_shares: bool
    stop_tick: float | None = None  # Alpaca: whole cents

    def stop_price(self, price: float) -> float:
        """``price`` as the broker takes a sell stop: rounded down to the tick."""
        if not self.stop_tick:
            return price
        return round(math.floor(price / self.stop_tick + 1e-9) * self.stop_tick, 10)


def orders_for(
    plans: list[tuple[str, Plan]],
    open_orders: list[Order],
    day: date,
    now: datetime,
    rules: OrderRules,
) -> list[PendingOrder]:
    """The orders ``plans`` (config id, plan) call for, given the broker's open orders."""
    resting: dict[str, list[Order]] = {}
    for order in open_orders:
        if order.side == "sell" and order.type == "stop":
            resting.setdefault(order.symbol, []).append(order)
    working_sells = {
        o.client_order_id: o.symbol for o in open_orders if o.side == "sell" and o.type != "stop"
    }
    stops, exits, entries = [], [], []
    for config_id, plan in plans:
        make = _Maker(config_id, day, now, rules)
        closing = {
            symbol
            for cid, symbol in working_sells.items()
            if cid != ids.decision_id(config_id, symbol, "sell", day)  # not this very exit
        }
        for stop in plan.stops:
            if stop.symbol in closing:
                continue
            price = rules.stop_price(stop.stop_price)
            current = resting.get(stop.symbol, [])
            if _rests_well(current, price, stop.qty):
                continue
            stops.append(
                make(stop.symbol, "stop", stop.qty, type="stop", stop_price=price, replaces=current)
            )
        for exit_ in plan.exits:
            if exit_.symbol in closing:
                continue
            exits.append(
                make(exit_.symbol, "sell", exit_.qty, replaces=resting.get(exit_.symbol, []))
            )
        for entry in plan.entries:
            qty = entry.qty if rules.fractional_shares else whole(entry.qty, False)
            if qty <= 0:
                continue
            stop_loss = rules.stop_price(entry.stop_price) if entry.stop_price else None
            entries.append(
                make(entry.symbol, "buy", qty, stop_loss_price=stop_loss,
                     decision_price=entry.price, stop_fraction=entry.stop_fraction)
            )  # fmt: skip
    return [*stops, *exits, *entries]


def _rests_well(current: list[Order], price: float, qty: float) -> bool:
    """True when a resting stop is where it belongs (or higher: never lowered), for all shares."""
    placed = any(_same(o.stop_price, price) or o.stop_price > price for o in current)
    return placed and all(abs(o.qty - qty) <= 1e-9 for o in current)


def _same(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= SAME_PRICE * max(abs(a), abs(b))


class _Maker:
    """Builds one config's orders for one bar."""

    PURPOSES = {"buy": "entry", "sell": "exit", "stop": "stop"}

    def __init__(self, config_id: str, day: date, now: datetime, rules: OrderRules):
        self.config_id, self.day, self.now, self.rules = config_id, day, now, rules

    def __call__(self, symbol, action, qty, *, type="market", stop_price=None,
                 stop_loss_price=None, decision_price=None, stop_fraction=None,
                 replaces=()) -> PendingOrder:  # fmt: skip
        cid = ids.decision_id(self.config_id, symbol, action, self.day)
        side = "buy" if action == "buy" else "sell"
        purpose = self.PURPOSES[action]
        intent = OrderIntent(
            symbol=symbol, side=side, qty=qty, purpose=purpose, order_type=type,
            stop_price=stop_price, config_id=self.config_id,
            bar=datetime.combine(self.day, datetime.min.time()), actor=self.rules.actor,
        )  # fmt: skip
        request = OrderRequest(
            symbol=symbol, side=side, qty=qty, client_order_id=cid, type=type,
            stop_price=stop_price, stop_loss_price=stop_loss_price,
            time_in_force="gtc" if type == "stop" else "day",
        )  # fmt: skip
        no_stop = stop_fraction is None or math.isnan(stop_fraction)
        record = LiveOrder(
            client_order_id=cid, config_id=self.config_id, symbol=symbol, side=side,
            purpose=purpose, qty=qty, type=type, stop_price=stop_price,
            stop_loss_price=stop_loss_price, decision_bar=self.day,
            decision_price=decision_price, stop_fraction=None if no_stop else stop_fraction,
            created_at=self.now,
        )  # fmt: skip
        return PendingOrder(intent, request, record, list(replaces))


# -- a trader's orders -------------------------------------------------------------------


def command_order(
    command: int,
    actor: str,
    now: datetime,
    *,
    symbol: str,
    side: str,
    qty: float,
    what: str,
    owner: str | None = None,
    purpose: str = "manual",
    type: str = "market",
    limit_price: float | None = None,
    stop_price: float | None = None,
    replaces: Iterable[Order] = (),
) -> PendingOrder:
    """The order a trader's command ``command`` sends: ``what`` names it among the command's.

    The gate sees a trader's order (no config behind it); the record books it to
    ``owner``, the config whose position it acts on. A stop rests until canceled (GTC).
    """
    cid = ids.command_id(command, symbol, what)
    prices = {"limit_price": limit_price, "stop_price": stop_price}
    intent = OrderIntent(
        symbol=symbol, side=side, qty=qty, purpose=purpose, order_type=type, actor=actor, **prices
    )
    request = OrderRequest(
        symbol=symbol, side=side, qty=qty, client_order_id=cid, type=type,
        time_in_force="gtc" if type == "stop" else "day", **prices,
    )  # fmt: skip
    record = LiveOrder(
        client_order_id=cid, config_id=owner, symbol=symbol, side=side, purpose=purpose,
        qty=qty, type=type, created_at=now, **prices,
    )  # fmt: skip
    return PendingOrder(intent, request, record, list(replaces))


def closing_order(
    command: int,
    actor: str,
    now: datetime,
    position: Position,
    *,
    owner: str | None,
    what: str,
    replaces: Iterable[Order] = (),
) -> PendingOrder:
    """The market order that closes ``position`` (a sell for a long, a buy for a short)."""
    return command_order(
        command, actor, now, symbol=position.symbol, side="sell" if position.qty > 0 else "buy",
        qty=abs(position.qty), what=what, owner=owner, replaces=replaces,
    )  # fmt: skip
