"""The signals of :mod:`engine.strategies.builtins.rsi_reversion` (see it for what it trades on).

Imported on the strategy's first use: the declaration lists it without pandas.
"""

from __future__ import annotations

import numpy as np

from engine.data.bars import Bars
from engine.strategies import arrays
from engine.strategies.base import FastPath, Signals
from engine.strategies.builtins.rsi_reversion import RsiReversionParams
from engine.strategies.indicators import above, crossed_above, rsi, tie_margin
from engine.strategies.registry import implements


def _strength(bars: Bars, window: int):
    return rsi(bars.close, window)


def _turns_bar_by_bar(series, refs, values, close, entries, exits, stops) -> None:
    """:func:`rsi_reversion` bar by bar, for the fast sweep (:class:`FastPath`)."""
    strength = series[refs[0]]
    lower, upper = values[0], values[1]
    for t in range(len(close)):
        now = strength[t]
        before = strength[t - 1] if t > 0 else np.nan
        out = (now - upper) > tie_margin(now, upper)  # above upper
        into = (now - lower) > tie_margin(now, lower)  # above lower
        was_at_or_below = (before - lower) <= tie_margin(before, lower)
        exits[t] = out
        entries[t] = into & was_at_or_below & ~out


def rsi_reversion_arrays(bars: Bars, params: RsiReversionParams):
    """:func:`rsi_reversion` on arrays (:mod:`engine.strategies.arrays`), to the bit."""
    strength = arrays.rsi(bars.close.to_numpy(dtype=float), params.window)
    exits = above(strength, params.upper)
    entries = arrays.crossed_above(strength, params.lower) & ~exits
    return entries, exits, None


@implements(
    "rsi_reversion",
    fast=FastPath(
        series=lambda p: ((_strength, p.window),),
        values=lambda p: (p.lower, p.upper),
        step=_turns_bar_by_bar,
    ),
    arrays=rsi_reversion_arrays,
)
def rsi_reversion(bars: Bars, params: RsiReversionParams) -> Signals:
    """Entries where the RSI crosses up through ``lower``; exits where it is above ``upper``."""
    strength = rsi(bars.close, params.window)
    exits = above(strength, params.upper)
    entries = crossed_above(strength, params.lower) & ~exits
    return Signals(entries=entries, exits=exits)
