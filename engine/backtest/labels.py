"""The metrics a backtest reports, by name, with what each is called where people read it.

Kept apart from :mod:`engine.backtest.metrics` (which compiles with numba) so that the
control room and configs can label evidence without loading the backtest.
"""

from __future__ import annotations

METRICS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration",
    "win_rate",
    "profit_factor",
    "exposure",
    "trades",
    "turnover",
    "time_in_market",
    "day_trades",
    "max_day_trades_5_sessions",
)

#: Metrics that are counts (whole numbers in every table).
WHOLE_NUMBERS = ("max_drawdown_duration", "trades", "day_trades", "max_day_trades_5_sessions")

#: What each metric is, for tables and reports: "exposure" is the average invested fraction.
LABELS = {
    "total_return": "total return",
    "cagr": "CAGR",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "calmar": "Calmar",
    "max_drawdown": "max drawdown",
    "max_drawdown_duration": "max drawdown bars",
    "win_rate": "win rate",
    "profit_factor": "profit factor",
    "exposure": "exposure (avg invested)",
    "trades": "trades",
    "turnover": "turnover (x/yr)",
    "time_in_market": "time in market",
    "day_trades": "day trades",
    "max_day_trades_5_sessions": "most day trades in 5 sessions",
}
#: Metrics that are fractions, shown as percentages.
FRACTIONS = ("total_return", "cagr", "max_drawdown", "win_rate", "exposure", "time_in_market")

#: Metrics where more is better: the objectives a walk-forward may pick by.
OBJECTIVES = ("sharpe", "sortino", "calmar", "cagr", "total_return", "profit_factor", "win_rate")
