"""Bollinger band reversion: buy a close stretched below its recent mean, sell at the mean.

Enters when the close is below the lower band (the ``window``-bar SMA minus ``k``
population standard deviations) and exits when the close is back at or above the middle
band (the SMA itself).
"""

from __future__ import annotations

import pydantic

from engine.data.bars import Bars
from engine.strategies.base import FastPath, Signals, StrategyParams
from engine.strategies.indicators import at_or_above, below, bollinger, sma, tie_margin
from engine.strategies.registry import register


class BollingerReversionParams(StrategyParams):
    """The bands' window in bars and their width in standard deviations."""

    window: int = pydantic.Field(
        20, ge=2, description="Bars in the middle band (SMA) and the deviation."
    )
    k: float = pydantic.Field(
        2.0, gt=0, description="Standard deviations from the middle to the lower band."
    )


def _middle_band(bars: Bars, window: int):
    return sma(bars.close, window)


def _deviation(bars: Bars, window: int):
    """The population standard deviation of the last ``window`` closes (bollinger's)."""
    return bars.close.rolling(window).std(ddof=0)


def _reversions_bar_by_bar(series, refs, values, close, entries, exits, stops) -> None:
    """:func:`bollinger_reversion` bar by bar, for the fast sweep (:class:`FastPath`).

    The bands as :func:`~engine.strategies.indicators.bollinger` draws them (``middle -
    k * deviation``), from a window's two series shared by every ``k`` of a grid.
    """
    middle, deviation = series[refs[0]], series[refs[1]]
    k = values[0]
    for t in range(len(close)):
        price, lower = close[t], middle[t] - k * deviation[t]
        entries[t] = (lower - price) > tie_margin(price, lower)  # below
        exits[t] = (middle[t] - price) <= tie_margin(price, middle[t])  # at or above


@register(
    "bollinger_reversion",
    BollingerReversionParams,
    "Mean reversion: long on a close below the lower Bollinger band, out at the middle band.",
    warmup=lambda p: p.window - 1,
    fast=FastPath(
        series=lambda p: ((_middle_band, p.window), (_deviation, p.window)),
        values=lambda p: (p.k,),
        step=_reversions_bar_by_bar,
    ),
)
def bollinger_reversion(bars: Bars, params: BollingerReversionParams) -> Signals:
    """Entries on a close below the lower band; exits on a close at or above the middle band."""
    close = bars.close
    lower, middle, _upper = bollinger(close, params.window, params.k)
    return Signals(entries=below(close, lower), exits=at_or_above(close, middle))
