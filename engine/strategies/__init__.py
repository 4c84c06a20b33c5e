"""Strategies: pure, vectorized functions from bars and frozen params to signals.

    >>> from engine import strategies
    >>> from engine.data.sample import sample_bars
    >>> bars = sample_bars(["AAPL", "GE"])
    >>> strategies.names()
    ['bollinger_reversion', 'donchian_breakout', 'momentum_rotation', 'rsi_reversion', 'sma_crossover']
    >>> signals = strategies.compute_signals("sma_crossover", bars, {"fast": 10, "slow": 30})
    >>> signals.entries.shape == bars.close.shape
    True

Call strategies through :func:`compute_signals` (one params set) or
:func:`signals_for_grid` (a sweep): both check what the strategy returns. Write your own
with :func:`register` in a folder named by ``WB_STRATEGY_PATH`` or a package's entry point
(see :mod:`engine.strategies.plugins`), and prove it with :func:`check_lookahead` and
:func:`check_warmup`.
"""

from engine.strategies import builtins  # noqa: F401  (importing it registers the built-ins)
from engine.strategies.base import FastPath, Signals, Strategy, StrategyError, StrategyParams
from engine.strategies.grid import grid_columns, signals_for_grid
from engine.strategies.guard import compute_signals
from engine.strategies.lookahead import (
    LookaheadResult,
    WarmupResult,
    check_lookahead,
    check_warmup,
)
from engine.strategies.plugins import LoadProblem, load_problems
from engine.strategies.registry import (
    check_execution,
    get,
    make_params,
    names,
    origin,
    register,
)

__all__ = [
    "FastPath",
    "LoadProblem",
    "LookaheadResult",
    "Signals",
    "Strategy",
    "StrategyError",
    "StrategyParams",
    "WarmupResult",
    "check_execution",
    "check_lookahead",
    "check_warmup",
    "compute_signals",
    "get",
    "grid_columns",
    "load_problems",
    "make_params",
    "names",
    "origin",
    "register",
    "signals_for_grid",
]
