"""Donchian breakout: trend following on new highs, with an ATR-based protective stop.

Enters when the close is above the highest high of the ``entry_window`` bars before it (a
breakout), exits when the close is below the lowest low of the ``exit_window`` bars before
it. The stop distance is ``atr_stop`` average true ranges (over ``atr_window`` bars), so the
risk per share -- and with risk-based sizing, the position -- scales with volatility.
"""

from __future__ import annotations

import pydantic

from engine.data.bars import Bars
from engine.strategies.base import FastPath, Signals, StrategyParams
from engine.strategies.indicators import above, atr, below, prior_high, prior_low, tie_margin
from engine.strategies.registry import register


class DonchianBreakoutParams(StrategyParams):
    """Channel windows in bars, and the stop in multiples of the ATR."""

    entry_window: int = pydantic.Field(
        20, ge=1, description="Bars whose highest high a close must beat to enter."
    )
    exit_window: int = pydantic.Field(
        10, ge=1, description="Bars whose lowest low a close must break to exit."
    )
    atr_window: int = pydantic.Field(14, ge=1, description="Bars in the average true range.")
    atr_stop: float = pydantic.Field(
        2.0, gt=0, description="Stop distance below the entry, in ATRs."
    )


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


@register(
    "donchian_breakout",
    DonchianBreakoutParams,
    "Breakout: long on a close above the prior N-bar high, out on a close below the prior M-bar low; stop k x ATR.",
    warmup=lambda p: max(p.entry_window, p.exit_window, p.atr_window),
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
)
def donchian_breakout(bars: Bars, params: DonchianBreakoutParams) -> Signals:
    """Entries on a close above the prior channel high; exits below the prior channel low."""
    close = bars.close
    entries = above(close, prior_high(bars.high, params.entry_window))
    exits = below(close, prior_low(bars.low, params.exit_window))
    stop_distance = params.atr_stop * atr(bars.high, bars.low, close, params.atr_window)
    return Signals(entries=entries, exits=exits, stop_distance=stop_distance)
