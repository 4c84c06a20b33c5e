"""The indicators of :mod:`engine.strategies.indicators` on numpy arrays (bars x symbols), to the bit.

A live step computes its signals over a short window (a few hundred bars of a few
symbols): pandas' per-call overhead, not the arithmetic, is then the cost (a rolling mean
of 300 x 7 bars takes 0.7 ms as a DataFrame, 20 us as arrays). The built-ins' array forms
(``implements(..., arrays=...)``) compute from these, and must give what their pandas
signal functions give, bit for bit: the windows, NaN handling and ties decide trades, and
a replay must trade as its backtest did.

So every step here is the pandas one, term for term: rolling windows run the kernels
pandas' own ``DataFrame.rolling`` runs (its running Kahan sums carry rounding that depends
on where the window starts, and only the same code gives the same last bits), on the same
bounds, after the same preparation (float64, an infinity counted as missing). Where this
pandas keeps those kernels elsewhere, the public ``rolling`` computes them: slower, the
same numbers. ``tests/strategies/test_arrays.py`` holds every function here, and each
built-in's array form, to its pandas counterpart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.strategies.indicators import above, at_or_below

try:  # pandas' own window kernels: the arithmetic DataFrame.rolling runs, per column
    from pandas._libs.window import aggregations as _kernels
except ImportError:  # pragma: no cover - a pandas that moved them: the public path below
    _kernels = None


def _rolling(values: np.ndarray, window: int, name: str, **kwargs) -> np.ndarray:
    """``DataFrame(values).rolling(window).<name>(**kwargs)`` as an array (min periods: the window)."""
    values = np.asarray(values, dtype=np.float64)
    kernel = getattr(_kernels, f"roll_{name}", None)
    if kernel is None:
        return getattr(pd.DataFrame(values).rolling(window), name)(**kwargs).to_numpy()
    n = len(values)
    # The bounds pandas' fixed window gives each bar: the `window` bars up to and including it.
    end = np.arange(1, n + 1, dtype=np.int64)
    start = np.clip(end - window, 0, n)
    infinite = np.isinf(values)
    if infinite.any():  # pandas counts an infinity as missing in a window
        values = np.where(infinite, np.nan, values)
    out = np.empty(values.shape)
    with np.errstate(all="ignore"):
        for column in range(values.shape[1]):
            out[:, column] = kernel(values[:, column], start, end, window, **kwargs)
    return out


def shift(values: np.ndarray, periods: int = 1) -> np.ndarray:
    """``values`` moved ``periods`` bars later, NaN where nothing moved in (``DataFrame.shift``)."""
    out = np.full(values.shape, np.nan)
    if periods < len(values):
        out[periods:] = values[: len(values) - periods]
    return out


def sma(close: np.ndarray, window: int) -> np.ndarray:
    """:func:`~engine.strategies.indicators.sma` on arrays."""
    return _rolling(close, window, "mean")


def rolling_std(close: np.ndarray, window: int) -> np.ndarray:
    """The population standard deviation of the last ``window`` values (``rolling.std(ddof=0)``)."""
    variance = _rolling(close, window, "var", ddof=0)
    with np.errstate(invalid="ignore"):
        deviation = np.sqrt(variance)
    deviation[variance < 0] = 0  # pandas' zsqrt: rounding below zero is no deviation
    return deviation


def prior_high(high: np.ndarray, window: int) -> np.ndarray:
    """:func:`~engine.strategies.indicators.prior_high` on arrays."""
    return shift(_rolling(high, window, "max"))


def prior_low(low: np.ndarray, window: int) -> np.ndarray:
    """:func:`~engine.strategies.indicators.prior_low` on arrays."""
    return shift(_rolling(low, window, "min"))


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """:func:`~engine.strategies.indicators.true_range` on arrays."""
    prev_close = shift(close)
    with np.errstate(invalid="ignore"):  # an infinity less itself: NaN, as in pandas
        widest = np.fmax(high - low, np.fmax(np.abs(high - prev_close), np.abs(low - prev_close)))
    return np.where(np.isnan(high) | np.isnan(low), np.nan, widest)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int) -> np.ndarray:
    """:func:`~engine.strategies.indicators.atr` on arrays."""
    return sma(true_range(high, low, close), window)


def rsi(close: np.ndarray, window: int) -> np.ndarray:
    """:func:`~engine.strategies.indicators.rsi` on arrays."""
    change = close - shift(close)
    gain = sma(_clip_below_zero(change), window)
    loss = sma(_clip_below_zero(-change), window)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(total > 0, 100 * gain / np.where(total > 0, total, np.nan), 50.0)
    return np.where(np.isnan(total), np.nan, values)


def _clip_below_zero(values: np.ndarray) -> np.ndarray:
    """``DataFrame.clip(lower=0)``: a value below 0 becomes 0; NaN, and -0.0, are kept."""
    return np.where(np.isnan(values) | (values >= 0), values, 0.0)


def bollinger(close: np.ndarray, window: int, k: float) -> tuple[np.ndarray, ...]:
    """:func:`~engine.strategies.indicators.bollinger` on arrays: (lower, middle, upper)."""
    middle = sma(close, window)
    spread = k * rolling_std(close, window)
    return middle - spread, middle, middle + spread


def trailing_return(close: np.ndarray, lookback: int) -> np.ndarray:
    """:func:`~engine.strategies.indicators.trailing_return` on arrays."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return close / shift(close, lookback) - 1


def crossed_above(a: np.ndarray, level: float) -> np.ndarray:
    """:func:`~engine.strategies.indicators.crossed_above` of an array through a level."""
    return above(a, level) & at_or_below(shift(a), level)


def ffill(values: np.ndarray) -> np.ndarray:
    """Each NaN replaced by the last value above it in its column (``DataFrame.ffill``)."""
    rows = np.where(np.isnan(values), 0, np.arange(len(values))[:, None])
    np.maximum.accumulate(rows, axis=0, out=rows)
    return np.take_along_axis(values, rows, axis=0)


def last_valid(values: np.ndarray) -> np.ndarray:
    """``ffill(values)[-1]``: each column's last value that is not NaN, looked for only in
    the columns whose last row is NaN (a live step's marks: one row, not the window)."""
    last = values[-1].astype(float, copy=True)
    missing = np.isnan(last)
    if missing.any():
        last[missing] = ffill(values[:, missing])[-1]
    return last
