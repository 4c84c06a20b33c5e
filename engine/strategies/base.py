"""The strategy contract: a pure, vectorized function from bars and frozen params to signals.

A strategy knows nothing of brokers, sizing or risk, and nothing of *when* a signal is
acted on: the engine decides that (next bar by default), so no strategy can trade on a
bar it has not seen. The same function runs in a notebook sweep, a backtest and the live
loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pydantic

from engine.errors import InputError

if TYPE_CHECKING:  # annotations only: declaring and listing strategies needs no pandas
    import pandas as pd

    from engine.data.bars import Bars


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


SignalFn = Callable[["Bars", StrategyParams], Signals]
#: A strategy's array form: (entries, exits, stop distance or None), each a (bars x symbols)
#: numpy array, computed from the bars' arrays (see :mod:`engine.strategies.arrays`).
ArrayFn = Callable[["Bars", StrategyParams], tuple]
SignalsKnown = Literal["at_close", "before_close"]


@dataclass(frozen=True)
class FastPath:
    """A strategy's form for the fast sweep: the series it reads, and its signals bar by bar.

    The fast sweep (:mod:`engine.backtest.fast`) computes each distinct series of a grid
    once, then runs ``step`` compiled by numba for every (params set, symbol), so the step
    must be plain numba-compatible Python: loops over floats and arrays, calling only
    such functions (``indicators.above`` and its kin on floats are). It must give the
    signals the strategy's ``signal_fn`` gives, to the bit (the tests compare the two).

    - ``series(params)``: the series a params set reads, each ``(function, *args)`` with
      ``function(bars, *args)`` giving a (bars x symbols) frame or array; equal tuples are
      computed once.
    - ``values(params)``: the floats the step reads besides (a band's width, a level).
    - ``step(series, refs, values, close, entries, exits, stops)``: writes every bar's
      ``entries``/``exits`` (bool) and, when ``gives_stop``, ``stops`` (the stop distance,
      NaN for none) of one symbol and params set. ``series[refs[j]]`` is the j-th series
      ``series(params)`` named, for this symbol; ``values`` its ``values(params)``;
      ``close`` the symbol's closes. Bars where the symbol has no close are masked after.
    """

    series: Callable[[StrategyParams], tuple[tuple, ...]]
    step: Callable[..., None]
    values: Callable[[StrategyParams], tuple[float, ...]] = field(default=lambda p: ())
    #: Whether the step writes a stop distance (the strategy's ``stop_distance``).
    gives_stop: bool = False


@dataclass(frozen=True)
class Declaration:
    """What a strategy is, without its code: name, params model, summary, warm-up, timing.

    Enough to list a strategy (``wb strategies``) and check its params; ``module`` is the
    module that declared it (or registered its signal function), which says where it
    comes from.
    """

    name: str
    params: type[StrategyParams]
    summary: str
    warmup: Callable[[StrategyParams], int]
    signals_known: SignalsKnown
    module: str
    #: The module holding its signal functions, imported on the strategy's first use
    #: (None: they were registered with it).
    code: str | None = None


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
    #: Optional: its form for the fast sweep; without one, sweeps take the general path.
    fast: FastPath | None = None
    #: Optional: its signals computed on numpy arrays, to the bit what ``signal_fn`` gives
    #: (the tests compare the two); :func:`~engine.strategies.guard.compute_signals` then
    #: calls it instead, without pandas' per-call overhead (the live loop's short windows).
    array_fn: ArrayFn | None = None


class StrategyError(InputError):
    """A strategy misbehaved (raised, or returned signals that do not fit its bars).

    The message names the strategy; ``strategy`` holds its name for callers that group
    failures (a sweep, the live loop).
    """

    def __init__(self, strategy: str, message: str, *, hint: str | None = None):
        super().__init__(f"strategy {strategy!r}: {message}", hint=hint)
        self.strategy = strategy
