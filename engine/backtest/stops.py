"""Where a position's stop and profit-target distances come from, as of each signal bar.

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
    return np.tile(settings.atr_multiple * _atr(bars, settings), (1, n_sets))


def target_distances(bars: Bars, settings: BacktestSettings, stop: np.ndarray, n_sets: int = 1):
    """The profit target's distance above the signal bar's close, per bar and signal column
    (NaN: no target).

    ``stop`` is :func:`stop_distances`' answer (``take_profit="reward_risk"`` is a multiple
    of it). ``"fraction"`` is ``take_profit_at`` x the close, ``"atr"`` ``take_profit_at``
    x the ATR over ``atr_window`` bars.
    """
    at = settings.take_profit_at
    if settings.take_profit == "none" or at is None:
        return np.full(stop.shape, np.nan)
    if settings.take_profit == "reward_risk":
        return at * np.asarray(stop, dtype=float)
    if settings.take_profit == "atr":
        per_symbol = at * _atr(bars, settings)
    else:
        per_symbol = at * bars.close.to_numpy(dtype=float)
    return np.tile(per_symbol, (1, n_sets))


def _atr(bars: Bars, settings: BacktestSettings) -> np.ndarray:
    # On arrays: the pandas indicator's numbers without its per-call cost in a live step.
    from engine.strategies.arrays import atr

    prices = (bars.high, bars.low, bars.close)
    return atr(*(frame.to_numpy(dtype=float) for frame in prices), settings.atr_window)
