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

import importlib

from engine.strategies import builtins  # noqa: F401  (importing it declares the built-ins)
from engine.strategies.base import (
    Declaration,
    FastPath,
    Signals,
    Strategy,
    StrategyError,
    StrategyParams,
)
from engine.strategies.plugins import LoadProblem, load_problems
from engine.strategies.registry import (
    about,
    check_execution,
    declare,
    get,
    implements,
    make_params,
    names,
    origin,
    register,
)

#: Names given by the modules that compute signals (and import pandas), loaded on first
#: access (PEP 562): listing strategies and checking params stay free of pandas.
_COMPUTING = {
    "grid_columns": "engine.strategies.grid",
    "signals_for_grid": "engine.strategies.grid",
    "compute_signals": "engine.strategies.guard",
    "LookaheadResult": "engine.strategies.lookahead",
    "WarmupResult": "engine.strategies.lookahead",
    "check_lookahead": "engine.strategies.lookahead",
    "check_warmup": "engine.strategies.lookahead",
}


def __getattr__(name: str):
    if name in _COMPUTING:
        # A plain import: Python's import lock makes it safe from any thread.
        return getattr(importlib.import_module(_COMPUTING[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Declaration",
    "FastPath",
    "LoadProblem",
    "LookaheadResult",
    "Signals",
    "Strategy",
    "StrategyError",
    "StrategyParams",
    "WarmupResult",
    "about",
    "check_execution",
    "check_lookahead",
    "check_warmup",
    "compute_signals",
    "declare",
    "get",
    "grid_columns",
    "implements",
    "load_problems",
    "make_params",
    "names",
    "origin",
    "register",
    "signals_for_grid",
]
