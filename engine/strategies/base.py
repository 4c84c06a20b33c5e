"""The strategy contract: a pure, vectorized function from bars and frozen params to signals.

A strategy knows nothing of brokers, sizing or risk, and nothing of *when* a signal is
acted on: the engine decides that (next bar by default), so no strategy can trade on a
bar it has not seen. The same function runs in a notebook sweep, a backtest and the live
loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
import pydantic

from engine.data.bars import Bars
from engine.errors import InputError


class StrategyParams(pydantic.BaseModel):
    """Base of every strategy's parameters: frozen, and unknown names are an error."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Signals:
    """What a strategy wants, per bar and symbol, aligned to the bars it was given.

    ``entries``/``exits`` are boolean frames (dates x symbols; in a sweep the columns are
    a MultiIndex of parameter levels then ``symbol``). ``stop_distance`` is the price
    distance per share below the entry price at which a protective stop belongs (e.g.
    2 x ATR), or None when the strategy has no opinion.
    """

    entries: pd.DataFrame
    exits: pd.DataFrame
    stop_distance: pd.DataFrame | None = None


SignalFn = Callable[[Bars, StrategyParams], Signals]
SignalsKnown = Literal["at_close", "before_close"]


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: its name, what it trades on, its params model and signal function."""

    name: str
    params: type[StrategyParams]
    signal_fn: SignalFn
    summary: str = ""
    #: Bars a params set needs before its first meaningful signal (e.g. the slow window).
    warmup: Callable[[StrategyParams], int] = field(default=lambda p: 0)
    #: Optional: signals for many params sets in one vectorized call (columns: params levels
    #: then symbol). Sweeps use it when present; otherwise they call signal_fn per set.
    grid_fn: Callable[[Bars, list[StrategyParams]], Signals] | None = None
    #: When a bar's signal is known: "at_close" (computed from that bar's close, as every
    #: built-in is: it can only fill at the next bar) or "before_close" (from earlier bars
    #: only, so ``execution="close"`` may fill it at that same close without looking ahead).
    signals_known: SignalsKnown = "at_close"


class StrategyError(InputError):
    """A strategy misbehaved (raised, or returned signals that do not fit its bars).

    The message names the strategy; ``strategy`` holds its name for callers that group
    failures (a sweep, the live loop).
    """

    def __init__(self, strategy: str, message: str, *, hint: str | None = None):
        super().__init__(f"strategy {strategy!r}: {message}", hint=hint)
        self.strategy = strategy
