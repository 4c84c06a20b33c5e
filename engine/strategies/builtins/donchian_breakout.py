"""Donchian breakout: trend following on new highs, with an ATR-based protective stop.

Enters when the close is above the highest high of the ``entry_window`` bars before it (a
breakout), exits when the close is below the lowest low of the ``exit_window`` bars before
it. The stop distance is ``atr_stop`` average true ranges (over ``atr_window`` bars), so the
risk per share -- and with risk-based sizing, the position -- scales with volatility.

Its signal functions are in :mod:`engine.strategies.builtins.signals.donchian_breakout`,
imported on the strategy's first use (listing it needs no pandas).
"""

from __future__ import annotations

import pydantic

from engine.strategies.base import StrategyParams
from engine.strategies.registry import declare


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


declare(
    "donchian_breakout",
    DonchianBreakoutParams,
    "Breakout: long on a close above the prior N-bar high, out on a close below the prior M-bar low; stop k x ATR.",
    warmup=lambda p: max(p.entry_window, p.exit_window, p.atr_window),
    code="engine.strategies.builtins.signals.donchian_breakout",
)
