"""The signals of :mod:`engine.strategies.builtins.momentum_rotation` (see it for what it trades on).

Imported on the strategy's first use: the declaration lists it without pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data.bars import Bars, weekday_block_starts
from engine.errors import InputError
from engine.strategies.base import Signals
from engine.strategies.builtins.momentum_rotation import MomentumRotationParams, warmup_bars
from engine.strategies.indicators import trailing_return
from engine.strategies.registry import implements

#: A Monday; blocks of ``rebalance_every`` weekdays are counted from it.
REBALANCE_ANCHOR = np.datetime64("2000-01-03")


def rebalance_days(index: pd.DatetimeIndex, every: int) -> np.ndarray:
    """True on the first bar of each block of ``every`` weekdays counted from the anchor."""
    return weekday_block_starts(index, REBALANCE_ANCHOR, every)


@implements("momentum_rotation")
def momentum_rotation(bars: Bars, params: MomentumRotationParams) -> Signals:
    """Entries when a symbol joins the top set on a rebalance day; exits when it leaves."""
    if params.top_n >= len(bars.symbols):
        raise InputError(
            f"top_n={params.top_n} holds the whole universe of {len(bars.symbols)} "
            "symbols, so nothing is ranked",
            hint="give it more symbols than top_n, or a smaller top_n",
        )
    close = bars.close
    rebalance = rebalance_days(close.index, params.rebalance_every)
    on_rebalance = close.loc[rebalance]
    ranks = (
        trailing_return(close, params.lookback)
        .loc[rebalance]
        .rank(axis=1, ascending=False, method="first")
    )
    top = (ranks <= params.top_n).astype(float)  # no trailing return ranks NaN: not held
    held = top.where(on_rebalance.notna()).ffill().fillna(0.0).to_numpy(dtype=bool)
    was_held = np.zeros_like(held)
    was_held[1:] = held[:-1]

    entries = np.zeros(close.shape, dtype=bool)
    exits = np.zeros(close.shape, dtype=bool)
    entries[rebalance] = held & ~was_held
    exits[rebalance] = was_held & ~held
    # Before the warm-up, "joining the top set" would mean "the data began": the backtest
    # gives no signal there, as the live loop, which waits out the warm-up, gives none.
    unsettled = slice(0, min(warmup_bars(params), len(close)))
    entries[unsettled] = False
    exits[unsettled] = False
    entries = pd.DataFrame(entries, index=close.index, columns=close.columns)
    exits = pd.DataFrame(exits, index=close.index, columns=close.columns)
    return Signals(entries=entries, exits=exits)
