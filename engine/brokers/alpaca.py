"""Alpaca through alpaca-py's ``TradingClient``, behind the workbench's broker interface.

What this adapter adds to alpaca-py, and why:

- **One retry policy.** alpaca-py on its own retries 429 and 504 three times, 3 seconds
  apart, without jitter, ignoring Retry-After, and re-POSTs an order after a 504 that may
  have been accepted. It also sends requests with no timeout at all. We switch its retries
  off and give its session a timeout, then retry 429, 5xx, timeouts and dropped
  connections ourselves with exponential backoff and full jitter, a bounded number of
  times, honouring Retry-After.
- **No second order, ever.** Whenever a submit's outcome is unknown (a timeout, a dropped
  connection, a 5xx) we look the order up by its client order id *before* sending it
  again. A refusal is looked up too: Alpaca refuses a repeated client order id, and the
  order existing is what says it is ours (never the error's wording).
- **Orders Alpaca takes.** Prices go on its tick (a cent from $1, 1/100 of a cent below),
  never worse for us; fractions only on market DAY orders and stops only on market or
  limit entries, DAY or GTC, are checked before sending. docs/alpaca.md lists the rules
  with their sources.
- **Cancels that finish.** Alpaca answers a cancel when it accepts it; the order sits in
  ``pending_cancel`` with its shares held. We read it back until it has closed (bounded)
  so that the sale after it is not refused for shares still held.
- **Brackets read back as one order.** A buy with a stop and a target goes as Alpaca's
  bracket, a stop with a target on a held position as its OCO. Alpaca shows such a pair
  as two orders, the stop ``held`` beside the working target, and stops nesting a
  bracket's legs under its buy once the buy fills; the adapter finds the legs through
  their parent and gives the pair back as one protective order (a sell stop with its
  ``take_profit_price``), so the loop sees the position protected, and a cancel of it
  cancels both legs.
- **Errors in the workbench's terms.** Alpaca's 4xx refusals of an order become
  :class:`~engine.brokers.base.OrderRejected` with Alpaca's message; giving up on an
  unreachable Alpaca is :class:`~engine.brokers.base.BrokerUnavailable`.
- **Keys stay secret.** They come from the arguments or APCA_API_KEY_ID /
  APCA_API_SECRET_KEY and appear in no message, log line or repr.

Live trading needs ``live=True`` spelled out; everything else is Alpaca's paper API.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

import requests
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.trading import requests as alpaca_requests
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus

from engine.brokers import _alpaca_wire as wire
from engine.brokers._alpaca_wire import KEY_ENV, SECRET_ENV
from engine.brokers.base import (
    Account,
    Broker,
    BrokerSettings,
    BrokerUnavailable,
    Capabilities,
    Clock,
    Order,
    OrderRequest,
    Position,
    Session,
    check_cancel_target,
    check_order_query,
    existing_or_conflict,
    on_tick,
)
from engine.errors import InputError, NotFoundError, OperatorError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Alpaca returns at most this many orders per page.
PAGE_SIZE = 500
#: How many pages of a symbol's orders to read back looking for a leg's parent.
PARENT_PAGES = 4


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``max_attempts`` calls in all, waits doubling from ``backoff``.

    Each wait is drawn uniformly from [0, min(max_backoff, backoff * 2**n)] ("full
    jitter", so many clients do not retry in step), and never shorter than the server's
    Retry-After (itself capped at ``max_retry_after``).
    """

    max_attempts: int = 6
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0

    def __post_init__(self):
        if self.max_attempts < 1:
            raise InputError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.backoff < 0 or self.max_backoff < 0 or self.max_retry_after < 0:
            raise InputError("backoff times must be zero or positive")

    def wait(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        wait = rng.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


class _TimeoutSession(requests.Session):
    """A requests session that gives every request a timeout (alpaca-py passes none)."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


class AlpacaBroker(Broker):
    """Alpaca's trading API (paper unless ``live=True``) as a workbench broker.

    - ``api_key``, ``secret_key``: default to APCA_API_KEY_ID and APCA_API_SECRET_KEY.
    - ``live``: trade real money. Only ever set from an explicit live flag.
    - ``url_override``: another base URL, e.g. the loopback stand-in in tests.
    - ``timeout``: seconds to wait for each answer before treating it as lost.
    - ``retry``: the :class:`RetryPolicy` for 429, 5xx, timeouts and dropped connections.
    - ``cancel_wait``: seconds to keep reading a canceled order back until Alpaca has
      closed it.
    - ``sleep``, ``rng``: injectable for tests.
    """

    name = "alpaca"
    # Whole cents from $1 (1/100 of a cent below); whole shares, since its fractional
    # orders take neither GTC stops nor attached (OTO) stops, which the loop sends; market
    # buys valued up to 4% above the last price; attached stops take the entry's time in
    # force. docs/alpaca.md gives the source of each.
    capabilities = Capabilities(
        tick_size=0.01,
        sub_dollar_tick_size=0.0001,
        live_trading=True,
        market_buy_margin=0.04,
        attached_stop_takes_entry_tif=True,
        brackets=True,
    )

    def __init__(
        self,
        *,
        api_key: str | None = None,
        secret_key: str | None = None,
        live: bool = False,
        url_override: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        cancel_wait: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        api_key = api_key or os.environ.get(KEY_ENV)
        secret_key = secret_key or os.environ.get(SECRET_ENV)
        missing = [
            env for env, value in ((KEY_ENV, api_key), (SECRET_ENV, secret_key)) if not value
        ]
        if missing:
            raise InputError(
                f"Alpaca needs API keys: {' and '.join(missing)} not set",
                hint=f"export {KEY_ENV}=... and {SECRET_ENV}=... (paper keys from the Alpaca "
                "dashboard), or use the paper broker",
            )
        if not timeout > 0:
            raise InputError(f"timeout must be positive seconds, got {timeout!r}")
        self.live = bool(live)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.cancel_wait = cancel_wait
        self._sleep = sleep
        self._rng = rng or random.Random()
        # What reading brackets back learns, kept for the next read: the Alpaca orders
        # behind each workbench order, and each exit leg's parent (Alpaca gives none).
        self._members: dict[str, list[str]] = {}
        self._parents: dict[str, str] = {}
        self.client = TradingClient(
            api_key=api_key, secret_key=secret_key, paper=not self.live, url_override=url_override
        )
        _take_over_retries_and_timeouts(self.client, timeout)
        self.base_url = str(getattr(self.client._base_url, "value", self.client._base_url))
        if self.live:
            log.warning(
                "Alpaca broker on the LIVE API (%s): orders trade real money", self.base_url
            )

    @classmethod
    def from_settings(cls, settings: BrokerSettings, **options) -> AlpacaBroker:
        """Alpaca's paper API, or its live one when ``settings.live`` says so.

        Its books are ``alpaca:paper`` and ``alpaca:live``: reopening a book
        (``settings.live`` None) trades in the API its name says. ``options`` are the
        constructor's keywords (keys, ``url_override``, ``timeout``, ``retry``).
        """
        live = settings.live if settings.live is not None else settings.account == "live"
        return cls(live=live, **options)

    def __repr__(self) -> str:
        return f"AlpacaBroker({'LIVE' if self.live else 'paper'}, {self.base_url})"

    # -- orders ------------------------------------------------------------------------

    def submit(self, order: OrderRequest) -> Order:
        order = on_tick(order, self.capabilities)
        wire.check_shape(order)
        request = wire.alpaca_request(order)
        cid = order.client_order_id
        look_up_first = False
        last: wire.Transient | None = None
        for attempt in range(1, self.retry.max_attempts + 1):
            looking_up = look_up_first
            try:
                if looking_up:
                    # The last try may have placed it: find out before sending it again.
                    existing = self._find_by_client_id(cid)
                    if existing is not None:
                        log.info("alpaca: order %s was placed after all; not resending", cid)
                        return existing_or_conflict(order, existing)
                    look_up_first = looking_up = False
                return self._as_placed(self.client.submit_order(request))
            except APIError as exc:
                last = wire.transient(exc)
                if last is None:
                    if looking_up:
                        raise wire.api_error(exc, f"look up order {cid}") from None
                    return self._refused(order, exc)
                look_up_first = look_up_first or last.uncertain
            except wire.UNCERTAIN as exc:
                last = wire.transient(exc)
                look_up_first = True
            if attempt < self.retry.max_attempts:
                self._wait(attempt, last, f"submit {cid}")
        raise BrokerUnavailable(
            f"Alpaca did not confirm order {cid!r} after {self.retry.max_attempts} attempts "
            f"(last: {last.what if last else 'unknown'})",
            hint="the order may have reached Alpaca; submitting again with the same client "
            "order id finds it instead of placing a second one",
        )

    def _refused(self, order: OrderRequest, exc: APIError) -> Order:
        """The order already placed under this client order id, else the refusal raised.

        Alpaca refuses a client order id it has seen; whatever its words, the order being
        there is what makes the refusal ours to resolve.
        """
        cid = order.client_order_id
        if exc.status_code != 401:
            existing = self._call(f"look up {cid}", self._find_by_client_id, cid)
            if existing is not None:
                log.info("alpaca: order %s refused as already placed; returning it", cid)
                return existing_or_conflict(order, existing)
        raise wire.refusal(exc, cid) from None

    def cancel(self, order_id: str | None = None, *, client_order_id: str | None = None) -> Order:
        check_cancel_target(order_id, client_order_id)
        order = (
            self.get_order(order_id)
            if order_id is not None
            else self.get_order_by_client_id(client_order_id)
        )
        if not order.is_open:
            return order
        self._ask_to_cancel(order.id, order.client_order_id)
        return self._closed([order.id])[0]

    def cancel_many(self, order_ids: list[str]) -> list[Order]:
        """Each order after canceling it, waiting (bounded) until Alpaca has closed them all."""
        for order_id in order_ids:
            self._ask_to_cancel(order_id, order_id)
        return self._closed(list(order_ids))

    def _ask_to_cancel(self, order_id: str, name: str) -> None:
        """Asks Alpaca to cancel the order, every leg of a stop and target pair included:
        Alpaca cancels a leg's sibling with it, but a target left working on its own would
        hold the shares an exit needs, so each is asked for (a closed one is refused, 422)."""
        for member in self._members.get(order_id, [order_id]):
            self._ask_to_cancel_one(member, name)

    def _ask_to_cancel_one(self, order_id: str, name: str) -> None:
        try:
            self._call(f"cancel {name}", self.client.cancel_order_by_id, order_id)
        except InputError as exc:
            # 422 "order is not cancelable": it closed (filled) since we looked.
            if isinstance(exc, NotFoundError):
                raise
            log.info("alpaca: cancel of %s refused (%s)", name, exc.message)

    def _closed(self, order_ids: list[str]) -> list[Order]:
        """The orders read back until none is open or ``cancel_wait`` seconds have passed.

        A DELETE answers when Alpaca accepts the cancel; the order stays
        ``pending_cancel``, its shares held, until the cancel completes (Alpaca-API#111).
        """
        found = {i: self.get_order(i) for i in order_ids}
        waited, pause = 0.0, 0.05
        while waited < self.cancel_wait and any(o.is_open for o in found.values()):
            self._sleep(pause)
            waited += pause
            pause = min(pause * 2, 1.0)
            found.update({i: self.get_order(i) for i, o in found.items() if o.is_open})
        still = [o.client_order_id for o in found.values() if o.is_open]
        if still:
            log.warning(
                "alpaca: cancel of %s not confirmed after %.1fs; its shares stay held",
                ", ".join(still),
                waited,
            )
        return [found[i] for i in order_ids]

    def get_order(self, order_id: str) -> Order:
        try:
            uuid.UUID(str(order_id))
        except ValueError:
            raise wire.unknown_order("order id", order_id) from None
        return self._as_one(self._nested(order_id), str(order_id))

    def _nested(self, order_id: str):
        """Alpaca's order ``order_id`` read with its legs (one call, retried)."""
        return self._call(
            f"get order {order_id}",
            self.client.get_order_by_id,
            order_id,
            alpaca_requests.GetOrderByIdRequest(nested=True),
        )

    def _as_placed(self, raw) -> Order:
        """The workbench order a submit's answer stands for (read again with its legs
        when the answer has none)."""
        if wire.order_class(raw) in wire.EXIT_GROUPS and not raw.legs:
            raw = self._nested(str(raw.id))
        return self._as_one(raw, str(raw.id))

    def _as_one(self, raw, order_id: str) -> Order:
        """The workbench order named ``order_id`` among those ``raw`` (read nested) stands
        for; a leg of a stop and target pair reads as the pair."""
        if wire.is_exit_leg(raw):
            parent = self._parent_of(raw)
            if parent is None:
                log.warning("alpaca: no parent found for leg %s; reading it alone", raw.id)
                return wire.order_from_alpaca(raw)
            raw = parent
        found = self._fold(raw)
        return next(
            (o for o in found if o.id == order_id or order_id in self._members.get(o.id, [])),
            found[0],
        )

    def _fold(self, raw) -> list[Order]:
        """:func:`wire.orders_from_parent`, remembering the Alpaca orders behind each."""
        for leg in raw.legs or []:
            self._parents[str(leg.id)] = str(raw.id)
        self._members.update(wire.member_ids(raw))
        return wire.orders_from_parent(raw)

    def _parent_of(self, leg):
        """The order ``leg`` belongs to, read nested, or None.

        Alpaca's order model names no parent, and once a bracket's buy has filled its legs
        are nested under no open order. The parent was submitted with them or before: walk
        the symbol's orders back from the leg's submission, newest first, until one carries
        it (remembered for the next read).
        """
        leg_id = str(leg.id)
        known = self._parents.get(leg_id)
        if known is not None:
            return self._nested(known)
        submitted = wire.aware_utc(wire.naive_utc(leg.submitted_at))
        until = None if submitted is None else submitted + timedelta(seconds=1)
        for _ in range(PARENT_PAGES):
            page = self._call(
                f"find the parent of {leg_id}",
                self.client.get_orders,
                alpaca_requests.GetOrdersRequest(
                    status=QueryOrderStatus.ALL,
                    limit=PAGE_SIZE,
                    direction=Sort.DESC,
                    until=until,
                    nested=True,
                    symbols=[leg.symbol],
                ),
            )
            for raw in page:
                if any(str(other.id) == leg_id for other in raw.legs or []):
                    self._parents[leg_id] = str(raw.id)
                    return raw
            if len(page) < PAGE_SIZE:
                return None
            until = wire.aware_utc(min(wire.naive_utc(o.submitted_at) for o in page))
        return None

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        order = self._call(f"look up {client_order_id}", self._find_by_client_id, client_order_id)
        if order is None:
            raise wire.unknown_order("client order id", client_order_id)
        return order

    def orders(self, status: str = "open", *, after: datetime | None = None) -> list[Order]:
        """Orders as :meth:`Broker.orders` gives them; a stop and target pair is one order.

        Read flat; when any order belongs to a group, read nested too, so that each pair's
        legs come with their parent. A leg nested under no order of that status (a
        bracket whose buy has filled is no longer open) is read through its parent.
        """
        status = check_order_query(status)
        wanted = {"open": lambda o: o.is_open, "closed": lambda o: not o.is_open}.get(
            status, lambda o: True
        )
        flat = self._list(status, after, nested=False)
        found: dict[str, Order] = {}
        seen: set[str] = set()
        if any(wire.order_class(raw) not in ("", "simple") for raw in flat):
            for raw in self._list(status, after, nested=True):
                seen.update([str(raw.id), *(str(leg.id) for leg in raw.legs or [])])
                found.update((o.id, o) for o in self._fold(raw) if wanted(o))
        for raw in flat:
            if str(raw.id) in seen:
                continue
            parent = self._parent_of(raw) if wire.is_exit_leg(raw) else None
            if parent is None:
                orders = [wire.order_from_alpaca(raw)]
            else:
                seen.update([str(parent.id), *(str(leg.id) for leg in parent.legs or [])])
                orders = self._fold(parent)
            found.update((o.id, o) for o in orders if wanted(o))
        return sorted(found.values(), key=lambda o: o.submitted_at or datetime.min, reverse=True)

    def _list(self, status: str, after: datetime | None, *, nested: bool) -> list:
        """Alpaca's orders of ``status`` (submitted after ``after``), every page, newest first."""
        found: dict[str, object] = {}
        until = None
        while True:  # Alpaca pages by time: walk back from the newest
            page = self._call(
                f"list {status} orders",
                self.client.get_orders,
                alpaca_requests.GetOrdersRequest(
                    status=QueryOrderStatus(status),
                    limit=PAGE_SIZE,
                    direction=Sort.DESC,
                    after=wire.aware_utc(after),
                    until=until,
                    nested=nested,
                ),
            )
            new = [o for o in page if str(o.id) not in found]
            found.update((str(o.id), o) for o in new)
            if len(page) < PAGE_SIZE or not new:
                break
            # `until` is exclusive: step just past the oldest so orders sharing its
            # timestamp are read again (and de-duplicated) rather than skipped.
            oldest = min(wire.naive_utc(o.submitted_at) for o in new)
            until = wire.aware_utc(oldest) + timedelta(microseconds=1)
        return list(found.values())

    # -- account -----------------------------------------------------------------------

    def positions(self) -> list[Position]:
        return sorted(
            (
                wire.position_from_alpaca(p)
                for p in self._call("list positions", self.client.get_all_positions)
            ),
            key=lambda p: p.symbol,
        )

    def account(self) -> Account:
        raw = self._call("read the account", self.client.get_account)
        return Account(
            equity=wire.num(raw.equity),
            cash=wire.num(raw.cash),
            buying_power=wire.num(raw.buying_power),
            long_market_value=wire.num(raw.long_market_value),
            short_market_value=wire.num(raw.short_market_value),
            day_trade_count=raw.daytrade_count,
            pattern_day_trader=raw.pattern_day_trader,
            trading_blocked=bool(raw.trading_blocked or raw.account_blocked),
            currency=raw.currency or "USD",
        )

    def sessions(self, start: date, end: date) -> list[Session]:
        """Alpaca's own calendar (GET /v2/calendar) from ``start`` to ``end``."""
        raw = self._call(
            "read the calendar",
            self.client.get_calendar,
            alpaca_requests.GetCalendarRequest(start=start, end=end),
        )
        return [wire.session_from_alpaca(day) for day in raw]

    def clock(self) -> Clock:
        raw = self._call("read the clock", self.client.get_clock)
        return Clock(
            timestamp=wire.naive_utc(raw.timestamp),
            is_open=raw.is_open,
            next_open=wire.naive_utc(raw.next_open),
            next_close=wire.naive_utc(raw.next_close),
        )

    # -- calls and retries -------------------------------------------------------------

    def _find_by_client_id(self, client_order_id: str) -> Order | None:
        """The order with this client order id, or None when Alpaca has none (one call)."""
        try:
            raw = self.client.get_order_by_client_id(client_order_id)
        except APIError as exc:
            if exc.status_code == 404:
                return None
            raise
        if wire.order_class(raw) in ("", "simple"):
            return wire.order_from_alpaca(raw)
        return self._as_one(
            self.client.get_order_by_id(raw.id, alpaca_requests.GetOrderByIdRequest(nested=True)),
            str(raw.id),
        )

    def _call(self, what: str, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` retried through 429, 5xx and lost answers; only for repeatable calls."""
        last: wire.Transient | None = None
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                return fn(*args)
            except APIError as exc:
                last = wire.transient(exc)
                if last is None:
                    raise wire.api_error(exc, what) from None
            except wire.UNCERTAIN as exc:
                last = wire.transient(exc)
            if attempt < self.retry.max_attempts:
                self._wait(attempt, last, what)
        raise BrokerUnavailable(
            f"Alpaca could not {what} after {self.retry.max_attempts} attempts "
            f"(last: {last.what if last else 'unknown'})"
        )

    def _wait(self, attempt: int, failure: wire.Transient, what: str) -> None:
        wait = self.retry.wait(attempt, self._rng, failure.retry_after)
        log.warning(
            "alpaca: %s failed (%s); retry %d of %d in %.2fs",
            what,
            failure.what,
            attempt,
            self.retry.max_attempts - 1,
            wait,
        )
        self._sleep(wait)


# -- alpaca-py internals we depend on --------------------------------------------------


def _take_over_retries_and_timeouts(client: TradingClient, timeout: float) -> None:
    """Switch off alpaca-py's own retries and give its HTTP session a timeout.

    alpaca-py (0.40 to 0.44 at least) keeps both in private attributes of its RESTClient:
    ``_retry`` (extra tries on 429/504) and ``_session`` (a requests.Session used without a
    timeout). If a release renames them we stop here rather than trade without timeouts.
    """
    if not (
        hasattr(client, "_retry")
        and isinstance(getattr(client, "_session", None), requests.Session)
    ):
        raise OperatorError(
            "this alpaca-py version no longer has the _retry/_session attributes the Alpaca "
            "broker relies on for retries and timeouts",
            hint="pin alpaca-py to a tested version (see pyproject.toml) or update engine/brokers/alpaca.py",
        )
    client._retry = 0
    client._retry_codes = []
    client._session = _TimeoutSession(timeout)
