"""What the risk gate reads: plain frozen values, no I/O.

The live loop builds an :class:`AccountState` from the store and the broker once per step,
then asks the gate about each :class:`OrderIntent`; the gate answers with a
:class:`~engine.risk.decision.Decision`. Times may be naive (read as UTC, as the store keeps them) or tz-aware;
they are kept as tz-aware UTC.

The book is long-only: a sell reduces a held position and a buy adds exposure.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import cached_property
from operator import attrgetter

from engine.errors import InputError
from engine.order_side import Side


class TradingState(StrEnum):
    """How much trading the account may do: everything, exits only, or nothing automatic."""

    ACTIVE = "ACTIVE"
    #: Only orders that reduce exposure (sells of held shares, protective stops).
    REDUCING = "REDUCING"
    #: No strategy orders; only a trader's orders that reduce exposure, until a trader resumes.
    HALTED = "HALTED"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


class Purpose(StrEnum):
    """Why an order exists; the gate treats a protective stop and a trader's order specially."""

    ENTRY = "entry"
    EXIT = "exit"
    #: Places or moves the protective stop of a held position.
    STOP = "stop"
    #: A trader's order from the control room.
    MANUAL = "manual"


def as_utc(at: datetime) -> datetime:
    """``at`` as a tz-aware UTC datetime; a naive time is read as UTC."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def _positive(name: str, value: float | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive number, not {value!r}")


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order someone wants to send: a strategy (``config_id``) or a trader (``config_id=None``).

    ``bar`` is the bar the decision was made on; with ``config_id`` it identifies a
    duplicate. ``stop_price`` is the trigger of a stop order, including a protective stop.
    """

    symbol: str
    side: Side
    qty: float
    purpose: Purpose = Purpose.ENTRY
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    config_id: str | None = None
    bar: datetime | None = None
    actor: str = "loop"

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise InputError("an order needs a symbol", hint="e.g. symbol='AAPL'")
        set_(self, "symbol", self.symbol.strip().upper())
        try:
            set_(self, "side", Side(self.side))
            set_(self, "purpose", Purpose(self.purpose))
            set_(self, "order_type", OrderType(self.order_type))
        except ValueError as exc:
            raise InputError(
                f"order for {self.symbol}: {exc}",
                hint="side is buy|sell, purpose entry|exit|stop|manual, order_type market|limit|stop",
            ) from None
        _positive(f"order quantity for {self.symbol}", self.qty)
        set_(self, "qty", float(self.qty))
        _positive(f"limit price for {self.symbol}", self.limit_price, allow_none=True)
        _positive(f"stop price for {self.symbol}", self.stop_price, allow_none=True)
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise InputError(f"a limit order for {self.symbol} needs a limit_price")
        if self.order_type is OrderType.STOP and self.stop_price is None:
            raise InputError(f"a stop order for {self.symbol} needs a stop_price")
        if self.purpose is Purpose.STOP and (
            self.side is not Side.SELL or self.order_type is not OrderType.STOP
        ):
            raise InputError(
                f"a protective stop for {self.symbol} is a sell order of type stop",
                hint="send side='sell', order_type='stop', stop_price=<trigger>",
            )
        if self.bar is not None:
            set_(self, "bar", as_utc(self.bar))

    @property
    def adds_exposure(self) -> bool:
        """True for a buy: the book is long-only, so every buy adds exposure."""
        return self.side is Side.BUY

    @property
    def is_manual(self) -> bool:
        """True for a trader's order (no strategy config behind it)."""
        return self.config_id is None

    @property
    def source(self) -> str:
        """Who the order is from, for messages and the duplicate guard: a config or an actor."""
        return f"config {self.config_id}" if self.config_id else self.actor


@dataclass(frozen=True, slots=True)
class Position:
    """A held long position; ``last_buy_at`` is the latest buy into it (defaults to opening)."""

    symbol: str
    qty: float
    avg_price: float
    opened_at: datetime
    stop_price: float | None = None
    config_id: str | None = None
    last_buy_at: datetime | None = None

    def __post_init__(self) -> None:
        _positive(f"position quantity of {self.symbol}", self.qty)
        _positive(f"average price of {self.symbol}", self.avg_price)
        object.__setattr__(self, "opened_at", as_utc(self.opened_at))
        last = self.opened_at if self.last_buy_at is None else as_utc(self.last_buy_at)
        object.__setattr__(self, "last_buy_at", last)


@dataclass(frozen=True, slots=True)
class SymbolSnapshot:
    """What the gate knows of a symbol's market: last price, liquidity, sector."""

    last_price: float
    avg_dollar_volume: float | None = None
    sector: str | None = None


@dataclass(frozen=True, slots=True)
class EquityMark:
    """The account's equity at a moment (the loop marks it each step)."""

    at: datetime
    equity: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", as_utc(self.at))


@dataclass(frozen=True, slots=True)
class RealisedSale:
    """A filled sell and its realised P&L (negative is a loss), for the wash-sale rule."""

    symbol: str
    sold_at: datetime
    qty: float
    pnl: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbol", self.symbol.strip().upper())
        object.__setattr__(self, "sold_at", as_utc(self.sold_at))


@dataclass(frozen=True, slots=True)
class SubmittedOrder:
    """An order already sent; ``working`` while it can still fill (not filled or cancelled)."""

    symbol: str
    side: Side
    qty: float
    submitted_at: datetime
    purpose: Purpose = Purpose.ENTRY
    config_id: str | None = None
    actor: str = "loop"
    bar: datetime | None = None
    price: float | None = None  # limit price or price estimate, for committed cash
    working: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "symbol", self.symbol.strip().upper())
        set_(self, "side", Side(self.side))
        set_(self, "purpose", Purpose(self.purpose))
        set_(self, "submitted_at", as_utc(self.submitted_at))
        if self.bar is not None:
            set_(self, "bar", as_utc(self.bar))

    @property
    def source(self) -> str:
        return f"config {self.config_id}" if self.config_id else self.actor


@dataclass(frozen=True)
class AccountState:
    """Everything the gate may look at for one step: account, book, history and market.

    Histories are sorted on construction: ``day_trades`` holds one trading date per day
    trade; ``equity_marks``, ``realised_sales`` and ``recent_orders`` are in time order.
    ``resumed_at`` is when a trader last resumed trading after a halt: the weekly hard
    loss is measured from there for the rest of that week, so a resume is not undone by
    the loss it acknowledged.
    """

    equity: float
    cash: float
    buying_power: float | None = None
    positions: Mapping[str, Position] = field(default_factory=dict)
    trading_state: TradingState = TradingState.ACTIVE
    state_reason: str = ""
    kill_switch: bool = False
    paused_configs: frozenset[str] = frozenset()
    equity_marks: tuple[EquityMark, ...] = ()
    day_trades: tuple[date, ...] = ()
    realised_sales: tuple[RealisedSale, ...] = ()
    recent_orders: tuple[SubmittedOrder, ...] = ()
    market: Mapping[str, SymbolSnapshot] = field(default_factory=dict)
    resumed_at: datetime | None = None
    #: Known earnings dates by symbol, oldest first (read only when the blackout is on).
    earnings: Mapping[str, tuple[date, ...]] = field(default_factory=dict)
    #: Figures the gate works out once per state and trading day (see GateContext), none
    #: of them counting the orders sent (:meth:`with_order` shares them).
    memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("equity", "cash"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise InputError(f"the account's {name} must be a number, not {value!r}")
        if self.buying_power is None:
            set_(self, "buying_power", self.cash)
        set_(self, "trading_state", TradingState(self.trading_state))
        set_(self, "paused_configs", frozenset(self.paused_configs))
        if isinstance(self.positions, list | tuple):
            set_(self, "positions", {p.symbol: p for p in self.positions})
        # Sorting what is already in order (as the loop passes it) costs one pass.
        set_(self, "equity_marks", tuple(sorted(self.equity_marks, key=attrgetter("at"))))
        set_(self, "day_trades", tuple(sorted(self.day_trades)))
        set_(self, "realised_sales", tuple(sorted(self.realised_sales, key=attrgetter("sold_at"))))
        set_(
            self, "recent_orders", tuple(sorted(self.recent_orders, key=attrgetter("submitted_at")))
        )
        if self.resumed_at is not None:
            set_(self, "resumed_at", as_utc(self.resumed_at))
        set_(self, "earnings", {s: tuple(sorted(days)) for s, days in self.earnings.items()})

    def position_qty(self, symbol: str) -> float:
        """Shares of ``symbol`` held (0 when none)."""
        position = self.positions.get(symbol)
        return position.qty if position else 0.0

    def last_price(self, symbol: str) -> float | None:
        """The last traded price of ``symbol``, or None when the market snapshot lacks it."""
        snapshot = self.market.get(symbol)
        return snapshot.last_price if snapshot else None

    def with_order(self, order: SubmittedOrder) -> AccountState:
        """This state with ``order`` sent, so the next check counts it (e.g. its cash). The
        figures worked out once per trading day (:attr:`memo`) do not count orders: the new
        state shares them."""
        state = replace(self, recent_orders=(*self.recent_orders, order))
        object.__setattr__(state, "memo", self.memo)
        return state

    # Figures that depend on the state alone, computed once however many orders are checked.
    @cached_property
    def working_buys(self) -> dict[str, tuple[float, float]]:
        """Working buy orders by symbol: (shares, dollars) already committed."""
        found: dict[str, tuple[float, float]] = {}
        for order in self.recent_orders:
            if order.working and order.side is Side.BUY:
                price = order.price or self.last_price(order.symbol) or 0.0
                qty, notional = found.get(order.symbol, (0.0, 0.0))
                found[order.symbol] = (qty + order.qty, notional + order.qty * price)
        return found

    @cached_property
    def working_sells(self) -> dict[str, float]:
        """Shares under working sell orders by symbol, protective stops left out.

        A resting protective stop guards the same shares an exit sells, so it does not
        make them unavailable (the broker adapter cancels the stop when the exit fills).
        """
        found: dict[str, float] = {}
        for order in self.recent_orders:
            if order.working and order.side is Side.SELL and order.purpose is not Purpose.STOP:
                found[order.symbol] = found.get(order.symbol, 0.0) + order.qty
        return found

    @cached_property
    def working_sell_purposes(self) -> dict[str, frozenset[Purpose]]:
        """Symbols with a working sell of any kind (stops included) and the purposes of those sells."""
        found: dict[str, set[Purpose]] = {}
        for order in self.recent_orders:
            if order.working and order.side is Side.SELL:
                found.setdefault(order.symbol, set()).add(order.purpose)
        return {symbol: frozenset(purposes) for symbol, purposes in found.items()}

    @cached_property
    def committed_cash(self) -> float:
        """Dollars that working buy orders will spend."""
        return sum(notional for _, notional in self.working_buys.values())

    @cached_property
    def open_symbols(self) -> frozenset[str]:
        """Symbols held or being bought: what counts toward the position limit."""
        return frozenset(self.positions) | frozenset(self.working_buys)

    @cached_property
    def order_times(self) -> list[datetime]:
        """The times of ``recent_orders``, for binary search."""
        return [o.submitted_at for o in self.recent_orders]

    @cached_property
    def loss_sales(self) -> dict[str, list[RealisedSale]]:
        """Loss-making sales by symbol, oldest first (what a wash sale looks back at)."""
        found: dict[str, list[RealisedSale]] = {}
        for sale in self.realised_sales:
            if sale.pnl < 0:
                found.setdefault(sale.symbol, []).append(sale)
        return found

    @cached_property
    def sent_keys(self) -> frozenset[tuple[str, str, Side, datetime]]:
        """(source, symbol, side, bar) of every sent order that names its bar."""
        return frozenset(
            (o.source, o.symbol, o.side, o.bar) for o in self.recent_orders if o.bar is not None
        )
