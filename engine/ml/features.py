"""The model's inputs: one row per bar and symbol, computed from that symbol's bars up to the bar.

:func:`compute_features` is the only place features are made. Training, the backtest, the
look-ahead check and the live loop all call it, so a model never sees inputs computed one
way in research and another way in production.

Every feature is scale-free (a return, a ratio, a z-score), so one model can be trained on
the pooled rows of many symbols. Rolling windows are summed exactly, window by window, in
a fixed order (not as a running sum that adds the new bar and drops the old one), so a
feature's value depends only on the bars inside its window: the live loop, which sees a
short recent history, computes bit for bit what the backtest computed over years. A
missing bar inside a window makes the value NaN; such a row is neither trained on nor
traded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data.bars import Bars
from engine.strategies.indicators import true_range

#: Horizons (bars) of the past log returns.
RETURN_HORIZONS = (1, 5, 21, 63)
#: Windows (bars) of the volatility of daily log returns.
VOLATILITY_WINDOWS = (21, 63)
#: Windows (bars) of the simple moving averages whose distance from the close is a feature.
MOVING_AVERAGE_WINDOWS = (20, 50, 100)
RSI_WINDOW = 14
ATR_WINDOW = 14
VOLUME_WINDOW = 21

#: The feature columns, in the order a model receives them. A saved model records them and
#: refuses features of another list (see :mod:`engine.ml.model`).
FEATURE_NAMES: tuple[str, ...] = (
    *(f"return_{h}" for h in RETURN_HORIZONS),
    *(f"volatility_{w}" for w in VOLATILITY_WINDOWS),
    f"rsi_{RSI_WINDOW}",
    f"atr_{ATR_WINDOW}_pct",
    f"volume_z_{VOLUME_WINDOW}",
    *(f"distance_sma_{w}" for w in MOVING_AVERAGE_WINDOWS),
)

#: Position of the first bar whose every feature can be known: the bars before it are the
#: longest window's warm-up (a return over h bars needs h earlier closes; a mean over w
#: bars is known from the w-th bar on).
FEATURE_WARMUP = max(
    *RETURN_HORIZONS,
    *VOLATILITY_WINDOWS,  # w one-bar returns need w + 1 closes: known from position w
    RSI_WINDOW,  # likewise
    ATR_WINDOW - 1,  # the first true range needs no previous close
    VOLUME_WINDOW - 1,
    *(w - 1 for w in MOVING_AVERAGE_WINDOWS),
)


def compute_features(bars: Bars) -> pd.DataFrame:
    """The features of every bar and symbol: rows (date, symbol) date-major, columns FEATURE_NAMES.

    Row (t, s) uses only symbol s's bars up to and including t. A row is NaN in a feature
    whose window is not yet full or holds a missing bar.

    >>> from engine.data.sample import sample_bars
    >>> features = compute_features(sample_bars(["AAPL", "GE"], end="2001-12-31"))
    >>> features.index.names, features.shape[1] == len(FEATURE_NAMES)
    (FrozenList(['date', 'symbol']), True)
    """
    close = bars.close.to_numpy(dtype=float)
    volume = bars.volume.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(close)
        daily = _difference(log_close, 1)
        # A day without volume (a halt) gives log(1) = 0, not minus infinity.
        log_volume = np.log1p(np.where(volume >= 0, volume, np.nan))
        columns: list[np.ndarray] = [_difference(log_close, h) for h in RETURN_HORIZONS]
        columns += [_rolling_std(daily, w) for w in VOLATILITY_WINDOWS]
        columns.append(_rsi(close, RSI_WINDOW) / 100.0)
        # The true range widens a bar's range to include a gap from the previous close.
        true_ranges = true_range(bars.high, bars.low, bars.close).to_numpy(dtype=float)
        columns.append(_rolling_mean(true_ranges, ATR_WINDOW) / close)
        columns.append(_zscore(log_volume, VOLUME_WINDOW))
        columns += [close / _rolling_mean(close, w) - 1.0 for w in MOVING_AVERAGE_WINDOWS]
    stacked = np.stack(columns, axis=-1)  # dates x symbols x features
    stacked[~np.isfinite(stacked)] = np.nan
    stacked[np.isnan(close)] = np.nan  # no bar, no row: whatever its other fields say
    n_dates, n_symbols = close.shape
    index = pd.MultiIndex.from_product(
        [bars.index, pd.Index(bars.symbols, dtype=object)], names=["date", "symbol"]
    )
    return pd.DataFrame(
        stacked.reshape(n_dates * n_symbols, len(FEATURE_NAMES)),
        index=index,
        columns=list(FEATURE_NAMES),
    )


def feature_cube(features: pd.DataFrame, n_symbols: int) -> np.ndarray:
    """The features as a (dates x symbols x features) array, for slicing training windows by date."""
    values = features.to_numpy(dtype=float)
    return values.reshape(len(values) // max(n_symbols, 1), n_symbols, values.shape[1])


# -- exact rolling windows ----------------------------------------------------------------


def _difference(values: np.ndarray, lag: int) -> np.ndarray:
    out = np.full_like(values, np.nan)
    out[lag:] = values[lag:] - values[:-lag]
    return out


def _rolling_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum of the last ``window`` rows at each row, added in the same order for every window."""
    out = np.full_like(values, np.nan)
    n = len(values)
    if n < window:
        return out
    total = values[: n - window + 1].copy()
    for offset in range(1, window):
        total += values[offset : n - window + 1 + offset]
    out[window - 1 :] = total
    return out


def _rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    return _rolling_sum(values, window) / window


def _rolling_std(values: np.ndarray, window: int) -> np.ndarray:
    """Population standard deviation over the last ``window`` rows (two passes: no cancellation)."""
    mean = _rolling_mean(values, window)
    out = np.full_like(values, np.nan)
    n = len(values)
    if n < window:
        return out
    centre = mean[window - 1 :]
    squares = np.zeros_like(centre)
    for offset in range(window):
        squares += (values[offset : n - window + 1 + offset] - centre) ** 2
    out[window - 1 :] = np.sqrt(squares / window)
    return out


def _nan_where_unknown(values: np.ndarray, known_from: np.ndarray) -> np.ndarray:
    """``values``, NaN wherever ``known_from`` is NaN (np.where would have filled them)."""
    return np.where(np.isnan(known_from), np.nan, values)


def _zscore(values: np.ndarray, window: int) -> np.ndarray:
    """How many standard deviations the row is from the mean of its window (0 in a flat window)."""
    mean = _rolling_mean(values, window)
    spread = _rolling_std(values, window)
    flat = ~(spread > 0)
    scores = np.where(flat, 0.0, (values - mean) / np.where(flat, 1.0, spread))
    return _nan_where_unknown(scores, spread)


def _rsi(close: np.ndarray, window: int) -> np.ndarray:
    """Cutler's RSI, as :func:`engine.strategies.indicators.rsi`, on exact rolling means."""
    change = _difference(close, 1)
    gain = _rolling_mean(_nan_where_unknown(np.fmax(change, 0.0), change), window)
    loss = _rolling_mean(_nan_where_unknown(np.fmax(-change, 0.0), change), window)
    total = gain + loss
    flat = ~(total > 0)
    strength = np.where(flat, 50.0, 100.0 * gain / np.where(flat, 1.0, total))
    return _nan_where_unknown(strength, total)
