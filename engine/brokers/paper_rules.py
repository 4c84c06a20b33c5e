"""The paper broker's decisions as pure functions: fill prices, fees, refusals, positions.

Kept apart from the store so that each rule is checked with plain numbers, and so that
the backtest and the paper broker can be held to the same arithmetic (parity).

Costs follow vectorbt's conventions: ``fees`` is a fraction of the traded value,
``fixed_fees`` a flat amount per fill, ``slippage`` a fraction of the price, always
against the trader (a buy pays more, a sell gets less).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from engine.brokers.base import OrderType, Side
from engine.errors import InputError

#: Quantities smaller than this are float residue of a closed position, not shares.
QTY_EPSILON = 1e-9


@dataclass(frozen=True)
class Costs:
    """What trading costs the paper account: fees per fill and slippage on each price."""

    fees: float = 0.0  # fraction of traded value, e.g. 0.0005 = 5 bps
    fixed_fees: float = 0.0  # currency per fill
    slippage: float = 0.0  # fraction of price, against the trader

    def __post_init__(self):
        for name in ("fees", "fixed_fees", "slippage"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise InputError(f"paper broker {name} must be zero or positive, got {value!r}")
        if self.fees >= 1 or self.slippage >= 1:
            raise InputError(
                "paper broker fees and slippage are fractions of price (0.001 = 0.1%)",
                hint=f"got fees={self.fees}, slippage={self.slippage}; did you mean a percentage?",
            )

    def fee(self, qty: float, price: float) -> float:
        """The fee for one fill of ``qty`` shares at ``price``."""
        return self.fees * qty * price + self.fixed_fees

    def slipped(self, side: Side, price: float) -> float:
        """``price`` moved against the trader by the slippage."""
        return price * (1 + self.slippage) if side == Side.BUY else price * (1 - self.slippage)


def fill_price(
    side: Side,
    order_type: OrderType,
    *,
    open: float,
    high: float,
    low: float,
    limit_price: float | None = None,
    stop_price: float | None = None,
    slippage: float = 0.0,
) -> float | None:
    """The price an order fills at on this bar, or None when the bar does not fill it.

    - market: the open, plus slippage.
    - limit: only when the bar trades *through* the limit (a buy needs a low below it, a
      sell a high above it; a touch is not a fill), at the limit or at the open when the
      bar opened beyond it. No slippage: a limit never fills worse than its price.
    - stop: when the bar reaches the stop (a buy stop at or above, a sell stop at or
      below), at the stop or at the open when the bar gapped through it, plus slippage
      (a triggered stop is a market order).
    """
    if any(math.isnan(x) for x in (open, high, low)):
        return None
    buy = side == Side.BUY
    adverse = (1 + slippage) if buy else (1 - slippage)
    if order_type == OrderType.MARKET:
        return open * adverse
    if order_type == OrderType.LIMIT:
        if buy:
            return min(open, limit_price) if low < limit_price else None
        return max(open, limit_price) if high > limit_price else None
    if order_type == OrderType.STOP:
        if buy:
            return max(open, stop_price) * adverse if high >= stop_price else None
        return min(open, stop_price) * adverse if low <= stop_price else None
    raise InputError(f"the paper broker cannot fill {order_type} orders")


def fills_at_open(
    side: Side,
    order_type: OrderType,
    *,
    open: float,
    limit_price: float | None = None,
    stop_price: float | None = None,
) -> bool:
    """True when the bar's open alone fills the order: a market order, or a limit or stop the
    open has already gone through (the rest can only fill later in the bar)."""
    if math.isnan(open):
        return False
    buy = side == Side.BUY
    if order_type == OrderType.MARKET:
        return True
    if order_type == OrderType.LIMIT:
        return open < limit_price if buy else open > limit_price
    if order_type == OrderType.STOP:
        return open >= stop_price if buy else open <= stop_price
    return False


def affordable_qty(qty: float, price: float, cash: float, costs: Costs) -> float:
    """Shares of a buy of ``qty`` at ``price`` (slippage included) that ``cash`` pays for, fee too.

    The whole order when the cash covers it (within vectorbt's rounding tolerance: 1e-9
    relative), else what the cash buys after the fee, else 0: the same arithmetic as
    vectorbt's partial fill, so a backtest and the paper broker cut a buy alike.
    """
    total = qty * price + costs.fee(qty, price)
    if total <= cash or abs(total - cash) <= max(1e-9 * max(abs(total), abs(cash)), 1e-12):
        return qty
    spendable = (cash - costs.fixed_fees) / (1 + costs.fees)
    if spendable <= 0:
        return 0.0
    return min(spendable / price, qty)


def sale_proceeds(qty: float, price: float, costs: Costs) -> float:
    """Cash a sale of ``qty`` at about ``price`` brings, slippage and fee taken off."""
    price = costs.slipped(Side.SELL, price)
    return qty * price - costs.fee(qty, price)


def rejection_reason(
    side: Side,
    qty: float,
    *,
    price: float | None,
    cash: float,
    reserved_cash: float,
    held_qty: float,
    pending_sell_qty: float,
    allow_short: bool,
    costs: Costs,
    pending_proceeds: float = 0.0,
) -> str | None:
    """Why the paper broker refuses this order (in Alpaca's words), or None to accept it.

    ``price`` is the best estimate of the fill (the limit, the stop, else the last close;
    None when no bar has been seen, and then buying power cannot be checked yet).
    ``reserved_cash`` is what open buy orders already need; ``pending_proceeds`` what open
    market sells of held shares will bring at the next open (at the last close), which a
    buy placed with them may count on.
    """
    if side == Side.BUY:
        if price is None:
            return None
        needed = reserve_for(qty, price, costs)
        available = cash - reserved_cash + pending_proceeds
        if needed > available + 1e-6:
            return (
                f"insufficient buying power: the order needs ${needed:,.2f}, "
                f"${max(available, 0):,.2f} is available"
            )
        return None
    available_qty = held_qty - pending_sell_qty
    if not allow_short and qty > available_qty + QTY_EPSILON:
        return (
            f"insufficient qty available for order (requested: {qty:g}, "
            f"available: {max(available_qty, 0):g}); this paper account does not sell short"
        )
    return None


def reserve_for(qty: float, price: float | None, costs: Costs) -> float:
    """Cash a buy of ``qty`` at about ``price`` needs, slippage and fee included (0: no price)."""
    if price is None:
        return 0.0
    price = costs.slipped(Side.BUY, price)
    return qty * price + costs.fee(qty, price)


def positions_from_fills(
    fills: Iterable[tuple[str, float, float] | tuple[str, float, float, float]],
) -> dict[str, tuple[float, float]]:
    """Open positions as ``{symbol: (qty, avg_entry_price)}`` from fills in time order.

    Each fill is ``(symbol, signed_qty, price)``. Average cost: adding to a position
    moves the average entry price; reducing it leaves it; crossing through zero starts a
    new position at the crossing fill's price. A split is ``(symbol, signed_qty, price,
    ratio)``: the shares times the ratio and the average divided by it, then
    ``signed_qty`` (the fraction sold for cash in lieu, at ``price``).
    """
    book: dict[str, tuple[float, float]] = {}
    for symbol, signed_qty, price, *split in fills:
        add_to_position(book, symbol, signed_qty, price, split[0] if split else 1.0)
    return book


def add_to_position(
    book: dict[str, tuple[float, float]], symbol: str, signed_qty: float, price: float,
    ratio: float = 1.0,
) -> None:  # fmt: skip
    """Moves ``book`` (``{symbol: (qty, avg_entry_price)}``) by one fill, or one split with its
    ``ratio`` (see :func:`positions_from_fills`, which is this over fills in time order)."""
    qty, avg = book.get(symbol, (0.0, 0.0))
    if ratio != 1.0:
        qty, avg = qty * ratio, avg / ratio
    new_qty = qty + signed_qty
    if abs(new_qty) < QTY_EPSILON:
        book.pop(symbol, None)
        return
    if qty == 0 or (qty > 0) == (signed_qty > 0):
        avg = (qty * avg + signed_qty * price) / new_qty
    elif (qty > 0) != (new_qty > 0):
        avg = price  # flipped from long to short or back
    book[symbol] = (new_qty, avg)
