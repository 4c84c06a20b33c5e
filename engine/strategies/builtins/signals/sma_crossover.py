"""The signals of :mod:`engine.strategies.builtins.sma_crossover` (see it for what it trades on).

Imported on the strategy's first use: the declaration lists it without pandas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from engine.data.bars import Bars
from engine.strategies import arrays
from engine.strategies.base import FastPath, Signals
from engine.strategies.builtins.sma_crossover import SmaCrossoverParams
from engine.strategies.grid import grid_columns
from engine.strategies.indicators import TIE_TOLERANCE, sma, tie_margin
from engine.strategies.registry import implements


def _moving_averages(close: pd.DataFrame, windows: Sequence[int]) -> dict[int, np.ndarray]:
    """Each window's average of every symbol's close (:func:`~engine.strategies.indicators.sma`)."""
    return {window: sma(close, window).to_numpy() for window in sorted(set(windows))}


def _crossings(fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fast crossed above slow, fast crossed below slow) on each bar; False on the first.

    The same rule as :func:`~engine.strategies.indicators.crossed_above` (a difference
    within rounding noise is a tie), written on arrays because a sweep runs it per pair.
    """
    gap = fast - slow
    tie = TIE_TOLERANCE * np.fmax(np.abs(fast), np.abs(slow))
    above, below = gap > tie, gap < -tie
    crossed_above = np.zeros(gap.shape, dtype=bool)
    crossed_below = np.zeros(gap.shape, dtype=bool)
    # NaN compares False: no cross from a bar without both averages.
    crossed_above[1:] = above[1:] & (gap[:-1] <= tie[:-1])
    crossed_below[1:] = below[1:] & (gap[:-1] >= -tie[:-1])
    return crossed_above, crossed_below


def sma_crossover_grid(bars: Bars, params_list: Sequence[SmaCrossoverParams]) -> Signals:
    """Crossover signals for every (fast, slow) pair, columns (fast, slow, symbol)."""
    close = bars.close
    averages = _moving_averages(close, [w for p in params_list for w in (p.fast, p.slow)])
    pairs = [_crossings(averages[p.fast], averages[p.slow]) for p in params_list]
    columns = grid_columns(params_list, bars.symbols)
    entries = np.concatenate([entry for entry, _ in pairs], axis=1)
    exits = np.concatenate([exit_ for _, exit_ in pairs], axis=1)
    return Signals(
        entries=pd.DataFrame(entries, index=close.index, columns=columns, copy=False),
        exits=pd.DataFrame(exits, index=close.index, columns=columns, copy=False),
    )


def _average(bars: Bars, window: int) -> np.ndarray:
    """The ``window``-bar SMA of each symbol's close, (bars x symbols)."""
    return _moving_averages(bars.close, [window])[window]


def _crossings_bar_by_bar(series, refs, values, close, entries, exits, stops) -> None:
    """:func:`_crossings` bar by bar, term for term, for the fast sweep (:class:`FastPath`)."""
    fast, slow = series[refs[0]], series[refs[1]]
    entries[0] = exits[0] = False  # a crossing needs the bar before
    # Each bar on its own (the bar before recomputed, not carried): the loop vectorises.
    for t in range(1, len(close)):
        gap, tie = fast[t] - slow[t], tie_margin(fast[t], slow[t])
        gap_before = fast[t - 1] - slow[t - 1]
        tie_before = tie_margin(fast[t - 1], slow[t - 1])
        entries[t] = (gap > tie) & (gap_before <= tie_before)
        exits[t] = (gap < -tie) & (gap_before >= -tie_before)


def sma_crossover_arrays(bars: Bars, params: SmaCrossoverParams):
    """:func:`sma_crossover` on arrays (:mod:`engine.strategies.arrays`), to the bit."""
    close = bars.close.to_numpy(dtype=float)
    entries, exits = _crossings(arrays.sma(close, params.fast), arrays.sma(close, params.slow))
    return entries, exits, None


@implements(
    "sma_crossover",
    grid_fn=sma_crossover_grid,
    fast=FastPath(
        series=lambda p: ((_average, p.fast), (_average, p.slow)),
        step=_crossings_bar_by_bar,
    ),
    arrays=sma_crossover_arrays,
)
def sma_crossover(bars: Bars, params: SmaCrossoverParams) -> Signals:
    """Entries where the fast SMA crosses above the slow one; exits where it crosses below."""
    averages = _moving_averages(bars.close, [params.fast, params.slow])
    entries, exits = _crossings(averages[params.fast], averages[params.slow])
    close = bars.close
    return Signals(
        entries=pd.DataFrame(entries, index=close.index, columns=close.columns),
        exits=pd.DataFrame(exits, index=close.index, columns=close.columns),
    )
