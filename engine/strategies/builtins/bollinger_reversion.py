"""Bollinger band reversion: buy a close stretched below its recent mean, sell at the mean.

Enters when the close is below the lower band (the ``window``-bar SMA minus ``k``
population standard deviations) and exits when the close is back at or above the middle
band (the SMA itself).
"""

from __future__ import annotations

import pydantic

from engine.data.bars import Bars
from engine.strategies.base import Signals, StrategyParams
from engine.strategies.indicators import at_or_above, below, bollinger
from engine.strategies.registry import register


class BollingerReversionParams(StrategyParams):
    """The bands' window in bars and their width in standard deviations."""

    window: int = pydantic.Field(
        20, ge=2, description="Bars in the middle band (SMA) and the deviation."
    )
    k: float = pydantic.Field(
        2.0, gt=0, description="Standard deviations from the middle to the lower band."
    )


@register(
    "bollinger_reversion",
    BollingerReversionParams,
    "Mean reversion: long on a close below the lower Bollinger band, out at the middle band.",
    warmup=lambda p: p.window - 1,
)
def bollinger_reversion(bars: Bars, params: BollingerReversionParams) -> Signals:
    """Entries on a close below the lower band; exits on a close at or above the middle band."""
    close = bars.close
    lower, middle, _upper = bollinger(close, params.window, params.k)
    return Signals(entries=below(close, lower), exits=at_or_above(close, middle))
