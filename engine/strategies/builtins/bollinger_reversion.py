"""Bollinger band reversion: buy a close stretched below its recent mean, sell at the mean.

Enters when the close is below the lower band (the ``window``-bar SMA minus ``k``
population standard deviations) and exits when the close is back at or above the middle
band (the SMA itself).

Its signal functions are in :mod:`engine.strategies.builtins.signals.bollinger_reversion`,
imported on the strategy's first use (listing it needs no pandas).
"""

from __future__ import annotations

import pydantic

from engine.strategies.base import StrategyParams
from engine.strategies.registry import declare


class BollingerReversionParams(StrategyParams):
    """The bands' window in bars and their width in standard deviations."""

    window: int = pydantic.Field(
        20, ge=2, description="Bars in the middle band (SMA) and the deviation."
    )
    k: float = pydantic.Field(
        2.0, gt=0, description="Standard deviations from the middle to the lower band."
    )


declare(
    "bollinger_reversion",
    BollingerReversionParams,
    "Mean reversion: long on a close below the lower Bollinger band, out at the middle band.",
    warmup=lambda p: p.window - 1,
    code="engine.strategies.builtins.signals.bollinger_reversion",
)
