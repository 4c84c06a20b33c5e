"""Backtests on vectorbt: one book of many symbols, sweeps, walk-forward and overfitting guards.

    >>> from engine.backtest import BacktestSettings, run_backtest, run_sweep  # doctest: +SKIP
    >>> result = run_backtest(bars, "sma_crossover", {"fast": 10, "slow": 30}) # doctest: +SKIP
    >>> result.metrics["sharpe"]                                               # doctest: +SKIP
    >>> table = run_sweep(bars, "sma_crossover", {"fast": [5, 10], "slow": [30]}).table  # doctest: +SKIP

``run_sweep`` is :func:`engine.backtest.sweep.sweep` (the package's ``sweep`` is that module).

Only :mod:`engine.backtest.settings` is imported eagerly: configs and the control room use
the settings without paying for vectorbt's import. Everything else loads on first use.
"""

from __future__ import annotations

import importlib

from engine.backtest.settings import BacktestSettings

_LAZY = {
    "BacktestResult": "engine.backtest.runner",
    "run_backtest": "engine.backtest.runner",
    "compute_metrics": "engine.backtest.metrics",
    "SweepResult": "engine.backtest.sweep",
    "expand_grid": "engine.backtest.sweep",
    "parse_grid_arg": "engine.backtest.grids",
    "run_sweep": "engine.backtest.sweep",  # the function sweep(); the name sweep is its module
    "WalkForwardResult": "engine.backtest.walkforward",
    "walk_forward": "engine.backtest.walkforward",
    "deflated_sharpe_ratio": "engine.backtest.overfitting",
    "deflated_sharpe_of_trials": "engine.backtest.overfitting",
    "probability_of_backtest_overfitting": "engine.backtest.overfitting",
    "write_report": "engine.backtest.report",
}

__all__ = ["BacktestSettings", *_LAZY]


def __getattr__(name: str):
    if name == "run_sweep":
        return importlib.import_module("engine.backtest.sweep").sweep
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine.backtest' has no attribute {name!r}")
