"""The signals of :mod:`engine.strategies.builtins.donchian_breakout` (see it for what it trades on).

Imported on the strategy's first use: the declaration lists it without pandas.
"""

from __future__ import annotations

from engine.data.bars import Bars
from engine.strategies import arrays
from engine.strategies.base import FastPath, Signals
from engine.strategies.builtins.donchian_breakout import DonchianBreakoutParams
from engine.strategies.indicators import above, atr, below, prior_high, prior_low, tie_margin
from engine.strategies.registry import implements


def _channel_high(bars: Bars, window: int):
    return prior_high(bars.high, window)


def _channel_low(bars: Bars, window: int):
    return prior_low(bars.low, window)


def _average_range(bars: Bars, window: int):
    return atr(bars.high, bars.low, bars.close, window)


def _breakouts_bar_by_bar(series, refs, values, close, entries, exits, stops) -> None:
    """:func:`donchian_breakout` bar by bar, for the fast sweep (:class:`FastPath`)."""
    channel_high, channel_low, average_range = series[refs[0]], series[refs[1]], series[refs[2]]
    atr_stop = values[0]
    for t in range(len(close)):
        price = close[t]
        entries[t] = (price - channel_high[t]) > tie_margin(price, channel_high[t])  # above
        exits[t] = (channel_low[t] - price) > tie_margin(price, channel_low[t])  # below
        stops[t] = atr_stop * average_range[t]


def donchian_breakout_arrays(bars: Bars, params: DonchianBreakoutParams):
    """:func:`donchian_breakout` on arrays (:mod:`engine.strategies.arrays`), to the bit."""
    high, low = bars.high.to_numpy(dtype=float), bars.low.to_numpy(dtype=float)
    close = bars.close.to_numpy(dtype=float)
    entries = above(close, arrays.prior_high(high, params.entry_window))
    exits = below(close, arrays.prior_low(low, params.exit_window))
    stop_distance = params.atr_stop * arrays.atr(high, low, close, params.atr_window)
    return entries, exits, stop_distance


@implements(
    "donchian_breakout",
    fast=FastPath(
        series=lambda p: (
            (_channel_high, p.entry_window),
            (_channel_low, p.exit_window),
            (_average_range, p.atr_window),
        ),
        values=lambda p: (p.atr_stop,),
        step=_breakouts_bar_by_bar,
        gives_stop=True,
    ),
    arrays=donchian_breakout_arrays,
)
def donchian_breakout(bars: Bars, params: DonchianBreakoutParams) -> Signals:
    """Entries on a close above the prior channel high; exits below the prior channel low."""
    close = bars.close
    entries = above(close, prior_high(bars.high, params.entry_window))
    exits = below(close, prior_low(bars.low, params.exit_window))
    stop_distance = params.atr_stop * atr(bars.high, bars.low, close, params.atr_window)
    return Signals(entries=entries, exits=exits, stop_distance=stop_distance)
