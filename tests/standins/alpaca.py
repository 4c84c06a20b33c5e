"""A loopback stand-in for Alpaca's trading API, with faults on demand.

A small threaded HTTP server on 127.0.0.1 that speaks the endpoints alpaca-py's
``TradingClient`` uses (account, clock, orders including lookup by client order id,
positions) with JSON shaped like Alpaca's, so the real client is pointed at it with
``url_override=server.url``. It keeps its own books, written independently of the
workbench's paper broker so that the shared contract tests check one against the other.

Faults are asked for on the server object and recorded as they are injected::

    server.faults.add("500", method="POST", path="/v2/orders", count=2)
    server.faults.add("429", path="/v2/*", retry_after=1)
    server.faults.add("drop_after_accept", method="POST", path="/v2/orders")
    server.faults.add("slow", delay=1.0)                      # answer after the client gave up
    server.faults.add("503", path="*", count=None, probability=1/3)
    server.faults.add(["500", "429", "drop", "slow"], count=None, probability=1/3)  # one of

Kinds: an HTTP status (``"429"``, ``"500"``, ``"502"``, ``"503"``, ``"504"``, ``"403"``,
``"422"``; the request is not acted on; a 429 carries X-Ratelimit-Reset, ``reset_in``
seconds ahead of the wall clock, and Retry-After when ``retry_after`` is given),
``"drop"`` (connection closed before acting), ``"drop_after_accept"`` (acted on, e.g. the order placed, then closed without an answer),
``"slow"`` (acted on, answered after ``delay``), ``"slow_before"`` (waits ``delay``, then
acts), ``"partial"`` (a new market order fills only ``fraction`` of its qty).

It holds Alpaca's documented rules (:mod:`tests.standins.alpaca_rules` cites each page):
sub-penny prices are refused; an order with an attached stop (``order_class="oto"``) is a
market or limit entry, DAY or GTC, whose stop sits at least a cent below the base price,
and its stop leg takes the entry's time in force; DAY orders expire at their session's
close (by the ``now`` clock, which the tests control); a cancel is only accepted at first
(``pending_cancel``, its shares still held) and completes after ``cancel_reads`` reads of
the order or ``cancel_delay`` seconds; a market buy is valued above the last price for
buying power; an order that could trade against the account's own opposite order is a
wash trade; fractional quantities go only on market DAY orders; OPG and CLS orders only
outside their cut-off windows. :meth:`AlpacaStandIn.split` re-bases a position as a
stock split does, and ``sessions_override`` makes its calendar and clock disagree with
the NYSE calendar on purpose.

The stop leg waits ("held") until the buy fills, then works. A bracket (``"bracket"``: a
buy with a target and a stop) and an OCO (``"oco"``: a sell limit at the target whose leg
is the stop) rest their stop and target as one exit group, as Alpaca does: one member
works at the venue, the stop waits ``held`` yet still triggers, and a fill of either
cancels the other (the target reads ``replaced`` after a stop fill); a cancel of any
member cancels the group. Lists roll legs up under their parent only with ``nested=true``,
and then only under a parent the status filter lets through (so a filled bracket's legs
vanish from nested open lists); flat lists count a ``held`` leg as closed, not open
(:mod:`tests.standins.alpaca_rules`, ``EXIT_GROUPS``). ``checks`` run after every request
(under the lock), e.g. to watch an invariant while a loop trades. To play daily bars through
the books, :meth:`AlpacaStandIn.trade_bar` fills what a bar's open and range reach (the
paper broker's order of a session, without its costs), then closes the session. Because
DAY orders expire as the clock passes a close, play a session's bar before anything else
asks the stand-in about the time after that close.

Use the ``alpaca_standin`` fixture (import it into a conftest) or ``with AlpacaStandIn()``.
"""

from __future__ import annotations

import fnmatch
import json
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock_time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from engine.data import calendar
from tests.standins import alpaca_rules as rules
from tests.standins._server import JsonHandler, LoopbackServer
from tests.standins.alpaca_rules import Refusal
from tests.standins.faults import Fault, Faults

API_KEY = "standin-key-id"
SECRET_KEY = "standin-secret-key"
ERROR_KINDS = {"400", "403", "404", "422", "429", "500", "502", "503", "504"}
FAULT_KINDS = ERROR_KINDS | {"drop", "drop_after_accept", "slow", "slow_before", "partial"}
_DEFAULT_ERRORS = {
    "403": (40310000, "forbidden"),
    "422": (40010001, "request is not valid"),
    "429": (42910000, "rate limit exceeded"),
    "500": (50010000, "internal server error occurred"),
    "502": (50210000, "bad gateway"),
    "503": (50310000, "service unavailable"),
    "504": (50410000, "gateway timeout"),
}
_OPEN = rules.WORKING  # orders the market can fill
# Live: a leg waiting (for its buy, or beside its working sibling) and an order whose
# cancel is not done.
_LISTED_OPEN = _OPEN | {"held", "pending_cancel"}
# What a status=open list shows: a held leg reads as closed there (rules.HELD_LEGS).
_LISTED_AS_OPEN = _OPEN | {"pending_cancel"}
#: Order classes whose legs are one exit group, one cancelling the other.
EXIT_GROUPS = ("bracket", "oco")
# An order whose cancel is accepted but not done keeps its shares held (rules.PENDING_CANCEL).
_HOLDING = _OPEN | {"pending_cancel"}


@dataclass(frozen=True)
class Request:
    """One request the server saw and what became of it (status None: no answer sent)."""

    method: str
    path: str
    query: dict
    status: int | None
    fault: str | None
    client_order_id: str | None


# -- the server ------------------------------------------------------------------------


class AlpacaStandIn(LoopbackServer):
    """Alpaca's trading API on a random loopback port, with books you can read and steer.

    - ``prices``: the price per symbol that market orders fill at and positions are
      marked to; ``auto_fill`` fills a market order on arrival when its symbol has one.
    - ``unique_client_order_ids``: refuse a repeated client order id with 422, as Alpaca
      does (switch off to prove a client never sends a second order by itself), saying
      ``duplicate_message`` (a client must not depend on the wording).
    - ``now``: the clock behind /v2/clock and the expiry of DAY orders (aware UTC).
    - ``cancel_reads``, ``cancel_delay``: a cancel stays ``pending_cancel`` until the order
      has been read that many times, or that many seconds have passed (None: never by
      that route; both None: until :meth:`settle_cancels`).
    - ``wash_trade_check``: refuse orders that could trade against the account's own.
    - ``sessions_override``: {date: (open, close) New York times, or None for shut},
      where this Alpaca's calendar differs from the NYSE calendar.
    """

    def __init__(
        self,
        *,
        cash: float = 100_000.0,
        api_key: str = API_KEY,
        secret_key: str = SECRET_KEY,
        seed: int = 0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.api_key, self.secret_key = api_key, secret_key
        self.faults = Faults(FAULT_KINDS, seed)
        self.now = now
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.auto_fill = True
        self.unique_client_order_ids = True
        self.duplicate_message = "client_order_id must be unique"
        self.allow_short = False
        self.symbols: set[str] | None = None  # None: any symbol is tradable
        self.cancel_reads: int | None = 1
        self.cancel_delay: float | None = None
        self.wash_trade_check = True
        self.sessions_override: dict[date, tuple[clock_time, clock_time] | None] = {}
        #: Called with the stand-in after every request it answers, under its lock.
        self.checks: list[Callable[[AlpacaStandIn], None]] = []
        self.reset(cash=cash)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> AlpacaStandIn:
        _year_schedule(pd.Timestamp(self.now()).year)  # the calendar loads slowly, once
        return super().start()

    def reset(self, *, cash: float = 100_000.0) -> None:
        """Empty books with ``cash``; faults and the request log are cleared too."""
        with self.lock:
            self.cash = float(cash)
            self.orders: dict[str, dict] = {}  # by id, in arrival order
            self.positions: dict[str, dict] = {}  # symbol -> {"qty", "avg"}
            self.prices: dict[str, float] = {}
            self._expires: dict[str, pd.Timestamp] = {}  # DAY orders: id -> their close
            self._canceling: dict[str, list] = {}  # id -> [reads left, monotonic deadline]
            self._parents: dict[str, str] = {}  # a leg's id -> its parent's id
            self.bars_played: set[str] = set()  # bars trade_bar_once has played
            self.requests.clear()
            self.faults.clear()
            self.faults.injected.clear()

    # -- reading the books -------------------------------------------------------------

    def order_count(self) -> int:
        return len(self.orders)

    def client_order_ids(self) -> Counter:
        """How many orders each client order id has (more than 1 is a duplicate)."""
        with self.lock:
            return Counter(o["client_order_id"] for o in self.orders.values())

    def count(self, method: str, path: str = "*") -> int:
        """How many requests matched ``method`` and the ``path`` pattern."""
        return sum(
            1 for r in self.requests if r.method == method and fnmatch.fnmatchcase(r.path, path)
        )

    # -- the market --------------------------------------------------------------------

    def set_prices(self, prices: dict[str, float]) -> None:
        with self.lock:
            self.prices.update({s.upper(): float(p) for s, p in prices.items()})

    def fill(self, order_ref: str, qty: float | None = None, price: float | None = None) -> dict:
        """Fill ``qty`` (default: all that is left) of an order (id or client order id)."""
        with self.lock:
            order = self._find(str(order_ref))
            if order is None or not self._can_fill(order):
                raise ValueError(f"no open order {order_ref!r}")
            left = float(order["qty"]) - float(order["filled_qty"])
            qty = left if qty is None else min(float(qty), left)
            price = float(price if price is not None else self.prices[order["symbol"]])
            self._execute(order, qty, price)
            return self._json(order, nested=True)

    def fill_open_orders(self, prices: dict[str, float] | None = None) -> int:
        """Fill every open order that ``prices`` (or the current prices) reach; how many filled.

        Cancels still pending complete first: the market moving is time passing.
        """
        if prices:
            self.set_prices(prices)
        filled = 0
        with self.lock:
            self.settle_cancels()
            for order in list(self.orders.values()):
                price = self.prices.get(order["symbol"])
                if not self._can_fill(order) or price is None:
                    continue
                buy, kind = order["side"] == "buy", order["type"]
                limit = order["limit_price"] and float(order["limit_price"])
                stop = order["stop_price"] and float(order["stop_price"])
                if kind == "limit" and (price > limit if buy else price < limit):
                    continue
                if kind == "stop" and (price < stop if buy else price > stop):
                    continue
                left = float(order["qty"]) - float(order["filled_qty"])
                self._execute(order, left, price)
                filled += 1
        return filled

    def trade_bar(self, bar: dict[str, tuple[float, float, float, float]]) -> int:
        """Play one daily bar per symbol, (open, high, low, close), through the open orders.

        Cancels still pending complete overnight. At the open: market orders, and stops or
        limits the open went through, fill at the open, sells first; then the stops and
        limits the range reaches fill at their price (or the open, if better for the
        market); then prices are the closes, and DAY orders whose session closed by
        ``now`` expire. No costs. Gives the number of orders filled.
        """
        filled = 0
        with self.lock:
            self.settle_cancels()
            self.set_prices({s: b[0] for s, b in bar.items()})
            working = [o for o in self.orders.values() if self._can_fill(o)]
            at_open = [o for o in working if _opens_through(o, bar)]
            for order in sorted(at_open, key=lambda o: o["side"] == "buy"):
                if self._can_fill(order):  # a sibling's fill may have canceled it
                    filled += self._fill_whole(order, bar[order["symbol"]][0])
            for order in [o for o in self.orders.values() if self._can_fill(o)]:
                if order["symbol"] not in bar or not self._can_fill(order):
                    continue
                open_, high, low, _ = bar[order["symbol"]]
                # A bar that reaches both members of an exit group: which came first is
                # not in a daily bar; the stand-in takes the stop (the backtest's rule).
                if order["type"] == "limit" and any(
                    s["type"] == "stop" and _reached(s, open_, high, low)
                    for s in self._siblings(order)
                ):
                    continue
                if _reached(order, open_, high, low):
                    level = float(order["stop_price"] or order["limit_price"])
                    # The level, unless the open was already past it (then the open): the
                    # higher of the two for a buy stop or a sell limit, else the lower.
                    higher = (order["side"] == "buy") == (order["type"] == "stop")
                    price = max(open_, level) if higher else min(open_, level)
                    filled += self._fill_whole(order, price)
            self.set_prices({s: b[3] for s, b in bar.items()})
            self._expire_day_orders()
        return filled

    def settle_cancels(self) -> int:
        """Completes every cancel still pending; gives how many."""
        with self.lock:
            pending = [self.orders[i] for i in list(self._canceling)]
            for order in pending:
                self._cancel(order)
            return len(pending)

    def stop_cover(self, symbol: str, *, exits: bool = False) -> float:
        """Shares of ``symbol`` that working sell stops would sell (legs waiting left out);
        with ``exits``, market sells too (they sell at the next open)."""
        kinds = ("stop", "market") if exits else ("stop",)
        with self.lock:
            return sum(
                float(o["qty"]) - float(o["filled_qty"])
                for o in self.orders.values()
                if o["symbol"] == symbol.upper()
                and o["side"] == "sell"
                and o["type"] in kinds
                and o["status"] in _OPEN
            )

    def protections(self, symbol: str) -> list[dict]:
        """The live protective orders of ``symbol``: each sell stop still live whose entry
        (if it has one) has filled, as {"stop", "target", "qty", "ids"}; ``target`` is the
        limit of its exit group (None for a lone stop), ``ids`` the orders of the group."""
        with self.lock:
            found = []
            for order in self.orders.values():
                parent = self.orders.get(self._parents.get(order["id"], ""))
                if (
                    order["symbol"] != symbol.upper()
                    or order["side"] != "sell"
                    or order["type"] != "stop"
                    or order["status"] not in _LISTED_OPEN
                    or (parent is not None and parent["side"] == "buy"
                        and parent["status"] != "filled")
                ):  # fmt: skip
                    continue
                targets = [o for o in self._siblings(order) if o["status"] in _LISTED_OPEN]
                found.append(
                    {
                        "stop": float(order["stop_price"]),
                        "target": float(targets[0]["limit_price"]) if targets else None,
                        "qty": float(order["qty"]) - float(order["filled_qty"]),
                        "ids": [order["id"], *(o["id"] for o in targets)],
                    }
                )
            return found

    def trade_bar_once(self, day: str, bar: dict, now: datetime | None = None) -> int:
        """:meth:`trade_bar` for the bar ``day`` (a session, or an intraday bar's time), once:
        a bar trades only once, so a loop that repeats a step after a crash finds the market
        as it left it. ``now`` (aware) moves the clock there first (a loop in another
        process sends its own)."""
        with self.lock:
            if now is not None:
                self.now = lambda: now
            if day in self.bars_played:
                return 0
            self.bars_played.add(day)
            return self.trade_bar(bar)

    def split(self, symbol: str, ratio: float, *, cash_in_lieu: bool = False) -> None:
        """A ``ratio``-for-1 stock split of ``symbol`` (0.1: a 1-for-10 reverse split).

        The position's shares are multiplied and its average price divided, with no fill,
        and so is the price. With ``cash_in_lieu`` a fraction of a share the ratio leaves
        is sold at the new price into cash. Open orders stay as they were, except non-marketable GTC
        limit orders outside an order group: rules.ORDERS ("Time in Force", gtc: such
        orders "are subject to price adjustments to offset corporate actions"; "Bracket
        Orders": each order of a group carries Do Not Reduce/Do Not Cancel, so "the order
        price will not be adjusted"). A stop attached to an entry keeps its old shares and
        price.
        """
        symbol = symbol.upper()
        with self.lock:
            position = self.positions[symbol]
            position["qty"] *= ratio
            position["avg"] /= ratio
            if symbol in self.prices:
                self.prices[symbol] /= ratio
            fraction = position["qty"] - int(position["qty"]) if cash_in_lieu else 0.0
            if fraction > 1e-9:
                position["qty"] -= fraction
                self.cash += fraction * self.prices.get(symbol, position["avg"])
            for order in self.orders.values():
                if (
                    order["symbol"] == symbol
                    and order["status"] in _LISTED_OPEN
                    and order["type"] == "limit"
                    and order["time_in_force"] == "gtc"
                    and not order["order_class"]
                ):
                    order["qty"] = _text(float(order["qty"]) * ratio)
                    order["limit_price"] = _text(float(order["limit_price"]) / ratio)

    def pay_dividend(self, symbol: str, amount: float) -> None:
        """Pays a cash dividend of ``amount`` a share on the ``symbol`` held (its pay date)."""
        with self.lock:
            self.cash += self.positions[symbol.upper()]["qty"] * amount

    def _fill_whole(self, order: dict, price: float) -> int:
        left = float(order["qty"]) - float(order["filled_qty"])
        if order["side"] == "sell" and not self.allow_short:
            left = min(left, self.positions.get(order["symbol"], {"qty": 0.0})["qty"])
        if left <= 1e-9:
            self._cancel(order)
            return 0
        self._execute(order, left, price)
        return 1

    # -- request handling (called by the handler, under no lock) -----------------------

    def dispatch(
        self,
        method: str,
        path: str,
        query: dict,
        body: Any,
        kind: str | None = None,
        fault: Fault | None = None,
    ):
        """(status, JSON body or None) for one request; ``kind`` is the fault being injected."""
        with self.lock:
            answer = self._dispatch(method, path, query, body, kind, fault)
            for check in self.checks:
                check(self)
            return answer

    def _dispatch(self, method, path, query, body, kind, fault):
        with self.lock:
            if (method, path) == ("POST", "/standin/bar"):
                # Not Alpaca's: a loop in another process moving this market (tests).
                now = datetime.fromisoformat(body["now"]).replace(tzinfo=UTC)
                bar = {s: tuple(v) for s, v in body["bar"].items()}
                return 200, {"filled": self.trade_bar_once(body["day"], bar, now)}
            self._settle_due_cancels()
            self._expire_day_orders()
            parts = [p for p in path.split("/") if p]
            if parts[:1] != ["v2"]:
                return _error(404, 40410000, "endpoint not found")
            parts = parts[1:]
            route = (method, parts[0] if parts else "", len(parts))
            if route == ("GET", "account", 1):
                return 200, self._account_json()
            if route == ("GET", "clock", 1):
                return 200, self._clock_json()
            if route == ("GET", "calendar", 1):
                return 200, self._calendar_json(query)
            if route == ("GET", "orders", 1):
                return 200, self._list_orders(query)
            if route == ("POST", "orders", 1):
                partial = fault.fraction if kind == "partial" else None
                try:
                    return self._submit(body or {}, partial)
                except Refusal as refused:
                    return refused.status, refused.body()
            if route == ("DELETE", "orders", 1):
                return 207, [
                    {"id": o["id"], "status": 200, "body": self._request_cancel(o)}
                    for o in list(self.orders.values())
                    if o["status"] in _LISTED_OPEN
                ]
            if route == ("GET", "orders:by_client_order_id", 1):
                order = self._find_cid(query.get("client_order_id", ""))
                if order is None:
                    return _error(404, 40410000, "order not found")
                return 200, self._json(self._read(order), nested=False)
            if route[:2] in (("GET", "orders"), ("DELETE", "orders")) and len(parts) == 2:
                order = self.orders.get(parts[1])
                if order is None:
                    return _error(404, 40410000, f"order not found for {parts[1]}")
                if method == "GET":
                    return 200, self._json(self._read(order), nested=_nested(query))
                # rules.CANCEL_ORDER: 422 once the order is no longer cancelable; 204 "upon
                # acceptance of the cancel request", which is not the cancel being done.
                if order["status"] not in _LISTED_OPEN:
                    return _error(422, 42210000, "order is not cancelable")
                self._request_cancel(order)
                return 204, None
            if route == ("GET", "positions", 1):
                return 200, [self._position_json(s) for s in sorted(self.positions)]
            if route[:2] in (("GET", "positions"), ("DELETE", "positions")) and len(parts) == 2:
                symbol = parts[1].upper()
                if symbol not in self.positions:
                    return _error(404, 40410000, "position does not exist")
                if method == "GET":
                    return 200, self._position_json(symbol)
                try:
                    return self._close_position(symbol)
                except Refusal as refused:
                    return refused.status, refused.body()
            return _error(404, 40410000, f"endpoint not found: {method} {path}")

    # -- the books (callers hold the lock) ---------------------------------------------

    def _find(self, ref: str) -> dict | None:
        return self.orders.get(ref) or self._find_cid(ref)

    def _find_cid(self, cid: str) -> dict | None:
        # The newest order with this id (there is only one unless uniqueness is off).
        return next(
            (o for o in reversed(self.orders.values()) if o["client_order_id"] == cid), None
        )

    def _submit(self, body: dict, partial: float | None = None):
        symbol = str(body.get("symbol") or "").upper()
        side, kind = body.get("side"), body.get("type")
        tif = body.get("time_in_force")
        cid = body.get("client_order_id") or str(uuid.uuid4())
        if not symbol:
            return _error(422, 40010001, "symbol is required")
        if self.symbols is not None and symbol not in self.symbols:
            return _error(422, 40010001, f'asset "{symbol}" not found')
        if body.get("qty") in (None, "") or float(body["qty"]) <= 0:
            return _error(422, 40010001, "qty must be > 0")
        if side not in ("buy", "sell"):
            return _error(422, 40010001, "side must be buy or sell")
        if kind not in ("market", "limit", "stop"):
            return _error(422, 40010001, f"order type {kind!r} is not supported here")
        order_class = body.get("order_class") or ""
        stop_loss = (body.get("stop_loss") or {}).get("stop_price")
        take_profit = (body.get("take_profit") or {}).get("limit_price")
        if order_class not in ("", "simple", "oto", *EXIT_GROUPS):
            return _error(422, 40010001, f"order_class {order_class!r} is not supported here")
        if order_class == "oto" and (side != "buy" or stop_loss is None):
            return _error(422, 40010001, "oto orders here are buys with stop_loss.stop_price")
        if order_class == "bracket" and side != "buy":
            return _error(422, 40010001, "bracket orders here are buys (long entries)")
        if order_class == "oco":
            # rules.ORDERS ("OCO Orders"): an exit of a held position, type limit, the
            # limit taken from take_profit.
            if side != "sell" or kind != "limit":
                return _error(422, 40010001, "oco orders here are sell limits (exits)")
            body = {**body, "limit_price": body.get("limit_price") or take_profit}
        if tif not in ("day", "gtc", "opg", "cls", "ioc", "fok"):
            return _error(422, 40010001, "invalid time_in_force")
        if kind == "limit" and body.get("limit_price") is None:
            return _error(422, 40010001, "limit_price is required for limit orders")
        if kind == "stop" and body.get("stop_price") is None:
            return _error(422, 40010001, "stop_price is required for stop orders")
        if len(cid) > 128:
            return _error(422, 40010001, "client_order_id must be no more than 128 characters")
        rules.check_shape(body, self.prices.get(symbol), pd.Timestamp(self.now()))
        if self.unique_client_order_ids and self._find_cid(cid) is not None:
            return _error(422, 40010001, self.duplicate_message)
        if self.wash_trade_check:
            refused = rules.wash_trade(body, list(self.orders.values()))
            if refused is not None:
                raise refused
        qty = float(body["qty"])
        if side == "buy":
            cost = qty * self._buy_price(body, symbol)
            if cost > self._buying_power() + 1e-6:
                raise Refusal(403, rules.FORBIDDEN, "insufficient buying power")
        elif not self.allow_short:
            self._check_available(symbol, qty)
        now = _stamp(self.now())
        order = {
            "id": str(uuid.uuid4()),
            "client_order_id": cid,
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": None,
            "expired_at": None,
            "canceled_at": None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"alpaca-asset:{symbol}")),
            "symbol": symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": _text(qty),
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": order_class if order_class != "simple" else "",
            "order_type": kind,
            "type": kind,
            "side": side,
            "position_intent": "buy_to_open" if side == "buy" else "sell_to_close",
            "time_in_force": tif,
            "limit_price": _price_text(body.get("limit_price")),
            "stop_price": _price_text(body.get("stop_price")),
            "status": "accepted",
            "extended_hours": bool(body.get("extended_hours", False)),
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "subtag": None,
            "source": None,
            "expires_at": None,
        }
        self.orders[order["id"]] = order
        legs = []
        if order_class == "bracket":
            legs.append(self._leg(order, "limit", take_profit))
        if order_class in ("oto", "bracket", "oco"):
            legs.append(self._leg(order, "stop", stop_loss))
        if legs:
            order["legs"] = legs  # the same dicts: the parent shows its legs as they are now
            for leg in legs:
                self.orders[leg["id"]] = leg
                self._parents[leg["id"]] = order["id"]
        if tif == "day":
            closes = self._sessions(self.now(), days=15)["market_close"]
            expiry = rules.day_order_expiry(pd.Timestamp(self.now()), closes)
            self._expires.update({o["id"]: expiry for o in [order, *(order["legs"] or [])]})
        price = self.prices.get(symbol)
        if kind == "market" and price is not None:
            if partial is not None:
                self._execute(order, qty * partial, price)
            elif self.auto_fill:
                self._execute(order, qty, price)
        return 200, self._json(order, nested=True)

    def _leg(self, parent: dict, kind: str, price) -> dict:
        """A sell leg of ``parent`` at ``price``: a stop, or the target's limit. It waits
        (``held``) and takes the parent's time in force (rules.LEGS_TIF)."""
        return {
            **parent,
            "id": str(uuid.uuid4()),
            "client_order_id": str(uuid.uuid4()),  # Alpaca names legs itself
            "order_type": kind,
            "type": kind,
            "side": "sell",
            "position_intent": "sell_to_close",
            "stop_price": _price_text(price) if kind == "stop" else None,
            "limit_price": _price_text(price) if kind == "limit" else None,
            "status": "held",
            "legs": None,
        }

    def _siblings(self, order: dict) -> list[dict]:
        """The other members of ``order``'s exit group (a bracket's legs once its buy has
        filled, an OCO's limit and stop); none for any other order."""
        parent = self.orders.get(self._parents.get(order["id"], ""), order)
        if parent.get("order_class") not in EXIT_GROUPS:
            return []
        group = list(parent["legs"] or [])
        if parent["order_class"] == "oco":
            group.append(parent)
        elif order is parent:
            return []  # a bracket's buy is its entry, not one of its exits
        return [o for o in group if o is not order]

    def _can_fill(self, order: dict) -> bool:
        """True when the market can fill ``order``: it works, or it is the held member of an
        exit group whose other member works (Alpaca triggers the held stop all the same)."""
        if order["status"] in _OPEN:
            return True
        return order["status"] == "held" and any(
            o["status"] in _OPEN for o in self._siblings(order)
        )

    def _execute(self, order: dict, qty: float, price: float) -> None:
        """Book a fill: the order, the position (average cost) and cash."""
        filled_before = float(order["filled_qty"])
        filled = filled_before + qty
        avg_before = float(order["filled_avg_price"] or 0.0)
        order["filled_avg_price"] = _text((avg_before * filled_before + price * qty) / filled)
        order["filled_qty"] = _text(filled)
        order["status"] = "filled" if filled >= float(order["qty"]) - 1e-9 else "partially_filled"
        now = _stamp(self.now())
        order["updated_at"] = now
        if order["status"] == "filled":
            order["filled_at"] = now
            legs = order.get("legs") or []
            for leg in legs if order["side"] == "buy" else []:
                # The buy filled: its stop works from now on; a bracket's target works at
                # the venue and its stop waits beside it, held (rules.HELD_LEGS).
                working = order["order_class"] == "oto" or leg["type"] == "limit"
                leg.update(qty=_text(filled), updated_at=now)
                if working and leg["status"] == "held":
                    leg.update(status="new")
        for sibling in self._siblings(order):
            # One cancels the other (rules.ORDERS); after a stop fill Alpaca shows the
            # target "replaced" (rules.OCO_STREAM).
            if sibling["status"] in _LISTED_OPEN:
                self._canceling.pop(sibling["id"], None)
                closed = "replaced" if order["type"] == "stop" else "canceled"
                sibling.update(status=closed, updated_at=now)
                sibling["replaced_at" if closed == "replaced" else "canceled_at"] = now
        signed = qty if order["side"] == "buy" else -qty
        self.cash -= signed * price
        pos = self.positions.get(order["symbol"], {"qty": 0.0, "avg": 0.0})
        new_qty = pos["qty"] + signed
        if abs(new_qty) < 1e-9:
            self.positions.pop(order["symbol"], None)
            return
        if pos["qty"] == 0 or (pos["qty"] > 0) == (signed > 0):
            pos["avg"] = (pos["qty"] * pos["avg"] + signed * price) / new_qty
        elif (pos["qty"] > 0) != (new_qty > 0):
            pos["avg"] = price
        pos["qty"] = new_qty
        self.positions[order["symbol"]] = pos

    def _cancel(self, order: dict) -> dict:
        """Cancels ``order`` now (its waiting legs and its exit group with it)."""
        now = _stamp(self.now())
        self._canceling.pop(order["id"], None)
        order.update(status="canceled", canceled_at=now, updated_at=now)
        for other in [*(order.get("legs") or []), *self._siblings(order)]:
            if other["status"] in _LISTED_OPEN:
                self._canceling.pop(other["id"], None)
                other.update(status="canceled", canceled_at=now, updated_at=now)
        return order

    def _request_cancel(self, order: dict) -> dict:
        """Accepts a cancel: the order is ``pending_cancel`` until reads or time complete it.

        rules.PENDING_CANCEL (a DELETE's success "doesn't mean ... the order has been
        canceled"; meanwhile a sell for the same shares is refused, held_for_orders).
        """
        group = [o for o in [order, *self._siblings(order)] if o["status"] in _LISTED_OPEN]
        # rules.CANCEL_LEG: canceling one member of an exit group cancels the others.
        if group and not any(o["id"] in self._canceling for o in group):
            if self.cancel_reads == 0 or self.cancel_delay == 0:
                return self._json(self._cancel(order), nested=False)
            deadline = None if self.cancel_delay is None else time.monotonic() + self.cancel_delay
            self._canceling[order["id"]] = [self.cancel_reads, deadline]
            for member in group:
                member.update(status="pending_cancel", updated_at=_stamp(self.now()))
        return self._json(order, nested=False)

    def _read(self, order: dict) -> dict:
        """``order`` as a read answers it: a pending cancel (of it, its legs or its exit
        group) counts the read, and may complete."""
        for member in [order, *(order.get("legs") or []), *self._siblings(order)]:
            waiting = self._canceling.get(member["id"])
            if waiting is not None and waiting[0] is not None:
                waiting[0] -= 1
                if waiting[0] <= 0:
                    self._cancel(member)
        return order

    def _json(self, order: dict, *, nested: bool) -> dict:
        """``order`` as Alpaca answers it: its legs rolled up under it only when asked
        for (rules.NESTED), else ``legs`` null."""
        legs = order.get("legs")
        return {**order, "legs": [dict(leg) for leg in legs] if nested and legs else None}

    def _settle_due_cancels(self) -> None:
        now = time.monotonic()
        for order_id, (_, deadline) in list(self._canceling.items()):
            if deadline is not None and now >= deadline:
                self._cancel(self.orders[order_id])

    def _expire_day_orders(self) -> None:
        """DAY orders (and their legs) whose session has closed by ``now`` expire."""
        now = pd.Timestamp(self.now())
        for order_id, expiry in list(self._expires.items()):
            order = self.orders[order_id]
            if order["status"] not in _LISTED_OPEN:
                del self._expires[order_id]
            elif now >= expiry:
                self._canceling.pop(order_id, None)
                order.update(status="expired", expired_at=_stamp(expiry), updated_at=_stamp(expiry))
                del self._expires[order_id]

    def _close_position(self, symbol: str):
        qty = self.positions[symbol]["qty"]
        return self._submit(
            {
                "symbol": symbol,
                "qty": abs(qty),
                "side": "sell" if qty > 0 else "buy",
                "type": "market",
                "time_in_force": "day",
            }
        )

    def _buy_price(self, order: dict, symbol: str) -> float:
        """What a buy is valued at per share for buying power (a market buy: with the collar)."""
        price = order.get("limit_price") or order.get("stop_price")
        if price not in (None, ""):
            return float(price)
        last = self.prices.get(symbol)
        return 0.0 if last is None else rules.market_buy_price(last)

    def _buying_power(self) -> float:
        """Cash less what open buys would cost (rules.ORDERS, "Buying Power": open buy orders
        reduce it until they are canceled)."""
        reserved = sum(
            (float(o["qty"]) - float(o["filled_qty"])) * self._buy_price(o, o["symbol"])
            for o in self.orders.values()
            if o["side"] == "buy" and o["status"] in _HOLDING
        )
        return max(self.cash - reserved, 0.0)

    def _check_available(self, symbol: str, qty: float) -> None:
        """Refuses a sell of more shares than are held and not already under a sell order.

        rules.PENDING_CANCEL: 403, code 40310000, with the shares held for other orders
        (a cancel not yet done still holds them) and those orders' ids.
        """
        held = self.positions.get(symbol, {"qty": 0.0})["qty"]
        holding = [
            o
            for o in self.orders.values()
            if o["symbol"] == symbol and o["side"] == "sell" and o["status"] in _HOLDING
        ]
        held_for_orders = sum(float(o["qty"]) - float(o["filled_qty"]) for o in holding)
        available = max(held - held_for_orders, 0.0)
        if qty > available + 1e-9:
            raise Refusal(
                403,
                rules.FORBIDDEN,
                f"insufficient qty available for order (requested: {qty:g}, available: "
                f"{available:g})",
                {
                    "symbol": symbol,
                    "available": _text(available),
                    "existing_qty": _text(held),
                    "held_for_orders": _text(held_for_orders),
                    "related_orders": [o["id"] for o in holding],
                },
            )

    def _mark(self, symbol: str) -> float:
        return self.prices.get(symbol, self.positions[symbol]["avg"])

    def _position_json(self, symbol: str) -> dict:
        pos = self.positions[symbol]
        qty, avg, price = pos["qty"], pos["avg"], self._mark(symbol)
        cost = qty * avg
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"alpaca-asset:{symbol}")),
            "symbol": symbol,
            "exchange": "NASDAQ",
            "asset_class": "us_equity",
            "asset_marginable": True,
            "qty": _text(qty),
            "qty_available": _text(qty),
            "avg_entry_price": _text(avg),
            "side": "long" if qty > 0 else "short",
            "market_value": _text(qty * price),
            "cost_basis": _text(cost),
            "unrealized_pl": _text((price - avg) * qty),
            "unrealized_plpc": _text((price - avg) / avg if avg else 0.0),
            "unrealized_intraday_pl": "0",
            "unrealized_intraday_plpc": "0",
            "current_price": _text(price),
            "lastday_price": _text(price),
            "change_today": "0",
        }

    def _account_json(self) -> dict:
        long_value = sum(
            p["qty"] * self._mark(s) for s, p in self.positions.items() if p["qty"] > 0
        )
        short_value = sum(
            p["qty"] * self._mark(s) for s, p in self.positions.items() if p["qty"] < 0
        )
        equity = self.cash + long_value + short_value
        buying_power = self._buying_power()
        return {
            "id": "e6fe16f3-64a4-4921-8928-cadf02f92f98",
            "account_number": "PA0STANDIN",
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": _text(buying_power),
            "regt_buying_power": _text(buying_power),
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": _text(buying_power),
            "cash": _text(self.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "portfolio_value": _text(equity),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": "2024-01-02T15:00:00.000000Z",
            "trade_suspended_by_user": False,
            "multiplier": "1",
            "shorting_enabled": self.allow_short,
            "equity": _text(equity),
            "last_equity": _text(equity),
            "long_market_value": _text(long_value),
            "short_market_value": _text(short_value),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": 0,
        }

    def _sessions(self, start, days: int) -> pd.DataFrame:
        """Sessions from ``start``'s date for ``days`` days: ``market_open``/``market_close`` (UTC).

        The NYSE calendar, changed where ``sessions_override`` says so.
        """
        first = pd.Timestamp(start)
        first = (first.tz_convert(calendar.TZ) if first.tzinfo else first).tz_localize(None)
        first = first.normalize()
        last = first + pd.Timedelta(days=days)
        years = [_year_schedule(year) for year in range(first.year, last.year + 1)]
        frame = pd.concat(years).loc[first:last, ["market_open", "market_close"]].copy()
        for day, hours in self.sessions_override.items():
            stamp = pd.Timestamp(day)
            if not first <= stamp <= last:
                continue
            frame = frame.drop(stamp, errors="ignore")
            if hours is not None:
                frame.loc[stamp] = [
                    pd.Timestamp.combine(day, t).tz_localize(calendar.TZ).tz_convert("UTC")
                    for t in hours
                ]
        return frame.sort_index()

    def _clock_json(self) -> dict:
        now = pd.Timestamp(self.now()).tz_convert("UTC")
        sessions = self._sessions(now, days=14)
        opens, closes = sessions["market_open"], sessions["market_close"]
        ny = calendar.TZ
        is_open = bool(((opens <= now) & (now < closes)).any())
        return {
            "timestamp": now.tz_convert(ny).isoformat(),
            "is_open": is_open,
            "next_open": opens[opens > now].iloc[0].tz_convert(ny).isoformat(),
            "next_close": closes[closes > now].iloc[0].tz_convert(ny).isoformat(),
        }

    def _calendar_json(self, query: dict) -> list[dict]:
        """GET /v2/calendar (rules.CALENDAR): each session's date, open and close, New York time."""
        start = pd.Timestamp(query.get("start") or pd.Timestamp(self.now()).date())
        end = pd.Timestamp(query.get("end") or start + pd.Timedelta(days=30))
        sessions = self._sessions(start, days=max((end - start).days, 0))
        ny = calendar.TZ
        return [
            {
                "date": f"{day:%Y-%m-%d}",
                "open": f"{row.market_open.tz_convert(ny):%H:%M}",
                "close": f"{row.market_close.tz_convert(ny):%H:%M}",
                "session_open": "0400",
                "session_close": "2000",
                "settlement_date": f"{day + pd.offsets.BDay(1):%Y-%m-%d}",
            }
            for day, row in sessions.iterrows()
        ]

    def _list_orders(self, query: dict) -> list[dict]:
        status = query.get("status", "open")
        limit = min(int(query.get("limit", 50)), 500)
        after = _parse_time(query.get("after"))
        until = _parse_time(query.get("until"))
        symbols = set(query["symbols"].split(",")) if query.get("symbols") else None
        chosen = []
        nested = _nested(query)
        for o in list(self.orders.values()):
            if nested and o["id"] in self._parents:
                continue  # rolled up under its parent (rules.NESTED)
            if o["id"] in self._canceling:
                self._read(o)
            is_open = o["status"] in _LISTED_AS_OPEN
            if (status == "open" and not is_open) or (status == "closed" and is_open):
                continue
            submitted = _parse_time(o["submitted_at"])
            if (after and submitted <= after) or (until and submitted >= until):
                continue
            if symbols and o["symbol"] not in symbols:
                continue
            if query.get("side") and o["side"] != query["side"]:
                continue
            chosen.append(o)
        chosen.sort(
            key=lambda o: o["submitted_at"], reverse=query.get("direction", "desc") == "desc"
        )
        return [self._json(o, nested=nested) for o in chosen[:limit]]


class _Handler(JsonHandler):
    standin: AlpacaStandIn  # set on the subclass made by AlpacaStandIn.start
    protocol_version = "HTTP/1.0"  # one request per connection: a drop drops only that one

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        standin = self.standin
        split = urlsplit(self.path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        cid = (body or {}).get("client_order_id") if isinstance(body, dict) else None
        cid = cid or query.get("client_order_id")

        def log(status: int | None, fault: str | None) -> None:
            with standin.lock:
                standin.requests.append(Request(method, path, query, status, fault, cid))

        if (
            self.headers.get("APCA-API-KEY-ID") != standin.api_key
            or self.headers.get("APCA-API-SECRET-KEY") != standin.secret_key
        ):
            log(401, None)
            return self._send(*_error(401, 40110000, "request is not authorized"))

        picked = standin.faults.pick(method, path)
        fault, kind = picked if picked else (None, None)
        if fault is not None and kind != "partial":
            standin.faults.record(method, path, kind, cid)
        if kind in ERROR_KINDS:
            code, message = _DEFAULT_ERRORS.get(kind, (int(kind) * 100000, "error"))
            status, payload = _error(int(kind), fault.code or code, fault.message or message)
            headers = {}
            if kind == "429":
                # Alpaca's answer says when the rate counter resets, in epoch seconds of
                # the wall clock (rules.RATE_LIMIT); Retry-After only when asked for.
                reset = math.ceil(time.time() + fault.reset_in)
                headers.update({"X-Ratelimit-Limit": "200", "X-Ratelimit-Remaining": "0",
                                "X-Ratelimit-Reset": str(reset)})  # fmt: skip
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
            log(status, kind)
            return self._send(status, payload, headers)
        if kind == "drop":
            log(None, kind)
            return self._drop()
        if kind == "slow_before":
            time.sleep(fault.delay)

        status, payload = standin.dispatch(method, path, query, body, kind, fault)
        if kind == "partial":
            standin.faults.record(method, path, kind, cid)
        if kind == "drop_after_accept":
            log(None, kind)
            return self._drop()
        log(status, kind)
        if kind == "slow":
            time.sleep(fault.delay)
        self._send(status, payload)


def _nested(query: dict) -> bool:
    return str(query.get("nested", "")).lower() == "true"


def _opens_through(order: dict, bar: dict) -> bool:
    if order["symbol"] not in bar:
        return False
    open_ = bar[order["symbol"]][0]
    return _reached(order, open_, open_, open_)


def _reached(order: dict, open_, high, low) -> bool:
    """True when prices open..high/low reach the order (a market order: any price)."""
    if open_ is None:
        return False
    kind, buy = order["type"], order["side"] == "buy"
    if kind == "market":
        return True
    level = float(order["stop_price"] if kind == "stop" else order["limit_price"])
    if kind == "stop":
        return high >= level if buy else low <= level
    return low < level if buy else high > level


def _year_schedule(year: int) -> pd.DataFrame:
    """The NYSE sessions of ``year`` (one cached read of the calendar per year)."""
    return calendar.schedule(f"{year}-01-01", f"{year}-12-31")


# -- JSON helpers ----------------------------------------------------------------------


def _error(status: int, code: int, message: str):
    return status, {"code": code, "message": message}


def _text(value: float) -> str:
    """A number as Alpaca writes it: a string, without float noise."""
    return f"{float(value):.10g}" if value is not None else None


def _price_text(value) -> str | None:
    return None if value is None else _text(float(value))


def _stamp(at: datetime) -> str:
    return pd.Timestamp(at).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str | None):
    if not text:
        return None
    stamp = pd.Timestamp(text)
    return stamp.tz_convert("UTC") if stamp.tzinfo else stamp.tz_localize("UTC")


# -- pytest ----------------------------------------------------------------------------


@pytest.fixture
def alpaca_standin():
    """A running stand-in with 100,000 cash and no faults, stopped after the test."""
    with AlpacaStandIn() as server:
        yield server


AlpacaStandIn.handler_class = _Handler
