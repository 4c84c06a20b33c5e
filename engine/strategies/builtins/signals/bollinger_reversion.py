"""The signals of :mod:`engine.strategies.builtins.bollinger_reversion` (see it for what it trades on).

Imported on the strategy's first use: the declaration lists it without pandas.
"""

from __future__ import annotations

from engine.data.bars import Bars
from engine.strategies import arrays
from engine.strategies.base import FastPath, Signals
from engine.strategies.builtins.bollinger_reversion import BollingerReversionParams
from engine.strategies.indicators import at_or_above, below, bollinger, sma, tie_margin
from engine.strategies.registry import implements


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


def bollinger_reversion_arrays(bars: Bars, params: BollingerReversionParams):
    """:func:`bollinger_reversion` on arrays (:mod:`engine.strategies.arrays`), to the bit."""
    close = bars.close.to_numpy(dtype=float)
    lower, middle, _upper = arrays.bollinger(close, params.window, params.k)
    return below(close, lower), at_or_above(close, middle), None


@implements(
    "bollinger_reversion",
    fast=FastPath(
        series=lambda p: ((_middle_band, p.window), (_deviation, p.window)),
        values=lambda p: (p.k,),
        step=_reversions_bar_by_bar,
    ),
    arrays=bollinger_reversion_arrays,
)
def bollinger_reversion(bars: Bars, params: BollingerReversionParams) -> Signals:
    """Entries on a close below the lower band; exits on a close at or above the middle band."""
    close = bars.close
    lower, middle, _upper = bollinger(close, params.window, params.k)
    return Signals(entries=below(close, lower), exits=at_or_above(close, middle))
