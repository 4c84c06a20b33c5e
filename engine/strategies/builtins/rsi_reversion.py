"""RSI mean reversion: buy an oversold close as it turns up, sell once it is overbought.

Enters when the RSI crosses up through ``lower``, from at or below it to above it (selling
pressure has just eased), and exits when the RSI is above ``upper``. A bar that jumps from below ``lower`` straight
above ``upper`` is an exit, not an entry: the reversion has already happened. The RSI is
Cutler's (simple averages, see :func:`engine.strategies.indicators.rsi`).
"""

from __future__ import annotations

import numpy as np
import pydantic

from engine.data.bars import Bars
from engine.strategies.base import FastPath, Signals, StrategyParams
from engine.strategies.indicators import above, crossed_above, rsi, tie_margin
from engine.strategies.registry import register


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


@register(
    "rsi_reversion",
    RsiReversionParams,
    "Mean reversion: long when the RSI crosses up through the oversold level, out above the overbought level.",
    # The RSI needs `window` changes (window + 1 closes); a crossing needs the bar before.
    warmup=lambda p: p.window + 1,
    fast=FastPath(
        series=lambda p: ((_strength, p.window),),
        values=lambda p: (p.lower, p.upper),
        step=_turns_bar_by_bar,
    ),
)
def rsi_reversion(bars: Bars, params: RsiReversionParams) -> Signals:
    """Entries where the RSI crosses up through ``lower``; exits where it is above ``upper``."""
    strength = rsi(bars.close, params.window)
    exits = above(strength, params.upper)
    entries = crossed_above(strength, params.lower) & ~exits
    return Signals(entries=entries, exits=exits)
