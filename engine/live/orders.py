"""From the configs' plans (and a trader's commands) to the orders sent: each the gate's
question, the broker's request and the loop's record, named by its decision or its
command (:mod:`engine.live.ids`).

Sending order: resting stops first (new or moved up), then exits, then entries, so that a
broker sees the sales before the buys they pay for. A position's resting stop is replaced
only when the plan wants it higher (stops never move down) or for another quantity, and
it is canceled before an exit (a broker reserves the shares a stop would sell). A position
that a trader's order is already selling (a close, a flatten) is left alone.

Orders are shaped for the broker's declared capabilities: prices on its tick; an entry's
attached stop at least a tick below the entry's price; entries GTC where an attached stop
takes its entry's time in force (so the stop outlives the entry's session); market buys
sized to leave the margin the broker values them at above the last price.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from engine.brokers.base import Capabilities, Order, OrderRequest, Position, on_tick, to_tick
from engine.live import ids
from engine.live.clock import BarClose
from engine.live.decisions import Plan, PlannedStop, planned_stops
from engine.live.records import LiveOrder, LivePosition
from engine.risk import OrderIntent
from engine.risk.gate_rules import whole

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

    def on_tick(self, capabilities: Capabilities) -> PendingOrder:
        """This order with its prices on the broker's tick (the trader's typed ones too)."""
        request = on_tick(self.request, capabilities)
        if request is self.request:
            return self
        prices = {"limit_price": request.limit_price, "stop_price": request.stop_price}
        attached = {"stop_loss_price": request.stop_loss_price,
                    "take_profit_price": request.take_profit_price}  # fmt: skip
        return replace(
            self,
            request=request,
            intent=replace(self.intent, **prices),
            record=replace(self.record, **prices, **attached),
        )


@dataclass(frozen=True)
class OrderRules:
    """How orders are shaped for this loop's broker and account.

    ``buying_power`` is the account's now; with the broker's ``market_buy_margin`` it
    bounds the market buys of one step.
    """

    actor: str
    fractional_shares: bool
    capabilities: Capabilities = Capabilities()
    buying_power: float | None = None

    def stop_price(self, price: float) -> float:
        """``price`` as the broker takes a sell stop: rounded down to the tick."""
        return to_tick(price, self.capabilities.tick(price))

    def attached_stop(self, stop: float, entry_price: float) -> float:
        """An entry's attached stop, at least a tick below the entry's price (Alpaca refuses
        one closer to the current price)."""
        tick = self.capabilities.tick(entry_price) or 0.0
        return self.stop_price(min(stop, entry_price - tick))

    def attached_target(self, target: float, entry_price: float) -> float:
        """An entry's profit target, at least a tick above the entry's price (Alpaca refuses
        one closer), rounded up to the tick (a sell limit never rounds to a worse price)."""
        tick = self.capabilities.tick(entry_price) or 0.0
        level = max(target, entry_price + tick)
        return to_tick(level, self.capabilities.tick(level), up=True)
    @property
    def entry_time_in_force(self) -> str:
        """GTC where an attached stop takes its entry's time in force, so that the stop
        outlives the entry's session; else DAY."""
        return "gtc" if self.capabilities.attached_stop_takes_entry_tif else "day"


def orders_for(
    plans: list[tuple[str, Plan]],
    open_orders: list[Order],
    day: date | BarClose,
    now: datetime,
    rules: OrderRules,
    *,
    stop_action: str = "stop",
) -> list[PendingOrder]:
    """The orders ``plans`` (config id, plan) call for at ``day``'s close (a session, or an
    intraday bar), given the broker's open orders.

    ``stop_action`` names the stops in their client order ids (``protect`` for those put
    back before the step decides anything).
    """
    resting: dict[str, list[Order]] = {}
    for order in open_orders:
        if order.side == "sell" and order.type == "stop":
            resting.setdefault(order.symbol, []).append(order)
    working_sells = {
        o.client_order_id: o.symbol for o in open_orders if o.side == "sell" and o.type != "stop"
    }
    stops, exits, entries = [], [], []
    budget = _Budget(rules)
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
            target = None
            # A stop a trader raised to the target or past it rests alone.
            if stop.target_price is not None and stop.target_price > price:
                target = to_tick(stop.target_price, rules.capabilities.tick(stop.target_price),
                                 up=True)  # fmt: skip
            # A ladder's legs rest a stop each, told apart by their ids' leg numbers.
            current = [o for o in resting.get(stop.symbol, []) if ids.leg_of(o.client_order_id) == stop.leg]
            if _rests_well(current, price, stop.qty, target):
                continue
            # A stop and its target go as one order (one cancels the other): replacing
            # either replaces both, so no fill can leave the other working.
            stops.append(
                make(stop.symbol, stop_action, stop.qty, type="stop", stop_price=price,
                     take_profit_price=target, replaces=current, leg=stop.leg)
            )  # fmt: skip
        for exit_ in plan.exits:
            if exit_.symbol in closing:
                continue
            exits.append(
                make(exit_.symbol, "sell", exit_.qty, replaces=resting.get(exit_.symbol, []))
            )
        for entry in plan.entries:
            qty = budget.fit(entry.qty, entry.price)
            if qty <= 0:
                continue
            stop_loss = (
                rules.attached_stop(entry.stop_price, entry.price) if entry.stop_price else None
            )
            target = None
            if stop_loss is not None and entry.target_price is not None:
                target = rules.attached_target(entry.target_price, entry.price)
            entries.append(
                make(entry.symbol, "buy", qty, stop_loss_price=stop_loss,
                     take_profit_price=target, decision_price=entry.price,
                     stop_fraction=entry.stop_fraction, leg=entry.leg)
            )  # fmt: skip
    return [*stops, *exits, *entries]


class _Budget:
    """The buying power a step's market buys share, each valued as the broker values it.

    A broker that values a market buy above the last price (Alpaca: up to 4%) refuses an
    entry sized to the last cent; each entry is cut to what is left at that valuation.
    """

    def __init__(self, rules: OrderRules):
        self.fractional = rules.fractional_shares
        self.margin = rules.capabilities.market_buy_margin
        self.left = rules.buying_power if self.margin > 0 else None

    def fit(self, qty: float, price: float) -> float:
        """``qty`` in the shares the account trades, cut to fit what is left; takes it."""
        qty = qty if self.fractional else whole(qty, False)
        if self.left is None or qty <= 0:
            return qty
        value = price * (1.0 + self.margin)
        qty = min(qty, whole(max(self.left, 0.0) / value, self.fractional))
        self.left -= qty * value
        return qty


def protective_stops(
    positions: Iterable[LivePosition],
    open_orders: list[Order],
    day: date | BarClose,
    now: datetime,
    rules: OrderRules,
) -> list[PendingOrder]:
    """The stops that put back the protection held positions have lost at the broker.

    A stop that expired with its session, was canceled outside the workbench, or no
    longer covers the shares (a split re-based them) is replaced at the level the loop
    keeps for the position; a position being sold is left alone, as in :func:`orders_for`.
    """
    plans: dict[str, list[PlannedStop]] = {}
    for position in positions:
        if position.config_id is None or position.qty <= 0:
            continue
        if stops := planned_stops(position.holding()):
            plans.setdefault(position.config_id, []).extend(stops)
    return orders_for(
        [(config_id, Plan(config_id, day, stops=stops)) for config_id, stops in plans.items()],
        open_orders,
        day,
        now,
        rules,
        stop_action="protect",
    )


def _rests_well(current: list[Order], price: float, qty: float, target: float | None) -> bool:
    """True when a resting stop is where it belongs (or higher: never lowered), for all
    shares, with the target it should rest with."""
    placed = any(_same(o.stop_price, price) or o.stop_price > price for o in current)
    with_target = all(
        (o.take_profit_price is None) if target is None else _same(o.take_profit_price, target)
        for o in current
    )
    return placed and with_target and all(abs(o.qty - qty) <= 1e-9 for o in current)


def _same(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= SAME_PRICE * max(abs(a), abs(b))


class _Maker:
    """Builds one config's orders for one bar."""

    PURPOSES = {"buy": "entry", "sell": "exit", "stop": "stop", "protect": "stop"}

    def __init__(self, config_id: str, day: date | BarClose, now: datetime, rules: OrderRules):
        self.config_id, self.day, self.now, self.rules = config_id, day, now, rules
        self.session = ids.session_of(day)

    def __call__(self, symbol, action, qty, *, type="market", stop_price=None,
                 stop_loss_price=None, take_profit_price=None, decision_price=None,
                 stop_fraction=None, replaces=(), leg=1) -> PendingOrder:  # fmt: skip
        cid = ids.decision_id(self.config_id, symbol, action, self.day, leg)
        side = "buy" if action == "buy" else "sell"
        purpose = self.PURPOSES[action]
        # A stop put back keeps a level decided at an earlier close: it is decided now, not
        # by a bar, so it is not the bar's one sell of the symbol for the duplicate guard;
        # nor is a ladder's later leg's stop (the first leg's is that sell).
        bar = None if action == "protect" or (action == "stop" and leg > 1) else self.session
        decided = self.now if bar is None else ids.parse_decision_id(cid).decided_at
        intent = OrderIntent(
            symbol=symbol, side=side, qty=qty, purpose=purpose, order_type=type,
            stop_price=stop_price, config_id=self.config_id, actor=self.rules.actor,
            bar=decided,
        )  # fmt: skip
        tif = "gtc" if type == "stop" else "day"
        if stop_loss_price is not None:
            tif = self.rules.entry_time_in_force
        request = OrderRequest(
            symbol=symbol, side=side, qty=qty, client_order_id=cid, type=type,
            stop_price=stop_price, stop_loss_price=stop_loss_price,
            take_profit_price=take_profit_price, time_in_force=tif,
        )  # fmt: skip
        no_stop = stop_fraction is None or math.isnan(stop_fraction)
        record = LiveOrder(
            client_order_id=cid, config_id=self.config_id, symbol=symbol, side=side,
            purpose=purpose, qty=qty, type=type, stop_price=stop_price,
            stop_loss_price=stop_loss_price, decision_bar=bar,
            take_profit_price=take_profit_price,
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
    take_profit_price: float | None = None,
    replaces: Iterable[Order] = (),
) -> PendingOrder:
    """The order a trader's command ``command`` sends: ``what`` names it among the command's.

    The gate sees a trader's order (no config behind it); the record books it to
    ``owner``, the config whose position it acts on. A stop rests until canceled (GTC),
    with ``take_profit_price`` as its target in one bracket when given.
    """
    cid = ids.command_id(command, symbol, what)
    prices = {"limit_price": limit_price, "stop_price": stop_price}
    intent = OrderIntent(
        symbol=symbol, side=side, qty=qty, purpose=purpose, order_type=type, actor=actor, **prices
    )
    request = OrderRequest(
        symbol=symbol, side=side, qty=qty, client_order_id=cid, type=type,
        time_in_force="gtc" if type == "stop" else "day", take_profit_price=take_profit_price,
        **prices,
    )  # fmt: skip
    record = LiveOrder(
        client_order_id=cid, config_id=owner, symbol=symbol, side=side, purpose=purpose,
        qty=qty, type=type, created_at=now, take_profit_price=take_profit_price, **prices,
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
