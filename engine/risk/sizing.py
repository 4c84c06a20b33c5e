"""Position sizing: how many shares a new entry gets, from its stop and the book.

The seeds' formula, then two scale-downs and a cap::

    qty = equity * risk_per_trade / stop_distance          # lose risk_per_trade at the stop
        * correlation_factor(rho)                          # less when it moves with the book
        * min(1, volatility_scale)                         # less when it is unusually wild
    qty = min(qty, cap_pct * equity / entry_price)         # never above the position cap
    qty = floor(qty)                                       # whole shares unless fractional

``correlation_factor(rho) = sqrt(1 + rho**2) - rho`` for rho > 0, else 1. It is the
fraction of a full-size position that adds as much variance to a book (of the same risk
as one position) as a full-size uncorrelated position would: solving
``1 + s**2 + 2*s*rho = 2`` for ``s``. So rho 0.5 gives 0.62, rho 0.8 gives 0.48,
rho 1 gives 0.41; it never scales up for negative correlation (a hedge is a bonus, not
a reason to risk more).

``volatility_scale`` is the symbol's normal volatility over its recent volatility
(:func:`volatility_scale`): a symbol twice as wild as usual gets half the size; a calm
one never gets more than the formula's size.

>>> position_size(100_000, 0.01, entry_price=50.0, stop_distance=2.0)
500.0
>>> position_size(100_000, 0.01, 50.0, 2.0, correlation_to_book=0.5, cap_pct=0.2)
309.0
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.risk.limits import RiskLimits


def whole(qty: float, fractional: bool) -> float:
    """``qty`` rounded down to what the account can trade: whole shares, or 1e-6 of a share."""
    if not fractional:
        return float(math.floor(qty + 1e-9))
    return round(math.floor(qty * 1e6 + 1e-6) / 1e6, 6)


def correlation_factor(rho: float) -> float:
    """The size multiplier for a candidate whose returns correlate ``rho`` with the book."""
    if not math.isfinite(rho) or rho <= 0:
        return 1.0
    rho = min(rho, 1.0)
    return math.sqrt(1.0 + rho * rho) - rho


def position_size(
    equity: float,
    risk_per_trade: float,
    entry_price: float,
    stop_distance: float,
    *,
    correlation_to_book: float = 0.0,
    volatility_scale: float = 1.0,
    cap_pct: float | None = None,
    fractional: bool = False,
) -> float:
    """Shares to buy so that hitting the stop loses ``risk_per_trade`` of equity, scaled down.

    ``stop_distance`` is the price distance per share from the entry to the stop (e.g.
    2 x ATR). ``cap_pct`` caps the position's value as a fraction of equity. Returns 0
    when there is no equity to risk or the size rounds down to nothing.
    """
    for name, value in (("entry_price", entry_price), ("stop_distance", stop_distance)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise InputError(
                f"{name} must be a positive price distance, not {value!r}",
                hint="a strategy without a stop distance cannot be sized; give it an ATR stop",
            )
    if not 0 < risk_per_trade <= 0.05:
        raise InputError(f"risk_per_trade {risk_per_trade} is not a fraction in (0, 0.05]")
    if not math.isfinite(equity) or equity <= 0:
        return 0.0
    qty = equity * risk_per_trade / stop_distance
    qty *= correlation_factor(correlation_to_book)
    if math.isfinite(volatility_scale) and volatility_scale > 0:
        qty *= min(1.0, volatility_scale)
    if cap_pct is not None:
        qty = min(qty, cap_pct * equity / entry_price)
    return whole(qty, fractional)


def size_entry(
    limits: RiskLimits, equity: float, entry_price: float, stop_distance: float, **scaling: float
) -> float:
    """:func:`position_size` with the account's risk per trade, position cap and share rules.

    ``scaling`` is what scales the size down: ``correlation_to_book``, ``volatility_scale``.
    """
    return position_size(
        equity, limits.risk_per_trade, entry_price, stop_distance,
        cap_pct=limits.max_position_pct, fractional=limits.fractional_shares, **scaling,
    )  # fmt: skip


def correlation_to_book(
    returns: pd.DataFrame,
    candidate: str,
    holdings: dict[str, float],
    *,
    min_periods: int = 20,
) -> float:
    """Correlation of ``candidate``'s returns with the book's (holdings: symbol -> dollars).

    ``returns`` is dates x symbols (e.g. daily returns over the last 60 bars). An empty
    book, or too little shared history, gives 0 (nothing to be correlated with).
    """
    held = {s: v for s, v in holdings.items() if s != candidate and s in returns and v}
    if not held or candidate not in returns:
        return 0.0
    weights = pd.Series(held, dtype=float)
    book = returns[list(weights.index)].fillna(0.0) @ weights
    pair = pd.concat([returns[candidate], book], axis=1).dropna()
    if len(pair) < min_periods or pair.iloc[:, 0].std() == 0 or pair.iloc[:, 1].std() == 0:
        return 0.0
    return float(np.corrcoef(pair.iloc[:, 0], pair.iloc[:, 1])[0, 1])


def volatility_scale(close: pd.Series, *, recent: int = 20, normal: int = 252) -> float:
    """The symbol's normal volatility over its recent one (both from daily closes).

    Below 1 when the last ``recent`` bars are wilder than the last ``normal`` bars; 1 when
    there is too little history to tell.
    """
    returns = close.pct_change().dropna()
    if len(returns) < recent + 2:
        return 1.0
    recent_vol = returns.iloc[-recent:].std()
    normal_vol = returns.iloc[-normal:].std()
    if not (recent_vol > 0 and normal_vol > 0):
        return 1.0
    return float(normal_vol / recent_vol)
