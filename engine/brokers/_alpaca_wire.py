"""Alpaca on the wire: workbench records to alpaca-py requests, and answers back.

Also how each failure is read: which are worth another try (429, 5xx, lost answers),
whether the request may have landed anyway, and which become workbench errors.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading import requests as alpaca_requests
from alpaca.trading.enums import OrderClass
from alpaca.trading.enums import OrderSide as AlpacaSide
from alpaca.trading.enums import TimeInForce as AlpacaTIF

from engine.brokers.base import (
    Order,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Session,
    Side,
    TimeInForce,
)
from engine.errors import InputError, NotFoundError

log = logging.getLogger("engine.brokers.alpaca")

NEW_YORK = ZoneInfo("America/New_York")
KEY_ENV = "APCA_API_KEY_ID"
SECRET_ENV = "APCA_API_SECRET_KEY"

# Failures after which the request may or may not have been acted on.
UNCERTAIN = (
    requests.exceptions.ConnectionError,  # includes a connection dropped before the answer
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.JSONDecodeError,  # a truncated answer
)

STATUS = {
    "new": OrderStatus.NEW,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,  # closed: another order took its place
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
    "pending_cancel": OrderStatus.PENDING_CANCEL,
    # Taken by Alpaca and still live, but not working at the venue right now.
    "accepted": OrderStatus.ACCEPTED,
    "pending_new": OrderStatus.ACCEPTED,
    "accepted_for_bidding": OrderStatus.ACCEPTED,
    "pending_review": OrderStatus.ACCEPTED,
    "pending_replace": OrderStatus.ACCEPTED,
    "held": OrderStatus.ACCEPTED,
    "suspended": OrderStatus.ACCEPTED,
    "stopped": OrderStatus.ACCEPTED,
    "done_for_day": OrderStatus.ACCEPTED,
}


@dataclass(frozen=True)
class Transient:
    """A failure worth another try: what happened, whether the request may have landed."""

    what: str
    uncertain: bool
    retry_after: float | None = None


# -- translation -----------------------------------------------------------------------


#: Order classes whose stop and target rest as one exit group, one cancelling the other.
EXIT_GROUPS = ("bracket", "oco")


def alpaca_request(order: OrderRequest) -> alpaca_requests.OrderRequest:
    """The alpaca-py request for ``order``: a buy with a stop and a target is a bracket, a
    sell stop with a target an OCO, a buy with a stop only an OTO."""
    common = {
        "symbol": order.symbol,
        "qty": order.qty,
        "side": AlpacaSide(order.side.value),
        "time_in_force": AlpacaTIF(order.time_in_force.value),
        "client_order_id": order.client_order_id,
    }
    if order.take_profit_price is not None:
        common["take_profit"] = alpaca_requests.TakeProfitRequest(
            limit_price=order.take_profit_price
        )
        if order.side == Side.SELL:
            # One-cancels-other: a limit at the target whose leg is the stop; alpaca-py
            # takes the limit from take_profit.
            stop = alpaca_requests.StopLossRequest(stop_price=order.stop_price)
            return alpaca_requests.LimitOrderRequest(
                **common, order_class=OrderClass.OCO, stop_loss=stop
            )
        # A bracket: both legs wait for the buy to fill, then one cancels the other.
        common["order_class"] = OrderClass.BRACKET
        common["stop_loss"] = alpaca_requests.StopLossRequest(stop_price=order.stop_loss_price)
    elif order.stop_loss_price is not None:
        # One-triggers-other: Alpaca places the stop leg when the buy fills, with the
        # buy's time in force (Alpaca-API#283).
        common["order_class"] = OrderClass.OTO
        common["stop_loss"] = alpaca_requests.StopLossRequest(stop_price=order.stop_loss_price)
    if order.type == OrderType.LIMIT:
        return alpaca_requests.LimitOrderRequest(**common, limit_price=order.limit_price)
    if order.type == OrderType.STOP:
        return alpaca_requests.StopOrderRequest(**common, stop_price=order.stop_price)
    return alpaca_requests.MarketOrderRequest(**common)


def check_shape(order: OrderRequest) -> None:
    """OrderRejected, before sending, for an order Alpaca does not take in this shape.

    Fractional quantities go only on market DAY orders (its fractional-trading page);
    an attached stop only on a market or limit entry, DAY or GTC (its OTO and bracket
    rules); a stop with a target (OCO) only DAY or GTC.
    """
    reason = None
    if order.qty != int(order.qty) and (
        order.type != OrderType.MARKET
        or order.time_in_force != TimeInForce.DAY
        or order.stop_loss_price is not None
        or order.take_profit_price is not None
    ):
        reason = "Alpaca takes fractional quantities only on market DAY orders without a stop"
    elif order.take_profit_price is not None and order.time_in_force not in (
        TimeInForce.DAY,
        TimeInForce.GTC,
    ):
        reason = "Alpaca rests a stop with its target only DAY or GTC"
    elif order.stop_loss_price is not None and (
        order.type not in (OrderType.MARKET, OrderType.LIMIT)
        or order.time_in_force not in (TimeInForce.DAY, TimeInForce.GTC)
    ):
        reason = "Alpaca attaches a stop only to a market or limit buy, DAY or GTC"
    if reason is not None:
        raise OrderRejected(
            reason,
            client_order_id=order.client_order_id,
            broker="alpaca",
            hint="see docs/alpaca.md for the orders Alpaca takes",
        )


def session_from_alpaca(raw) -> Session:
    """A day of Alpaca's calendar (open and close in New York time) in naive UTC."""
    return Session(day=raw.date, open=_ny_to_utc(raw.open), close=_ny_to_utc(raw.close))


def _ny_to_utc(local: datetime) -> datetime:
    return local.replace(tzinfo=NEW_YORK).astimezone(UTC).replace(tzinfo=None)


def order_class(raw) -> str:
    """``raw``'s order class as Alpaca writes it ("" for a simple order)."""
    return str(getattr(raw.order_class, "value", raw.order_class) or "")


def is_exit_leg(raw) -> bool:
    """True for a leg of an exit group read on its own: Alpaca gives no parent id, but a
    parent read nested carries its legs, and the workbench sends brackets only as buys."""
    cls = order_class(raw)
    side = getattr(raw.side, "value", raw.side)
    return cls in EXIT_GROUPS and not raw.legs and (cls == "oco" or side == "sell")


def orders_from_parent(raw) -> list[Order]:
    """The workbench orders an Alpaca order read nested (with its legs) stands for.

    A simple order is itself. An OTO is its buy and its stop leg. An OCO is one
    protective order: a sell stop with ``take_profit_price``, named by the OCO (its
    client order id is the workbench's). A bracket is its buy (with the target) and one
    protective order of its two legs, named by its stop leg (Alpaca names legs): before
    the buy fills it waits (accepted); after, its target works and its stop waits
    ``held``, yet it is one live order that protects the position until either fills.
    """
    cls, legs = order_class(raw), list(raw.legs or [])
    if cls == "oco":
        return [protective_order(raw, [raw, *legs])]
    if cls == "bracket" and legs:
        target = next((leg for leg in legs if _type(leg) == OrderType.LIMIT), None)
        stop = next((leg for leg in legs if _type(leg) == OrderType.STOP), None)
        entry = order_from_alpaca(raw, take_profit_price=num_or_none(target and target.limit_price))
        return [entry] if stop is None else [entry, protective_order(stop, legs)]
    return [order_from_alpaca(raw), *map(order_from_alpaca, legs)]


def protective_order(named_by, members: list) -> Order:
    """One workbench order for an exit group's stop and target: filled by whichever
    filled, open while either is live, named by ``named_by``'s ids."""
    stop = next(m for m in members if _type(m) == OrderType.STOP)
    target = next((m for m in members if _type(m) == OrderType.LIMIT), None)
    legs = [order_from_alpaca(m) for m in members]
    filled = sum(leg.filled_qty for leg in legs)
    paid = sum(leg.filled_qty * (leg.filled_avg_price or 0.0) for leg in legs)
    qty = num(stop.qty)
    live = [leg.status for leg in legs if leg.is_open]
    if live:
        status = (
            OrderStatus.PENDING_CANCEL if OrderStatus.PENDING_CANCEL in live
            else OrderStatus.PARTIALLY_FILLED if filled > 0
            else OrderStatus.NEW if OrderStatus.NEW in live
            else OrderStatus.ACCEPTED
        )  # fmt: skip
    elif filled >= qty - 1e-9:
        status = OrderStatus.FILLED
    else:
        status = order_from_alpaca(stop).status
    updated = [leg.updated_at for leg in legs if leg.updated_at is not None]
    return Order(
        id=str(named_by.id),
        client_order_id=named_by.client_order_id,
        symbol=stop.symbol or "",
        side=Side.SELL,
        qty=qty,
        type=OrderType.STOP,
        time_in_force=TimeInForce(getattr(stop.time_in_force, "value", stop.time_in_force)),
        status=status,
        filled_qty=filled,
        filled_avg_price=paid / filled if filled > 0 else None,
        stop_price=num_or_none(stop.stop_price),
        take_profit_price=num_or_none(target.limit_price) if target is not None else None,
        submitted_at=naive_utc(named_by.submitted_at),
        updated_at=max(updated) if updated else None,
    )


def member_ids(raw) -> dict[str, list[str]]:
    """For each workbench order of :func:`orders_from_parent`, the Alpaca orders to cancel."""
    legs = list(raw.legs or [])
    if order_class(raw) == "oco":
        return {str(raw.id): [str(raw.id), *(str(leg.id) for leg in legs)]}
    out = {str(raw.id): [str(raw.id)]}
    if order_class(raw) == "bracket":
        stop = next((leg for leg in legs if _type(leg) == OrderType.STOP), None)
        if stop is not None:
            out[str(stop.id)] = [str(leg.id) for leg in legs]
    return out


def _type(raw) -> OrderType:
    kind = raw.type or raw.order_type
    return OrderType(getattr(kind, "value", kind))


def order_from_alpaca(raw, *, take_profit_price: float | None = None) -> Order:
    status = getattr(raw.status, "value", raw.status)
    mapped = STATUS.get(status)
    if mapped is None:
        log.warning("alpaca: unknown order status %r for %s; treating it as open", status, raw.id)
        mapped = OrderStatus.ACCEPTED
    order_type = raw.type or raw.order_type
    return Order(
        id=str(raw.id),
        client_order_id=raw.client_order_id,
        symbol=raw.symbol or "",
        side=Side(getattr(raw.side, "value", raw.side)),
        qty=num(raw.qty),
        type=OrderType(getattr(order_type, "value", order_type)),
        time_in_force=TimeInForce(getattr(raw.time_in_force, "value", raw.time_in_force)),
        status=mapped,
        filled_qty=num(raw.filled_qty),
        filled_avg_price=num_or_none(raw.filled_avg_price),
        limit_price=num_or_none(raw.limit_price),
        stop_price=num_or_none(raw.stop_price),
        submitted_at=naive_utc(raw.submitted_at),
        updated_at=naive_utc(raw.updated_at),
        take_profit_price=take_profit_price,
    )


def position_from_alpaca(raw) -> Position:
    qty = abs(num(raw.qty))
    if getattr(raw.side, "value", raw.side) == "short":
        qty = -qty
    return Position(
        symbol=raw.symbol,
        qty=qty,
        avg_entry_price=num(raw.avg_entry_price),
        market_price=num_or_none(raw.current_price),
        market_value=num_or_none(raw.market_value),
        unrealized_pl=num_or_none(raw.unrealized_pl),
    )


def num(value) -> float:
    return 0.0 if value in (None, "") else float(value)


def num_or_none(value) -> float | None:
    return None if value in (None, "") else float(value)


def naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def aware_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- errors ----------------------------------------------------------------------------


def alpaca_message(exc: APIError) -> str:
    """Alpaca's own words for an error (its JSON ``message``, else the body's start)."""
    try:
        return str(json.loads(str(exc))["message"])
    except (ValueError, KeyError, TypeError):
        text = str(exc).strip()
        return text[:200] or f"HTTP {exc.status_code}"


def _code(exc: APIError):
    try:
        return json.loads(str(exc)).get("code")
    except (ValueError, AttributeError):
        return None


def transient(exc: Exception) -> Transient | None:
    """How to retry ``exc``, or None when trying again cannot help."""
    if isinstance(exc, APIError):
        status = exc.status_code or 0
        if status == 429:
            return Transient(
                "HTTP 429 rate limited", uncertain=False, retry_after=_retry_after(exc)
            )
        if status >= 500:
            # A gateway's 5xx can come after Alpaca took the order: treat it as unknown.
            return Transient(f"HTTP {status}", uncertain=True, retry_after=_retry_after(exc))
        return None
    return Transient(type(exc).__name__, uncertain=True)


def _retry_after(exc: APIError) -> float | None:
    """The server's wait in seconds from Retry-After or Alpaca's X-RateLimit-Reset."""
    headers = getattr(exc.response, "headers", None) or {}
    try:
        if headers.get("Retry-After") is not None:
            return max(float(headers["Retry-After"]), 0.0)
        if headers.get("X-RateLimit-Reset") is not None:
            return max(float(headers["X-RateLimit-Reset"]) - time.time(), 0.0)
    except ValueError:
        pass  # an HTTP-date Retry-After: fall back to our own backoff
    return None


def refusal(exc: APIError, client_order_id: str) -> Exception:
    """The workbench error for a 4xx answer to a submit."""
    if exc.status_code == 401:
        return api_error(exc, f"submit {client_order_id}")
    return OrderRejected(
        alpaca_message(exc),
        client_order_id=client_order_id,
        broker="alpaca",
        status_code=exc.status_code,
        code=_code(exc),
    )


def api_error(exc: APIError, what: str) -> Exception:
    status, message = exc.status_code, alpaca_message(exc)
    if status == 401 or (status == 403 and "not authorized" in message.lower()):
        return InputError(
            f"Alpaca refused the API keys (HTTP {status}: {message})",
            hint=f"check {KEY_ENV} and {SECRET_ENV}; paper keys work only on the paper API, "
            "live keys only with live=True",
        )
    if status == 404:
        return NotFoundError(f"Alpaca could not {what}: {message}")
    return InputError(f"Alpaca refused to {what} (HTTP {status}: {message})")


def unknown_order(kind: str, value: str) -> NotFoundError:
    return NotFoundError(
        f"Alpaca has no order with {kind} {value!r}",
        hint="list orders with broker.orders('all')",
    )
