"""What a broker does to a holding on a split or a cash dividend: pure arithmetic.

- **Split** (``ratio`` new shares per old: 4 for 4-for-1, 0.1 for 1-for-10), at the open
  of the ex-date: the shares are multiplied by the ratio and the cost per share divided
  by it, so the position's cost is unchanged. A holding of whole shares stays whole: the
  fraction a ratio leaves (7 shares at 3-for-2 make 10.5) is sold for **cash in lieu** at
  the post-split price (the last close divided by the ratio). A fractional holding (a
  broker with fractional shares) keeps its fraction. Resting orders of the symbol are
  re-based the same way: quantity times the ratio (whole orders rounded down), stop,
  limit and target prices divided by it and put on the tick (a sell's stop and a buy's
  limit rounded down, a target up), so an order never becomes worse for its owner.
- **Cash dividend**: the shares held at the close before the ex-date earn ``amount`` per
  share (a short pays it). Credited on the ex-date: the price drops by the dividend at
  that open, so crediting then keeps equity whole instead of showing a dip until the pay
  date (which most sources do not give). Resting orders are not changed (NYSE dropped
  its rule reducing them in 2016; Alpaca and most brokers leave them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.brokers.base import to_tick

#: Share quantities closer than this are equal (float residue).
QTY_EPSILON = 1e-6
#: The US equity price increment (SEC Rule 612), and below $1 (where a broker declares none).
US_EQUITY_TICK = 0.01
SUB_DOLLAR_TICK = 0.0001


@dataclass(frozen=True)
class SplitShares:
    """A holding after a split: its shares, and the fraction sold for cash in lieu."""

    qty: float
    fraction: float  # shares (post-split) paid out in cash; signed as the holding
    price: float  # the cash-in-lieu price per post-split share

    @property
    def cash_in_lieu(self) -> float:
        return self.fraction * self.price


def is_whole(qty: float) -> bool:
    """True when ``qty`` is a whole number of shares (float residue allowed)."""
    return abs(qty - round(qty)) < QTY_EPSILON


def split_shares(qty: float, ratio: float, last_price: float | None) -> SplitShares:
    """``qty`` shares after a ``ratio``-for-1 split, the last close before it ``last_price``.

    Whole holdings stay whole (towards zero for a short) and the rest is paid in cash at
    ``last_price / ratio``; a fractional holding is simply multiplied.
    """
    scaled = qty * ratio
    price = (last_price or 0.0) / ratio
    if not is_whole(qty) or is_whole(scaled):
        kept = round(scaled) if is_whole(scaled) else scaled
        return SplitShares(float(kept), 0.0, price)
    kept = float(math.trunc(scaled + (QTY_EPSILON if scaled > 0 else -QTY_EPSILON)))
    return SplitShares(kept, scaled - kept, price)


def split_order_qty(qty: float, ratio: float) -> float:
    """A resting order's quantity after a split: whole orders stay whole (rounded down)."""
    scaled = qty * ratio
    if is_whole(qty) and not is_whole(scaled):
        return float(math.floor(scaled + QTY_EPSILON))
    return float(round(scaled)) if is_whole(scaled) else scaled


def split_price(
    price: float | None, ratio: float, tick: float | None, *, up: bool = False
) -> float | None:
    """A resting order's price after a ``ratio``-for-1 split, on the ``tick`` grid."""
    if price is None:
        return None
    return to_tick(price / ratio, tick, up=up)


def dividend_cash(qty: float, amount: float) -> float:
    """What ``qty`` shares receive (a short: pay) for a dividend of ``amount`` a share."""
    return qty * amount
