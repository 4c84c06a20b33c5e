"""The one broker interface the live loop trades through, and the plain records it speaks.

Every broker (the paper broker in the store, Alpaca through alpaca-py) takes an
:class:`OrderRequest` and gives back :class:`Order`, :class:`Position`, :class:`Account`
and :class:`Clock` records, so the loop, the control room and the tests never see a
vendor's types.

Two promises every broker keeps:

- **Idempotent submit.** An order is named by its client order id. Submitting the same
  client order id again returns the order that already exists, never a second one, even
  when the first answer was lost to a timeout. The same id with a *different* order is a
  caller's bug and raises :class:`~engine.errors.InputError`.
- **Errors say what to do.** A broker that refuses an order raises :class:`OrderRejected`
  with the broker's reason (fix the order or the account); a broker that cannot be reached
  raises :class:`BrokerUnavailable` (retry later; resubmitting the same client order id is
  safe).

All timestamps are naive UTC, as the store keeps them.
"""

from __future__ import annotations

import math
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from engine.errors import InputError, NetworkError, NotFoundError
from engine.order_side import Side

#: What a caller of any broker needs; :mod:`engine.brokers` offers these names as its own.
__all__ = [
    "Account", "Broker", "BrokerSettings", "BrokerUnavailable", "BrokerView", "Capabilities",
    "Clock", "Fill", "Order", "OrderRejected", "OrderRequest", "OrderStatus", "OrderType",
    "Position", "Session", "Side", "TimeInForce", "new_client_order_id",
]  # fmt: skip

#: Alpaca's limit on client order ids; the paper broker keeps the same so ids port over.
MAX_CLIENT_ORDER_ID = 128


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    # Read-only: orders placed outside the workbench (e.g. on Alpaca's website) may have
    # these; the workbench itself submits only the three above.
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


SUBMITTABLE_TYPES = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP)


class TimeInForce(StrEnum):
    DAY = "day"  # lives for one session (one bar for the paper broker)
    GTC = "gtc"  # good till canceled
    OPG = "opg"
    CLS = "cls"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(StrEnum):
    NEW = "new"  # at the venue, working
    ACCEPTED = "accepted"  # taken by the broker, waiting for the market (or the next bar)
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"  # a day order the session closed on
    REJECTED = "rejected"  # refused after it was accepted (refusals at submit raise instead)


OPEN_STATUSES = frozenset(
    {
        OrderStatus.NEW,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_CANCEL,
    }
)
ORDER_QUERIES = ("open", "closed", "all")


# -- errors ----------------------------------------------------------------------------


class OrderRejected(InputError):
    """The broker refused the order; ``reason`` is the broker's own words."""

    def __init__(
        self,
        reason: str,
        *,
        client_order_id: str | None = None,
        broker: str = "broker",
        status_code: int | None = None,
        code: int | str | None = None,
        hint: str | None = None,
    ):
        self.reason = reason
        self.client_order_id = client_order_id
        self.broker = broker
        self.status_code = status_code
        self.code = code
        what = f"order {client_order_id!r}" if client_order_id else "order"
        super().__init__(
            f"{what} rejected by {broker}: {self.detail}",
            hint=hint or "change the order or the account (size, price, cash), then submit again",
        )

    @property
    def detail(self) -> str:
        """The broker's reason with its HTTP status and error code, as a record keeps it."""
        codes = [f"HTTP {self.status_code}"] if self.status_code else []
        codes += [f"code {self.code}"] if self.code is not None else []
        return f"{self.reason} ({', '.join(codes)})" if codes else self.reason


class BrokerUnavailable(NetworkError):
    """The broker could not be reached or kept failing; retry later, unchanged."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(
            message,
            hint=hint
            or "retry later; submitting again with the same client order id never places a "
            "second order",
        )


# -- records ---------------------------------------------------------------------------


def _choice(enum: type[StrEnum], value, field: str) -> StrEnum:
    """``value`` as a member of ``enum``, or an InputError naming the valid choices."""
    try:
        return enum(str(value).lower())
    except ValueError:
        choices = ", ".join(m.value for m in enum)
        raise InputError(f"{field} {value!r} is not one of: {choices}") from None


def _price(value, field: str) -> float | None:
    if value is None:
        return None
    price = float(value)
    if not math.isfinite(price) or price <= 0:
        raise InputError(f"{field} must be a positive price, got {value!r}")
    return price


@dataclass(frozen=True, kw_only=True)
class OrderRequest:
    """An order the caller wants placed, named by its client order id.

    Keyword-only so that a quantity can never be passed where a price was meant.

    - ``symbol``: the ticker, e.g. ``"AAPL"`` (upper-cased for you).
    - ``side``: ``"buy"`` or ``"sell"``.
    - ``qty``: shares, positive (fractions only where the broker allows them).
    - ``client_order_id``: the caller's unique name for this order (at most 128 characters);
      the live loop derives it from (config, symbol, side, bar) so a repeated step reuses it.
    - ``type``: ``"market"`` (default), ``"limit"`` (needs ``limit_price``) or ``"stop"``
      (needs ``stop_price``).
    - ``time_in_force``: ``"day"`` (default) or ``"gtc"``.
    - ``stop_loss_price``: for a buy, a protective sell stop at this price attached to it
      (one-triggers-other): placed for the filled shares the moment the buy fills, so it
      is live from the fill on. Its client order id is this one plus ``"-stop"`` where the
      broker lets us name it (the paper broker).
    - ``take_profit_price``: a profit target, a limit sell above the stop, in one bracket
      with it (one cancels the other). On a buy with ``stop_loss_price``: both attach to
      the buy (Alpaca's bracket order). On a sell stop: the stop and the target rest as one
      order (Alpaca's OCO), so a fill of either can never leave the other working. Only
      where the broker declares ``Capabilities.brackets``.
    """

    symbol: str
    side: Side
    qty: float
    client_order_id: str
    type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    stop_loss_price: float | None = None
    take_profit_price: float | None = None

    def __post_init__(self):
        set_ = object.__setattr__  # frozen: normalise once, here
        symbol = str(self.symbol or "").strip().upper()
        if not symbol:
            raise InputError("an order needs a symbol", hint="e.g. symbol='AAPL'")
        set_(self, "symbol", symbol)
        set_(self, "side", _choice(Side, self.side, "side"))
        set_(self, "type", _choice(OrderType, self.type, "order type"))
        set_(self, "time_in_force", _choice(TimeInForce, self.time_in_force, "time_in_force"))
        if self.type not in SUBMITTABLE_TYPES:
            raise InputError(
                f"order type {self.type.value!r} cannot be submitted from the workbench",
                hint="use market, limit or stop",
            )
        qty = float(self.qty)
        if not math.isfinite(qty) or qty <= 0:
            raise InputError(
                f"order qty must be a positive number of shares, got {self.qty!r}",
                hint="the side says buy or sell; qty is always positive",
            )
        set_(self, "qty", qty)
        set_(self, "limit_price", _price(self.limit_price, "limit_price"))
        set_(self, "stop_price", _price(self.stop_price, "stop_price"))
        set_(self, "stop_loss_price", _price(self.stop_loss_price, "stop_loss_price"))
        set_(self, "take_profit_price", _price(self.take_profit_price, "take_profit_price"))
        if self.take_profit_price is not None:
            _check_bracket(self)
        if self.stop_loss_price is not None and self.side != Side.BUY:
            raise InputError(
                "stop_loss_price attaches a protective sell stop to a buy, not to a sell",
                hint="send the stop as its own order: side='sell', type='stop'",
            )
        needs = {OrderType.LIMIT: "limit_price", OrderType.STOP: "stop_price"}
        for order_type, price_field in needs.items():
            given = getattr(self, price_field) is not None
            if self.type == order_type and not given:
                raise InputError(f"a {order_type.value} order needs {price_field}")
            if self.type != order_type and given:
                raise InputError(
                    f"{price_field} is only for {order_type.value} orders, not {self.type.value}",
                    hint=f"drop {price_field} or use type={order_type.value!r}",
                )
        cid = self.client_order_id
        if not isinstance(cid, str) or not cid.strip() or len(cid) > MAX_CLIENT_ORDER_ID:
            raise InputError(
                f"client_order_id must be 1 to {MAX_CLIENT_ORDER_ID} characters, got {cid!r}",
                hint="use a deterministic id such as '<config>-<symbol>-<side>-<date>', "
                "or new_client_order_id() for a one-off manual order",
            )


def _check_bracket(order: OrderRequest) -> None:
    """InputError unless ``order``'s target sits in a bracket above its stop."""
    if order.side == Side.BUY:
        stop = order.stop_loss_price
        shape = "a buy's target needs stop_loss_price beside it (a bracket)"
    else:
        stop = order.stop_price if order.type == OrderType.STOP else None
        shape = "a sell's target rests beside a sell stop (type='stop', one cancels the other)"
    if stop is None:
        raise InputError(shape, hint="a target travels with its stop: set both, or neither")
    if order.take_profit_price <= stop:
        raise InputError(
            f"take_profit_price {order.take_profit_price:g} is not above the stop {stop:g}",
            hint="a long position's target is above the price, its stop below",
        )


@dataclass(frozen=True, kw_only=True)
class Order:
    """An order as the broker holds it now.

    ``take_profit_price``: the target resting with this order in one bracket (a sell
    stop's OCO target; a buy's attached target); None: none.
    """

    id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: float
    type: OrderType
    time_in_force: TimeInForce
    status: OrderStatus
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    limit_price: float | None = None
    stop_price: float | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    reject_reason: str | None = None
    take_profit_price: float | None = None

    @property
    def is_open(self) -> bool:
        """True while the order can still fill or be canceled."""
        return self.status in OPEN_STATUSES

    @property
    def remaining_qty(self) -> float:
        """Shares still to fill (0 once the order is closed)."""
        return max(self.qty - self.filled_qty, 0.0) if self.is_open else 0.0

    @classmethod
    def accepted(cls, request: OrderRequest, at: datetime) -> Order:
        """The order a broker holds once it took ``request`` at ``at``: a new id, accepted."""
        asked = {name: getattr(request, name) for name in _KEPT_FROM_REQUEST}
        return cls(
            **asked, id=str(uuid.uuid4()), status=OrderStatus.ACCEPTED,
            submitted_at=at, updated_at=at,
        )  # fmt: skip


#: What an order keeps of its request: every field the two records share by name (an
#: attached stop-loss becomes an order of its own, so it is not one of them).
_KEPT_FROM_REQUEST = tuple(
    f.name for f in fields(OrderRequest) if f.name in {g.name for g in fields(Order)}
)


@dataclass(frozen=True, kw_only=True)
class Fill:
    """One execution: ``qty`` shares of an order at ``price``, costing ``fee``."""

    id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: float
    price: float
    fee: float
    filled_at: datetime

    @property
    def signed_qty(self) -> float:
        return self.qty if self.side == Side.BUY else -self.qty

    @classmethod
    def for_order(cls, order: Order, qty: float, price: float, fee: float, at: datetime) -> Fill:
        """A new execution: ``qty`` shares of ``order`` at ``price`` at ``at``, costing ``fee``."""
        return cls(
            id=str(uuid.uuid4()), order_id=order.id, client_order_id=order.client_order_id,
            symbol=order.symbol, side=order.side, qty=qty, price=price, fee=fee, filled_at=at,
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Position:
    """Shares held in one symbol: ``qty`` is negative for a short."""

    symbol: str
    qty: float
    avg_entry_price: float
    market_price: float | None = None
    market_value: float | None = None
    unrealized_pl: float | None = None

    @property
    def side(self) -> str:
        return "long" if self.qty > 0 else "short"


@dataclass(frozen=True, kw_only=True)
class Account:
    """Money in the account: ``equity`` = ``cash`` + the market value of positions."""

    equity: float
    cash: float
    buying_power: float
    long_market_value: float = 0.0
    short_market_value: float = 0.0
    #: Day trades in the last five business days, when the broker counts them (None: unknown).
    day_trade_count: int | None = None
    pattern_day_trader: bool | None = None
    #: True when the broker will not take orders on this account (None: not reported).
    trading_blocked: bool | None = None
    currency: str = "USD"


@dataclass(frozen=True, kw_only=True)
class Clock:
    """The market clock as the broker sees it."""

    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


@dataclass(frozen=True, kw_only=True)
class Session:
    """One trading session as a broker's calendar has it: its date, open and close (naive UTC)."""

    day: date
    open: datetime
    close: datetime


@dataclass(frozen=True)
class BrokerView:
    """What the broker says now: the account, positions by symbol and the orders that matter."""

    account: Account
    positions: dict[str, Position]
    open_orders: list[Order]
    #: The broker's current record of orders the loop tracks but that are no longer open.
    looked_up: dict[str, Order] = field(default_factory=dict)
    #: Orders closed recently (the broker kept trading while the loop was down).
    recent_closed: list[Order] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What a broker can do beyond the interface's methods, declared once by each broker.

    Callers read these; nobody probes a broker for attributes.
    """

    #: The price increment stop and limit prices are sent in (None: any price).
    tick_size: float | None = None
    #: The increment for prices below $1, where it differs (Alpaca: 1/100 of a cent).
    sub_dollar_tick_size: float | None = None
    #: Whether it takes fractional share quantities on every order the loop sends (stops
    #: and attached stops included).
    fractional_shares: bool = False
    #: Whether its market moves only when :meth:`Broker.process_bar` hands it a bar, so it
    #: can replay stored history (the paper broker); a real broker's market moves by itself.
    simulated: bool = False
    #: Whether it has a real-money account (opened only with ``live=True``).
    live_trading: bool = False
    #: How far above the last price it values a market buy against buying power (0.04:
    #: 4%), so an entry sized to the last cent of cash is refused; market buys are sized
    #: to leave this margin.
    market_buy_margin: float = 0.0
    #: Whether a stop attached to an entry takes the entry's time in force (Alpaca's legs
    #: do), so a DAY entry's stop would expire with its session: such entries go GTC.
    attached_stop_takes_entry_tif: bool = False
    #: Whether it rests a stop and a profit target as one bracket, one cancelling the
    #: other (``OrderRequest.take_profit_price``); a config with a target trades only here.
    brackets: bool = False

    def tick(self, price: float) -> float | None:
        """The increment a price near ``price`` is sent in (None: any price)."""
        if price < 1 and self.sub_dollar_tick_size:
            return self.sub_dollar_tick_size
        return self.tick_size


@dataclass(frozen=True, kw_only=True)
class BrokerSettings:
    """What any broker may be built with; each broker takes the fields that apply to it.

    The loop's set-up, parity, the control room and the CLI build brokers from these
    through :func:`engine.brokers.open_broker`, never by naming a broker class.
    """

    #: The workbench store (the paper broker keeps its books there).
    store: Any = None
    #: True: real money, only ever from an explicit live flag. None: as the account of the
    #: book being reopened says (``alpaca:live``), see :func:`engine.brokers.open_book`.
    live: bool | None = False
    #: The account within the broker (a paper account's name); None: the broker's default.
    account: str | None = None
    #: Who its events name as acting.
    actor: str = "loop"
    #: The clock, naive UTC (a replay passes its simulated one); None: the wall clock.
    now: Callable[[], datetime] | None = None
    #: Cash a new simulated account opens with; an existing account keeps its own.
    opening_cash: float | None = None
    #: A simulated account's costs (see :class:`~engine.brokers.paper_rules.Costs`).
    fees: float = 0.0
    slippage: float = 0.0
    #: Only open an account that already exists (flattening a book opens nothing new).
    existing_only: bool = False


# -- pure helpers ----------------------------------------------------------------------


def to_tick(price: float, tick: float | None, *, up: bool = False) -> float:
    """``price`` on the ``tick`` grid, rounded down (or ``up``), as a clean decimal."""
    if not tick:
        return price
    steps = price / tick
    steps = math.ceil(steps - 1e-9) if up else math.floor(steps + 1e-9)
    places = max(0, -math.floor(math.log10(tick) + 1e-9))
    return round(steps * tick, places)


def on_tick(order: OrderRequest, capabilities: Capabilities) -> OrderRequest:
    """``order`` with every price on the broker's tick, never worse for the one placing it.

    A limit rounds toward the better price (down for a buy, up for a sell); a stop the
    same way (a sell stop down, a buy stop up), as does an attached sell stop.
    """
    buy = order.side == Side.BUY

    def tick(price: float | None, up: bool) -> float | None:
        return None if price is None else to_tick(price, capabilities.tick(price), up=up)

    priced = {
        "limit_price": tick(order.limit_price, up=not buy),
        "stop_price": tick(order.stop_price, up=buy),
        "stop_loss_price": tick(order.stop_loss_price, up=False),
        "take_profit_price": tick(order.take_profit_price, up=True),  # a sell limit
    }
    if all(priced[k] == getattr(order, k) for k in priced):
        return order
    return replace(order, **priced)


def new_client_order_id(prefix: str = "manual") -> str:
    """A fresh client order id for a one-off order (a trader's manual order, a close)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def same_intent(request: OrderRequest, order: Order) -> bool:
    """True when ``order`` is what ``request`` asks for (so a resubmission is a repeat)."""

    def close(a: float | None, b: float | None) -> bool:
        if a is None or b is None:
            return a is None and b is None
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)

    return (
        request.symbol == order.symbol
        and request.side == order.side
        and request.type == order.type
        and request.time_in_force == order.time_in_force
        and close(request.qty, order.qty)
        and close(request.limit_price, order.limit_price)
        and close(request.stop_price, order.stop_price)
    )


def existing_or_conflict(request: OrderRequest, existing: Order) -> Order:
    """The existing order for a repeated client order id, or an InputError if it differs.

    Returning a different order than the one asked for would silently trade the wrong
    thing, so a reused id with a new meaning is the caller's bug and is said so.
    """
    if same_intent(request, existing):
        return existing
    raise InputError(
        f"client order id {request.client_order_id!r} is already used by a different order "
        f"({existing.side} {existing.qty:g} {existing.symbol} {existing.type}, {existing.status})",
        hint="client order ids must name one order; derive them from (config, symbol, side, bar)",
    )


# -- the interface ---------------------------------------------------------------------


class Broker(ABC):
    """Where orders go: the paper broker or Alpaca, behind the same methods.

    Implementations: :class:`engine.brokers.paper.PaperBroker` (default; state in the
    store) and :class:`engine.brokers.alpaca.AlpacaBroker` (alpaca-py).
    """

    #: Short name for messages and events, e.g. "paper" or "alpaca".
    name: str = "broker"
    #: What it can do (see :class:`Capabilities`); each broker declares its own.
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: True when its orders trade real money.
    live: bool = False

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: BrokerSettings, **options: Any) -> Broker:
        """The broker ``settings`` describe; ``options`` are its own constructor's keywords.

        How :func:`engine.brokers.open_broker` builds every broker.
        """

    @property
    def book(self) -> str:
        """The name of the book this account is, e.g. ``paper:<account>`` or ``alpaca:live``.

        The loop keeps its orders, positions and heartbeat under this name, and the control
        room opens the same account again from it (:func:`engine.brokers.open_book`).
        """
        return f"{self.name}:{'live' if self.live else 'paper'}"

    @abstractmethod
    def submit(self, order: OrderRequest) -> Order:
        """The order placed for ``order.client_order_id`` (the existing one if already placed).

        Raises :class:`OrderRejected` when the broker refuses it and
        :class:`BrokerUnavailable` when the broker cannot be reached.
        """

    def submit_many(self, orders: list[OrderRequest]) -> list[Order | OrderRejected]:
        """Each order placed, in the same order; a refused one gives its OrderRejected instead.

        Any other error (e.g. :class:`BrokerUnavailable`) is raised; the orders before it
        stand, and submitting the whole list again is safe (client order ids).
        """
        results: list[Order | OrderRejected] = []
        for request in orders:
            try:
                results.append(self.submit(request))
            except OrderRejected as rejected:
                results.append(rejected)
        return results

    @abstractmethod
    def cancel(self, order_id: str | None = None, *, client_order_id: str | None = None) -> Order:
        """The order after canceling it, named by broker id or client order id.

        A broker whose cancels are not instant is waited for (bounded) and the order read
        back: ``pending_cancel`` means it has not confirmed yet, and the order's shares stay
        held. An order that had already closed (filled, canceled, expired) is returned as it
        is, not as an error: check ``status``. An unknown order raises NotFoundError.
        """

    @abstractmethod
    def get_order(self, order_id: str) -> Order:
        """The order with this broker id; NotFoundError if there is none."""

    @abstractmethod
    def get_order_by_client_id(self, client_order_id: str) -> Order:
        """The order with this client order id; NotFoundError if there is none."""

    @abstractmethod
    def orders(self, status: str = "open", *, after: datetime | None = None) -> list[Order]:
        """Orders that are ``"open"``, ``"closed"`` or ``"all"``, newest first.

        ``after`` keeps only orders submitted after that time (naive UTC).
        """

    @abstractmethod
    def positions(self) -> list[Position]:
        """Every open position, by symbol."""

    @abstractmethod
    def account(self) -> Account:
        """Equity, cash and buying power now."""

    @abstractmethod
    def clock(self) -> Clock:
        """Whether the market is open, and its next open and close."""

    # -- what a broker may do better; these defaults work for any broker ---------------

    def cancel_many(self, order_ids: list[str]) -> list[Order]:
        """Each order after asking to cancel it (as :meth:`cancel`), in the same order."""
        return [self.cancel(order_id) for order_id in order_ids]

    def snapshot(
        self, order_ids: list[str] | None = None, closed_since: datetime | None = None
    ) -> BrokerView:
        """The account, positions, open orders, the orders named by ``order_ids`` that are no
        longer open, and (with ``closed_since``) those that closed after that time.

        The live loop reads this every step; a broker that can answer in one read does.
        """
        account, positions, open_orders = self.account(), self.positions(), self.orders("open")
        still_open = {o.id for o in open_orders}
        looked_up = {}
        for order_id in order_ids or []:
            if order_id in still_open:
                continue
            try:
                looked_up[order_id] = self.get_order(order_id)
            except NotFoundError:
                continue  # reconciliation reports the order the broker no longer knows
        recent = []
        if closed_since is not None:
            # Brokers filter by submission time: look a day further back, keep the late closes.
            recent = [
                o
                for o in self.orders("closed", after=closed_since - timedelta(days=1))
                if o.updated_at is None or o.updated_at > closed_since
            ]
        return BrokerView(
            account=account,
            positions={p.symbol: p for p in positions},
            open_orders=list(open_orders),
            looked_up=looked_up,
            recent_closed=recent,
        )

    def sessions(self, start: date, end: date) -> list[Session] | None:
        """The trading sessions from ``start`` to ``end`` as the broker's own calendar has
        them; None when it keeps none (the workbench's NYSE calendar is the only one)."""
        return None

    def process_bar(self, day: date | str, bars: Any) -> list[Fill]:
        """The fills the bar of ``day`` gives a simulated market's waiting orders.

        A real broker's market moves by itself: nothing to hand over, no fills to report.
        """
        return []

    def fee(self, qty: float, price: float) -> float:
        """What the broker charges for a fill of ``qty`` shares at ``price`` (0: commission-free)."""
        return 0.0

    # -- conveniences built on the methods above ---------------------------------------

    def position(self, symbol: str) -> Position | None:
        """The position in ``symbol``, or None when flat."""
        symbol = symbol.strip().upper()
        return next((p for p in self.positions() if p.symbol == symbol), None)

    def close_position(self, symbol: str, *, client_order_id: str | None = None) -> Order:
        """The market order that closes the whole position in ``symbol``.

        Goes through :meth:`submit` with a client order id (rather than a broker's own
        "close position" call, which has none) so that a lost answer is resolved by lookup,
        never by a second closing order.
        """
        held = self.position(symbol)
        if held is None or held.qty == 0:
            raise NotFoundError(
                f"no open position in {symbol.upper()} at {self.name}",
                hint="see the open positions with broker.positions()",
            )
        return self.submit(
            OrderRequest(
                symbol=held.symbol,
                side=Side.SELL if held.qty > 0 else Side.BUY,
                qty=abs(held.qty),
                client_order_id=client_order_id or new_client_order_id(f"close-{held.symbol}"),
            )
        )


def check_order_query(status: str) -> str:
    """``status`` checked as one of open/closed/all."""
    status = str(status).lower()
    if status not in ORDER_QUERIES:
        raise InputError(f"order status filter {status!r} is not one of: open, closed, all")
    return status


def check_cancel_target(order_id: str | None, client_order_id: str | None) -> None:
    """InputError unless exactly one of ``order_id`` and ``client_order_id`` is given."""
    if (order_id is None) == (client_order_id is None):
        raise InputError(
            "name the order to cancel by exactly one of order_id or client_order_id",
            hint="e.g. broker.cancel(client_order_id='ma-cross-AAPL-buy-2024-05-01')",
        )
