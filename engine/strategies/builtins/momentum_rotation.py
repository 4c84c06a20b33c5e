"""Cross-sectional momentum rotation: hold the top N of the universe by trailing return.

On each rebalance day, the symbols are ranked by their return over the last ``lookback``
bars and the ``top_n`` best are held. A symbol gets an entry on the rebalance day it joins
the top set and an exit on the rebalance day it leaves it; between rebalances nothing
changes (a stopped-out symbol is not re-bought until it leaves and re-joins the set).

Rebalance days are fixed by the calendar, not by where the data starts: weekdays are
counted from Monday 2000-01-03 in blocks of ``rebalance_every``, and the first bar of each
block rebalances (``rebalance_every=5``: the first trading day of each week). So a backtest
over years and the live loop over its short recent history rebalance on the same days.
A symbol with no bar on a rebalance day keeps its place until it trades again. There is no
signal before the warm-up (``lookback`` bars and one block of rebalance days): a symbol
already in the top set when the data begins has not *joined* it, so a backtest, like a live
loop started today, buys only the symbols that join after that.

Its signal functions are in :mod:`engine.strategies.builtins.signals.momentum_rotation`,
imported on the strategy's first use (listing it needs no pandas).
"""

from __future__ import annotations

import pydantic

from engine.strategies.base import StrategyParams
from engine.strategies.registry import declare


class MomentumRotationParams(StrategyParams):
    """How far back returns are measured, how many symbols are held, how often it rebalances."""

    lookback: int = pydantic.Field(126, ge=1, description="Bars in the trailing return ranked.")
    top_n: int = pydantic.Field(3, ge=1, description="Symbols held: the best by trailing return.")
    rebalance_every: int = pydantic.Field(21, ge=1, description="Weekdays between rebalances.")


def warmup_bars(params: MomentumRotationParams) -> int:
    # The first rebalance with a trailing return marks every top symbol as joining, only
    # because nothing was ranked before it: one more block of rebalance days settles that.
    return params.lookback + params.rebalance_every


declare(
    "momentum_rotation",
    MomentumRotationParams,
    "Cross-sectional momentum: hold the top N symbols by trailing return, re-ranked on a fixed schedule.",
    warmup=warmup_bars,
    code="engine.strategies.builtins.signals.momentum_rotation",
)
