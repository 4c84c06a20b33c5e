"""RSI mean reversion: buy an oversold close as it turns up, sell once it is overbought.

Enters when the RSI crosses up through ``lower``, from at or below it to above it (selling
pressure has just eased), and exits when the RSI is above ``upper``. A bar that jumps from below ``lower`` straight
above ``upper`` is an exit, not an entry: the reversion has already happened. The RSI is
Cutler's (simple averages, see :func:`engine.strategies.indicators.rsi`).

Its signal functions are in :mod:`engine.strategies.builtins.signals.rsi_reversion`,
imported on the strategy's first use (listing it needs no pandas).
"""

from __future__ import annotations

import pydantic

from engine.strategies.base import StrategyParams
from engine.strategies.registry import declare


class RsiReversionParams(StrategyParams):
    """The RSI window and its oversold/overbought levels (0-100)."""

    window: int = pydantic.Field(14, ge=2, description="Close-to-close changes the RSI averages.")
    lower: float = pydantic.Field(
        30.0, gt=0, lt=100, description="Oversold level; enter crossing up through it."
    )
    upper: float = pydantic.Field(
        70.0, gt=0, lt=100, description="Overbought level; exit above it."
    )

    @pydantic.model_validator(mode="after")
    def _lower_below_upper(self):
        if self.lower >= self.upper:
            raise ValueError(f"lower ({self.lower}) must be less than upper ({self.upper})")
        return self


declare(
    "rsi_reversion",
    RsiReversionParams,
    "Mean reversion: long when the RSI crosses up through the oversold level, out above the overbought level.",
    # The RSI needs `window` changes (window + 1 closes); a crossing needs the bar before.
    warmup=lambda p: p.window + 1,
    code="engine.strategies.builtins.signals.rsi_reversion",
)
