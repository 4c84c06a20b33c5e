"""Cross-sectional momentum rotation: hold the top N of the universe by trailing return.

On each rebalance day, the symbols are ranked by their return over the last ``lookback``
bars and the ``top_n`` best are held. A symbol gets an entry on the rebalance day it joins
the top set and an exit on the rebalance day it leaves it; between rebalances nothing
changes (a stopped-out symbol is not re-bought until it leaves and re-joins the set).

Rebalance days are fixed by the calendar, not by where the data starts: weekdays are
counted from Monday 2000-01-03 in blocks of ``rebalance_every``, and the first bar of each
block rebalances (``rebalance_every=5``: the first trading day of each week). So a backtest
over years and the live loop over its short recent history rebalance on the same days.
A symbol with no bar on a rebalance day keeps its place until it trades again. There is no
signal before the warm-up (``lookback`` bars and one block of rebalance days): a symbol
already in the top set when the data begins has not *joined* it, so a backtest, like a live
loop started today, buys only the symbols that join after that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pydantic

from engine.data.bars import Bars, weekday_block_starts
from engine.errors import InputError
from engine.strategies.base import Signals, StrategyParams
from engine.strategies.indicators import trailing_return
from engine.strategies.registry import register

#: A Monday; blocks of ``rebalance_every`` weekdays are counted from it.
REBALANCE_ANCHOR = np.datetime64("2000-01-03")


class MomentumRotationParams(StrategyParams):
    """How far back returns are measured, how many symbols are held, how often it rebalances."""

    lookback: int = pydantic.Field(126, ge=1, description="Bars in the trailing return ranked.")
    top_n: int = pydantic.Field(3, ge=1, description="Symbols held: the best by trailing return.")
    rebalance_every: int = pydantic.Field(21, ge=1, description="Weekdays between rebalances.")


def rebalance_days(index: pd.DatetimeIndex, every: int) -> np.ndarray:
    """True on the first bar of each block of ``every`` weekdays counted from the anchor."""
    return weekday_block_starts(index, REBALANCE_ANCHOR, every)


def _warmup(params: MomentumRotationParams) -> int:
    # The first rebalance with a trailing return marks every top symbol as joining, only
    # because nothing was ranked before it: one more block of rebalance days settles that.
    return params.lookback + params.rebalance_every


@register(
    "momentum_rotation",
    MomentumRotationParams,
    "Cross-sectional momentum: hold the top N symbols by trailing return, re-ranked on a fixed schedule.",
    warmup=_warmup,
)
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
    unsettled = slice(0, min(_warmup(params), len(close)))
    entries[unsettled] = False
    exits[unsettled] = False
    entries = pd.DataFrame(entries, index=close.index, columns=close.columns)
    exits = pd.DataFrame(exits, index=close.index, columns=close.columns)
    return Signals(entries=entries, exits=exits)
