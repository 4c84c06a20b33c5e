"""The signals of :mod:`engine.strategies.builtins.momentum_rotation` (see it for what it trades on).

Imported on the strategy's first use: the declaration lists it without pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data.bars import Bars, weekday_block_starts
from engine.errors import InputError
from engine.strategies import arrays
from engine.strategies.base import Signals
from engine.strategies.builtins.momentum_rotation import MomentumRotationParams, warmup_bars
from engine.strategies.indicators import trailing_return
from engine.strategies.registry import implements

#: A Monday; blocks of ``rebalance_every`` weekdays are counted from it.
REBALANCE_ANCHOR = np.datetime64("2000-01-03")


def rebalance_days(index: pd.DatetimeIndex, every: int) -> np.ndarray:
    """True on the first bar of each block of ``every`` weekdays counted from the anchor."""
    return weekday_block_starts(index, REBALANCE_ANCHOR, every)


def _check_universe(bars: Bars, params: MomentumRotationParams) -> None:
    if params.top_n >= len(bars.symbols):
        raise InputError(
            f"top_n={params.top_n} holds the whole universe of {len(bars.symbols)} "
            "symbols, so nothing is ranked",
            hint="give it more symbols than top_n, or a smaller top_n",
        )


def momentum_rotation_arrays(bars: Bars, params: MomentumRotationParams):
    """:func:`momentum_rotation` on arrays (:mod:`engine.strategies.arrays`), to the bit."""
    _check_universe(bars, params)
    close = bars.close.to_numpy(dtype=float)
    rebalance = rebalance_days(bars.index, params.rebalance_every)
    trailing = arrays.trailing_return(close, params.lookback)[rebalance]
    # rank(axis=1, ascending=False, method="first"): best first, ties in column order, NaN unranked
    order = np.argsort(-trailing, axis=1, kind="stable")
    ranks = np.empty(trailing.shape)
    np.put_along_axis(ranks, order, np.arange(1.0, trailing.shape[1] + 1), axis=1)
    top = np.where(np.isnan(trailing), False, ranks <= params.top_n).astype(float)
    top[np.isnan(close[rebalance])] = np.nan  # no bar that day: it keeps its place
    held = arrays.ffill(top)
    held = np.where(np.isnan(held), 0.0, held).astype(bool)
    return _joins_and_leaves(held, rebalance, params, close.shape)


@implements("momentum_rotation", arrays=momentum_rotation_arrays)
def momentum_rotation(bars: Bars, params: MomentumRotationParams) -> Signals:
    """Entries when a symbol joins the top set on a rebalance day; exits when it leaves."""
    _check_universe(bars, params)
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
    entries, exits, _ = _joins_and_leaves(held, rebalance, params, close.shape)
    entries = pd.DataFrame(entries, index=close.index, columns=close.columns)
    exits = pd.DataFrame(exits, index=close.index, columns=close.columns)
    return Signals(entries=entries, exits=exits)


def _joins_and_leaves(held: np.ndarray, rebalance: np.ndarray, params, shape):
    """(entries, exits, None): on each rebalance day, the symbols that joined the top set
    ``held`` (a row per rebalance day) and those that left it."""
    was_held = np.zeros_like(held)
    was_held[1:] = held[:-1]
    entries = np.zeros(shape, dtype=bool)
    exits = np.zeros(shape, dtype=bool)
    entries[rebalance] = held & ~was_held
    exits[rebalance] = was_held & ~held
    # Before the warm-up, "joining the top set" would mean "the data began": the backtest
    # gives no signal there, as the live loop, which waits out the warm-up, gives none.
    unsettled = slice(0, min(warmup_bars(params), shape[0]))
    entries[unsettled] = False
    exits[unsettled] = False
    return entries, exits, None
