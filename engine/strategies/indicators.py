"""Indicators on wide frames (dates x symbols), each using only bars up to and including t.

Windows are simple (not exponential) averages on purpose: a value then depends on the last
``window`` bars only, so the live loop, which sees a short recent history, computes exactly
what the backtest computed over years. A missing bar (NaN) inside a window makes the value
NaN, so no signal is drawn across a hole.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def sma(close: pd.DataFrame, window: int) -> pd.DataFrame:
    """The simple moving average of the last ``window`` closes."""
    return close.rolling(window).mean()


#: Relative difference under which two computed prices count as equal. Rolling sums carry
#: rounding noise that depends on the library (vectorbt or pandas) and on where the
#: history starts (the live loop sees less of it than the backtest), so an exact tie of
#: two averages -- common with prices in cents -- would otherwise fall either way.
TIE_TOLERANCE = 1e-9


def _tie(a, b):
    return TIE_TOLERANCE * np.fmax(np.abs(a), np.abs(b))


def tie_margin(a: float, b: float) -> float:
    """How far apart two floats may be and still count as equal: ``_tie`` for one pair.

    For the fast sweep's compiled signal steps (:class:`~engine.strategies.base.FastPath`),
    which compare as :func:`above` and its kin do (``(a - b) > tie_margin(a, b)`` is
    ``above``): numba compiles ``max`` branch-free, ``np.fmax`` not. Where either value is
    NaN the margin may differ from ``_tie``'s, but every comparison with a NaN difference
    is False either way.
    """
    return TIE_TOLERANCE * max(abs(a), abs(b))


def above(a, b):
    """True where ``a`` is above ``b`` by more than rounding noise (False where either is NaN)."""
    return (a - b) > _tie(a, b)


def below(a, b):
    """True where ``a`` is below ``b`` by more than rounding noise (False where either is NaN)."""
    return (b - a) > _tie(a, b)


def at_or_above(a, b):
    """True where ``a`` is not below ``b`` (False where either is NaN)."""
    return (b - a) <= _tie(a, b)


def at_or_below(a, b):
    """True where ``a`` is not above ``b`` (False where either is NaN)."""
    return (a - b) <= _tie(a, b)


def _previous(x):
    return x.shift(1) if isinstance(x, pd.DataFrame | pd.Series) else x


def crossed_above(a: pd.DataFrame, b) -> pd.DataFrame:
    """True on the bar where ``a`` goes from at-or-below ``b`` (a frame or a level) to above it."""
    return above(a, b) & at_or_below(_previous(a), _previous(b))


def crossed_below(a: pd.DataFrame, b) -> pd.DataFrame:
    """True on the bar where ``a`` goes from at-or-above ``b`` (a frame or a level) to below it."""
    return below(a, b) & at_or_above(_previous(a), _previous(b))


def rsi(close: pd.DataFrame, window: int) -> pd.DataFrame:
    """The relative strength index (0-100) over the last ``window`` close-to-close changes.

    Cutler's variant (simple averages of gains and losses) rather than Wilder's smoothing,
    whose value depends on how far back the history starts. A flat window reads 50.
    """
    change = close.diff()
    gain = change.clip(lower=0).rolling(window).mean()
    loss = (-change).clip(lower=0).rolling(window).mean()
    total = gain + loss
    values = np.where(total > 0, 100 * gain / total.where(total > 0), 50.0)
    return pd.DataFrame(values, index=close.index, columns=close.columns).where(total.notna())


def true_range(high: pd.DataFrame, low: pd.DataFrame, close: pd.DataFrame) -> pd.DataFrame:
    """Each bar's range, widened to include a gap from the previous close."""
    prev_close = close.shift(1)
    # fmax ignores a missing previous close (the first bar), but not a missing bar itself.
    widest = np.fmax(high - low, np.fmax((high - prev_close).abs(), (low - prev_close).abs()))
    return widest.where(high.notna() & low.notna())


def atr(high: pd.DataFrame, low: pd.DataFrame, close: pd.DataFrame, window: int) -> pd.DataFrame:
    """The average true range: the simple mean of the last ``window`` true ranges."""
    return true_range(high, low, close).rolling(window).mean()


def prior_high(high: pd.DataFrame, window: int) -> pd.DataFrame:
    """The highest high of the ``window`` bars before this one (this bar excluded)."""
    return high.rolling(window).max().shift(1)


def prior_low(low: pd.DataFrame, window: int) -> pd.DataFrame:
    """The lowest low of the ``window`` bars before this one (this bar excluded)."""
    return low.rolling(window).min().shift(1)


def bollinger(close: pd.DataFrame, window: int, k: float) -> tuple[pd.DataFrame, ...]:
    """The (lower, middle, upper) Bollinger bands: the SMA -/+ k population std deviations."""
    middle = close.rolling(window).mean()
    spread = k * close.rolling(window).std(ddof=0)
    return middle - spread, middle, middle + spread


def trailing_return(close: pd.DataFrame, lookback: int) -> pd.DataFrame:
    """The return over the last ``lookback`` bars: close / close ``lookback`` bars ago - 1."""
    return close / close.shift(lookback) - 1
