"""One bar of the paper market: which waiting orders fill, in what order, at what price.

A pure function of the orders, the account and the bar, so that the order of a session
is written down once and checked with plain data. A session trades in this order (the
same as the backtest's, see :mod:`engine.backtest.rules`):

1. **At the open**: orders the open alone fills (market orders, and limits or stops the
   open has gone through), sells first (they free cash), then buys, each in the order
   they were placed. A buy with an attached stop gets that stop the moment it fills,
   with its target when it has one.
2. **In the bar**: the remaining limit and stop orders the bar reaches, the stops just
   attached included, in the order they were placed.
3. Day orders the bar did not fill expire (a symbol without a bar that day had no session).

**A stop with a target** (``take_profit_price``) is the paper broker's own OCO: one order
that fills at whichever leg the bar reaches, by the backtest's rule for a bar that reaches
both (:func:`engine.backtest.rules.bracket_exit`: the stop, unless the bar opened at or
beyond the target). Being one row, a fill closes both legs at once: no crash can leave
the other working. The target fills as a limit (no slippage), the stop as a market order.

Every fill is bounded by the account: a buy fills only the shares the cash then in hand
pays for, fee included (the rest is canceled, as vectorbt's partial fill); without
shorting, a sell fills only the shares held, and a position sold down to nothing takes
its other waiting sell orders (its protective stop) with it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.backtest.rules import HIT_NONE, HIT_TARGET, bracket_exit
from engine.brokers._paper_books import BarPrices
from engine.brokers.base import (
    MAX_CLIENT_ORDER_ID,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from engine.brokers.paper_rules import (
    QTY_EPSILON,
    Costs,
    affordable_qty,
    fill_price,
    fills_at_open,
)

#: What an attached stop's client order id adds to its buy's.
STOP_SUFFIX = "-stop"


@dataclass
class SessionResult:
    """What one bar did to the books: fills, order status changes, events, new stop orders."""

    fills: list[Fill] = field(default_factory=list)
    #: Dicts for books.set_status: id, status, filled_qty, filled_avg_price, updated_at.
    updates: list[dict[str, Any]] = field(default_factory=list)
    #: (kind, subject, payload-without-account) in the order they happened.
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    #: Attached stops placed by a fill: (order, parent id). Insert them before applying
    #: ``updates``, which may already close them.
    placed: list[tuple[Order, str]] = field(default_factory=list)


def attached_stop_id(client_order_id: str) -> str:
    """The client order id of the stop attached to the buy named ``client_order_id``."""
    return client_order_id[: MAX_CLIENT_ORDER_ID - len(STOP_SUFFIX)] + STOP_SUFFIX


def trade_session(
    waiting: list[Order],
    attached: dict[str, tuple[float, float | None]],
    bar: BarPrices,
    *,
    cash: float,
    held: dict[str, float],
    costs: Costs,
    allow_short: bool,
    now: datetime,
    filled_at: datetime,
    expire_day_orders: bool = True,
) -> SessionResult:
    """What the bar (its prices by symbol, :class:`BarPrices`) does to ``waiting`` orders.

    ``waiting`` are the open orders placed before this bar, in the order they were
    placed; ``attached`` maps a buy's order id to its protective stop price and target
    (None: none); ``cash`` and ``held`` (signed shares by symbol) are the account before the
    bar. Day orders the bar leaves open expire when it ends their session
    (``expire_day_orders``: a daily bar, or the session's last intraday bar).
    """
    held = defaultdict(float, held)  # a copy the session moves
    quotes = bar.quotes({o.symbol for o in waiting})  # the bar's prices of the orders' symbols
    session = _Session(quotes, held, cash, costs, allow_short, now, filled_at, attached)
    for order in waiting:
        if order.side == Side.SELL:
            session.waiting_sells[order.symbol].append(order)
    opening = [o for o in waiting if session.opens_through(o)]
    for order in sorted(opening, key=lambda o: o.side == Side.BUY):  # stable: sells first
        session.fill(order, at_open=True)
    for order in [*waiting, *(child for child, _ in session.result.placed)]:
        if order.id not in session.done:
            session.fill(order, at_open=False)
    for order in waiting:
        if expire_day_orders and order.id not in session.done and order.time_in_force == TimeInForce.DAY:
            session.close(order, OrderStatus.EXPIRED, "paper.order.expired", None)
    return session.result


@dataclass
class _Session:
    """One bar's trading as it goes: the account it moves, the orders done, what it did."""

    quotes: dict[str, dict[str, float]]  # open, high and low by symbol (none: no bar)
    held: defaultdict[str, float]  # signed shares by symbol
    cash: float
    costs: Costs
    allow_short: bool
    now: datetime
    filled_at: datetime
    attached: dict[str, tuple[float, float | None]]
    done: set[str] = field(default_factory=set)
    result: SessionResult = field(default_factory=SessionResult)
    waiting_sells: defaultdict[str, list[Order]] = field(default_factory=lambda: defaultdict(list))

    def prices(self, order: Order) -> dict[str, float] | None:
        quote = self.quotes.get(order.symbol)
        return None if quote is None else dict(quote)

    def opens_through(self, order: Order) -> bool:
        prices = self.prices(order)
        if prices is not None and _is_oco(order):
            hit = bracket_exit(prices["open"], prices["open"], prices["open"],
                               order.stop_price, order.take_profit_price)[1]  # fmt: skip
            return hit != HIT_NONE
        return prices is not None and fills_at_open(
            order.side,
            order.type,
            open=prices["open"],
            limit_price=order.limit_price,
            stop_price=order.stop_price,
        )

    def fill(self, order: Order, *, at_open: bool) -> None:
        prices = self.prices(order)
        if prices is None:
            return
        if _is_oco(order):
            price = self._bracket_price(order, prices, at_open)
        else:
            price = fill_price(
                order.side,
                order.type,
                **prices,
                limit_price=order.limit_price,
                stop_price=order.stop_price,
                slippage=self.costs.slippage,
            )
        if price is None:
            return
        if order.side == Side.BUY:
            qty = affordable_qty(order.qty, price, self.cash, self.costs)
            short_of = "the cash in hand at the fill"
        else:
            held = self.held[order.symbol]
            qty = order.qty if self.allow_short else min(order.qty, max(held, 0.0))
            short_of = "the shares held at the fill"
        if qty <= QTY_EPSILON:
            self.close(order, OrderStatus.CANCELED, "paper.order.canceled", f"{short_of}: none")
            return
        fee = self.costs.fee(qty, price)
        fill = Fill.for_order(order, qty, price, fee, self.filled_at)
        signed = qty if order.side == Side.BUY else -qty
        self.cash -= signed * price + fee
        self.held[order.symbol] += signed
        self.done.add(order.id)
        whole = qty >= order.qty - QTY_EPSILON
        self.result.fills.append(fill)
        self.result.updates.append(
            _update(
                order, OrderStatus.FILLED if whole else OrderStatus.CANCELED, self.now, qty, price
            )
        )
        self.result.events.append(("paper.order.filled", order.symbol, _fill_payload(fill)))
        if not whole:
            self.result.events.append(
                (
                    "paper.order.canceled",
                    order.symbol,
                    {
                        **_order_payload(order),
                        "filled_qty": qty,
                        "reason": f"{short_of} covered {qty:g} of {order.qty:g} shares; "
                        "the rest is canceled",
                    },
                )
            )
        if order.side == Side.BUY and order.id in self.attached:
            self._attach_stop(order, qty, at_open)
        if (
            order.side == Side.SELL
            and not self.allow_short
            and self.held[order.symbol] <= QTY_EPSILON
        ):
            for other in self.waiting_sells[order.symbol]:
                if other.id not in self.done:
                    self.close(
                        other,
                        OrderStatus.CANCELED,
                        "paper.order.canceled",
                        f"the {order.symbol} position it was selling is closed",
                    )

    def _bracket_price(self, order: Order, prices: dict[str, float], at_open: bool):
        """The price a stop-and-target order fills at on this bar (None: neither leg)."""
        bar_open = prices["open"]
        reach = (bar_open, bar_open) if at_open else (prices["high"], prices["low"])
        price, hit = bracket_exit(bar_open, *reach, order.stop_price, order.take_profit_price)
        if hit == HIT_NONE:
            return None
        return price if hit == HIT_TARGET else self.costs.slipped(order.side, price)

    def _attach_stop(self, parent: Order, qty: float, at_open: bool) -> None:
        """Place the buy's protective stop (and target) for the shares it got, live from the fill."""
        stop, target = self.attached[parent.id]
        child = Order(
            id=str(uuid.uuid4()),
            client_order_id=attached_stop_id(parent.client_order_id),
            symbol=parent.symbol,
            side=Side.SELL,
            qty=qty,
            type=OrderType.STOP,
            time_in_force=TimeInForce.GTC,
            status=OrderStatus.ACCEPTED,
            stop_price=stop,
            submitted_at=self.now,
            updated_at=self.now,
            take_profit_price=target,
        )
        self.waiting_sells[parent.symbol].append(child)
        if not at_open:
            # Bought inside the bar: which of the bar's prices came after the fill is not
            # known, so the stop is judged from the next bar on.
            self.done.add(child.id)
        self.result.placed.append((child, parent.id))
        self.result.events.append(
            (
                "paper.order.submitted",
                child.symbol,
                {
                    **_order_payload(child),
                    "type": child.type.value,
                    "stop_price": child.stop_price,
                    "take_profit_price": child.take_profit_price,
                    "time_in_force": child.time_in_force.value,
                    "parent_id": parent.id,
                    "reason": "the protective stop attached to the buy, placed as it filled",
                },
            )
        )

    def close(self, order: Order, status: OrderStatus, kind: str, reason: str | None) -> None:
        self.done.add(order.id)
        self.result.updates.append(_update(order, status, self.now))
        payload = _order_payload(order)
        if reason:
            payload["reason"] = reason
        self.result.events.append((kind, order.symbol, payload))


def _is_oco(order: Order) -> bool:
    """True for a sell stop resting with its target (a buy's target is only attached)."""
    return order.side == Side.SELL and order.type == OrderType.STOP and (
        order.take_profit_price is not None
    )


def _update(order: Order, status: OrderStatus, now, filled_qty=None, avg_price=None) -> dict:
    return {
        "id": order.id,
        "status": status.value,
        "filled_qty": order.filled_qty if filled_qty is None else filled_qty,
        "filled_avg_price": order.filled_avg_price if avg_price is None else avg_price,
        "updated_at": now,
    }


def _order_payload(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "client_order_id": order.client_order_id,
        "side": order.side.value,
        "qty": order.qty,
        "filled_qty": order.filled_qty,
    }


def _fill_payload(fill: Fill) -> dict[str, Any]:
    return {
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "fill_id": fill.id,
        "side": fill.side.value,
        "qty": fill.qty,
        "price": fill.price,
        "fee": fill.fee,
    }
