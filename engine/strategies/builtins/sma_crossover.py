"""SMA crossover: trend following on two simple moving averages of the close.

Enters when the fast SMA crosses above the slow SMA (an uptrend starting) and exits when
it crosses back below. In a sweep, every distinct window is averaged once and shared by
all the pairs that use it, in the fast sweep too.

Its signal functions are in :mod:`engine.strategies.builtins.signals.sma_crossover`,
imported on the strategy's first use (listing it needs no pandas).
"""

from __future__ import annotations

import pydantic

from engine.strategies.base import StrategyParams
from engine.strategies.registry import declare


class SmaCrossoverParams(StrategyParams):
    """Windows of the two averages, in bars."""

    fast: int = pydantic.Field(10, ge=1, description="Bars in the fast average.")
    slow: int = pydantic.Field(30, ge=2, description="Bars in the slow average.")

    @pydantic.model_validator(mode="after")
    def _fast_below_slow(self):
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be less than slow ({self.slow})")
        return self


declare(
    "sma_crossover",
    SmaCrossoverParams,
    "Trend following: long when the fast SMA crosses above the slow SMA, out when it crosses below.",
    warmup=lambda p: p.slow,
    code="engine.strategies.builtins.signals.sma_crossover",
)
