"""Alpaca's documented order rules, as the loopback stand-in enforces them.

Each rule names the page it comes from, so that a reader can check the stand-in against
Alpaca rather than take it on trust. Pure functions of an order's JSON body (and the
market price, the time, the resting orders): the server in :mod:`tests.standins.alpaca`
calls them and turns a :class:`Refusal` into Alpaca's error answer.

Where Alpaca's pages give a range rather than a number (the market-buy collar), the
stand-in takes a value inside it and says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal, InvalidOperation

import pandas as pd

from engine.data import calendar

ORDERS = "https://docs.alpaca.markets/docs/orders-at-alpaca"
PLACE_ORDER = "https://docs.alpaca.markets/reference/postorder"
CANCEL_ORDER = "https://docs.alpaca.markets/reference/deleteorderbyorderid"
FRACTIONAL = "https://docs.alpaca.markets/docs/fractional-trading"
USER_PROTECTION = "https://docs.alpaca.markets/docs/user-protection"
CALENDAR = "https://docs.alpaca.markets/reference/getcalendar"
LEGS_TIF = "https://github.com/alpacahq/Alpaca-API/issues/283"
PENDING_CANCEL = "https://github.com/alpacahq/Alpaca-API/issues/111"
SUB_PENNY = "https://github.com/alpacahq/alpaca-trade-api-go/issues/260"
WASH_TRADE = "https://forum.alpaca.markets/t/bogus-rule-potential-trade-wash-detected/13817"
RATE_LIMIT = "https://forum.alpaca.markets/t/executing-orders/12029"
#: Once a bracket's buy fills, its target works ("new") and its stop waits "held"; a held
#: leg is listed with the closed orders, not the open ones.
HELD_LEGS = "https://github.com/alpacahq/alpaca-trade-api-python/issues/322"
#: ``nested=true`` rolls legs up under their parent, and lists nothing of a bracket whose
#: buy has filled when asking for open orders.
NESTED = "https://github.com/alpacahq/alpaca-trade-api-js/issues/87"
#: A target fill cancels the held stop; a stop fill leaves the target "replaced".
OCO_STREAM = "https://github.com/alpacahq/alpaca-py/issues/198"
#: Canceling one leg of a bracket cancels the other.
CANCEL_LEG = "https://forum.alpaca.markets/t/bracket-order-closing-positions/11938"

#: Alpaca's error codes: 403 for what the account cannot afford or hold, 422 for an order
#: it will not take as written, 400... for a body it cannot read (PLACE_ORDER).
FORBIDDEN = 40310000
UNPROCESSABLE = 42210000
INVALID = 40010001

WORKING = {"new", "accepted", "partially_filled", "pending_new"}


@dataclass
class Refusal(Exception):
    """An order Alpaca refuses: the HTTP status, its code and message, extra body fields."""

    status: int
    code: int
    message: str
    extra: dict = field(default_factory=dict)

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, **self.extra}


# -- prices ----------------------------------------------------------------------------


def check_increment(name: str, value) -> None:
    """Refuses a price finer than Alpaca's tick: a cent from $1 up, 1/100 of a cent below.

    ORDERS ("Market Order": prices "rounded down to two decimal places if the last trade
    price is over $1.00; otherwise, rounded down to four decimal places") and SUB_PENNY
    (the 422 a limit price of 41.085 gets: "sub-penny increment does not fulfill minimum
    pricing criteria").
    """
    if value is None:
        return
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise Refusal(422, INVALID, f"invalid {name} {value!r}") from None
    places = 2 if price >= 1 else 4
    if price != price.quantize(Decimal(1).scaleb(-places)):
        raise Refusal(
            422,
            UNPROCESSABLE,
            f"invalid {name} {value}. sub-penny increment does not fulfill minimum pricing "
            "criteria",
        )


def market_buy_price(price: float) -> float:
    """What Alpaca values a market buy at, per share: above the last price by its collar.

    ORDERS ("Buying Power": "In the case of market buy orders, the limit price is 2.5% to
    4% above the current market price"). The stand-in takes 4% below $50 and 2.5% from
    $50 up, the split the same page uses to turn buy stops into stop limits; the
    workbench sizes with the top of the range.
    """
    return price * (1.04 if price < 50 else 1.025)


# -- order shapes ----------------------------------------------------------------------


def check_shape(body: dict, market_price: float | None, now: pd.Timestamp) -> None:
    """Refuses an order whose type, time in force, quantity or legs Alpaca does not take."""
    kind, tif = body.get("type"), body.get("time_in_force")
    qty = float(body["qty"])
    # FRACTIONAL ("Supported Order Types": fractional trading "for market and day order
    # types") and PLACE_ORDER (qty "can be fractionable for only market and day order types").
    if qty != int(qty) and (kind != "market" or tif != "day" or body.get("order_class")):
        raise Refusal(
            422, UNPROCESSABLE, "fractional orders must be market orders with time_in_force day"
        )
    for name in ("limit_price", "stop_price"):
        check_increment(name, body.get(name))
    _check_auction_window(tif, now)
    if (body.get("order_class") or "simple") in ("oto", "bracket"):
        _check_legs(body, market_price)
    if body.get("order_class") == "oco":
        _check_oco(body)


def _check_auction_window(tif: str | None, now: pd.Timestamp) -> None:
    """ORDERS ("Time in Force"): OPG orders "submitted after 9:28am but before 7:00pm ET will
    be rejected"; CLS orders "submitted after 3:50pm but before 7:00pm ET will be rejected"."""
    local = now.tz_convert(calendar.TZ).time()
    windows = {"opg": (time(9, 28), time(19, 0)), "cls": (time(15, 50), time(19, 0))}
    if tif in windows and windows[tif][0] < local < windows[tif][1]:
        start, end = windows[tif]
        raise Refusal(
            422,
            UNPROCESSABLE,
            f"{tif} orders are not accepted between {start:%H:%M} and {end:%H:%M} ET",
        )


def _check_legs(body: dict, market_price: float | None) -> None:
    """The rules of an order with an attached stop (OTO), ORDERS ("Bracket Orders", "OTO
    Orders", "Threshold on stop price of stop-loss orders")."""
    kind, tif = body.get("type"), body.get("time_in_force")
    # "time_in_force must be day or gtc"; the entry of an OTO is a market or limit order.
    if kind not in ("market", "limit") or tif not in ("day", "gtc"):
        raise Refusal(
            422,
            UNPROCESSABLE,
            "an order with an attached stop must be a market or limit order with "
            "time_in_force day or gtc",
        )
    if body.get("extended_hours"):  # "Extended hours are not supported."
        raise Refusal(422, UNPROCESSABLE, "extended hours are not supported for advanced orders")
    stop = (body.get("stop_loss") or {}).get("stop_price")
    if stop is None:
        raise Refusal(422, UNPROCESSABLE, "stop_loss.stop_price is required")
    check_increment("stop_loss.stop_price", stop)
    # "The stop price input has to be at least $0.01 below ... the base price": the entry's
    # limit price for a limit entry, and the current market price in any case.
    bases = [float(body["limit_price"])] if kind == "limit" else []
    bases += [market_price] if market_price is not None else []
    for base in bases:
        if float(stop) > base - 0.01 + 1e-9:
            raise Refusal(
                422,
                UNPROCESSABLE,
                f"stop_loss.stop_price must be at least 0.01 below the base price {base:g}",
            )
    if body.get("order_class") != "bracket":
        return
    # A bracket's "take_profit.limit_price must be >= base_price + 0.01".
    target = (body.get("take_profit") or {}).get("limit_price")
    if target is None:
        raise Refusal(422, UNPROCESSABLE, "take_profit.limit_price is required")
    check_increment("take_profit.limit_price", target)
    for base in bases:
        if float(target) < base + 0.01 - 1e-9:
            raise Refusal(
                422,
                UNPROCESSABLE,
                f"take_profit.limit_price must be at least 0.01 above the base price {base:g}",
            )


def _check_oco(body: dict) -> None:
    """ORDERS ("OCO Orders"): an exit of a position already held, a limit order whose
    take_profit.limit_price sits above its stop_loss.stop_price; day or gtc."""
    target = (body.get("take_profit") or {}).get("limit_price")
    stop = (body.get("stop_loss") or {}).get("stop_price")
    if target is None or stop is None:
        raise Refusal(
            422,
            UNPROCESSABLE,
            "oco orders require take_profit.limit_price and stop_loss.stop_price",
        )
    if body.get("time_in_force") not in ("day", "gtc"):
        raise Refusal(422, UNPROCESSABLE, "oco orders must be day or gtc")
    check_increment("take_profit.limit_price", target)
    check_increment("stop_loss.stop_price", stop)
    if float(target) <= float(stop):
        raise Refusal(
            422, UNPROCESSABLE, "take_profit.limit_price must be above stop_loss.stop_price"
        )


# -- orders against each other ---------------------------------------------------------


def wash_trade(body: dict, resting: list[dict]) -> Refusal | None:
    """The refusal of an order that could trade against the account's own opposite order.

    USER_PROTECTION ("Preventing Wash Trades") and WASH_TRADE (a market buy while a limit
    sell on the same stock is pending: 403, code 40310000, "potential wash trade detected.
    use complex orders"). Crossing: either side is a market order, or the buy's price
    reaches the sell's (a stop counts at its stop price). Legs waiting for their entry
    (held) are not working yet.
    """
    side, price = body.get("side"), _price(body)
    for order in resting:
        if order["symbol"] != body["symbol"].upper() or order["side"] == side:
            continue
        if order["status"] not in WORKING:
            continue
        theirs = _price(order)
        if price is None or theirs is None:
            crosses = True
        else:
            buy, sell = (price, theirs) if side == "buy" else (theirs, price)
            crosses = buy >= sell
        if crosses:
            return Refusal(403, FORBIDDEN, "potential wash trade detected. use complex orders")
    return None


def _price(order: dict) -> float | None:
    """An order's price for crossing: its limit, else its stop; None for a market order."""
    value = order.get("limit_price") or order.get("stop_price")
    return None if value in (None, "") else float(value)


# -- the clock -------------------------------------------------------------------------


def day_order_expiry(submitted: pd.Timestamp, closes: pd.Series) -> pd.Timestamp:
    """When a DAY order submitted at ``submitted`` expires: the close of its session.

    ORDERS ("Time in Force", day): "If unfilled after the closing auction, it is
    automatically canceled. If submitted after the close, it is queued and submitted the
    following trading day." ``closes`` are the sessions' closes (UTC), in order. The legs
    of an order take its time in force (LEGS_TIF), so an OTO's stop leg on a DAY entry
    expires here too.
    """
    later = closes[closes > submitted]
    return later.iloc[0]
