"""Where a position's stop distance comes from: the strategy, the engine's ATR, or nowhere.

Shared by the backtest (:mod:`engine.backtest._execution`) and the live loop, which must
stop a position where its backtest did. Light on purpose: no vectorbt.
"""

from __future__ import annotations

import numpy as np

from engine.backtest.settings import BacktestSettings
from engine.data.bars import Bars
from engine.errors import InputError
from engine.strategies.base import Signals


def stop_distances(bars: Bars, signals: Signals, settings: BacktestSettings, n_sets: int = 1):
    """The stop distance per bar and signal column (NaN: no stop), as of each signal bar.

    ``stop="strategy"`` takes the strategy's own ``stop_distance``; ``stop="atr"`` the
    engine's ``atr_multiple`` x ATR over ``atr_window`` bars (tiled over ``n_sets`` blocks
    of symbols in a sweep); ``stop="none"`` gives NaN everywhere.
    """
    shape = signals.entries.shape
    if settings.stop == "none":
        return np.full(shape, np.nan)
    if settings.stop == "strategy":
        if signals.stop_distance is None:
            raise InputError(
                "stop='strategy' but this strategy gives no stop distance",
                hint="use stop='atr' (the engine's ATR stop) or stop='none'",
            )
        return signals.stop_distance.to_numpy(dtype=float)
    from engine.strategies.indicators import atr

    distance = settings.atr_multiple * atr(bars.high, bars.low, bars.close, settings.atr_window)
    return np.tile(distance.to_numpy(dtype=float), (1, n_sets))
