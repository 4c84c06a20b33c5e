"""Parity: replaying a config through the live loop and the paper broker makes its backtest's trades.

Every built-in strategy, on the bundled bars, through the same function `wb parity` uses:
the same symbols, entry and exit bars, sizes, prices and P&L. Windows are short and the
strategies' windows small so that each replay trades often in few bars.
"""

from __future__ import annotations

import pytest

from engine.live.parity import parity_report
from tests.live.conftest import approve

UNIVERSE = ["AAPL", "BA", "CAT", "GE", "F"]
START, END = "2011-01-03", "2011-05-31"

# strategy, params, settings: between them every sizing rule, every stop rule, trailing stops
# and a position limit that binds.
CASES = [
    ("sma_crossover", {"fast": 3, "slow": 12}, {"size": "fraction", "fraction": 0.3, "max_positions": 2}),
    ("donchian_breakout", {"entry_window": 10, "exit_window": 5, "atr_window": 10},
     {"size": "risk", "stop": "strategy", "trailing_stop": True, "max_positions": 3}),
    ("rsi_reversion", {"window": 5, "lower": 35, "upper": 65},
     {"size": "all", "stop": "atr", "atr_window": 5, "atr_multiple": 1.5, "max_positions": 1}),
    ("bollinger_reversion", {"window": 10, "k": 1.0},
     {"size": "fraction", "fraction": 0.25, "stop": "atr", "atr_window": 10, "trailing_stop": True}),
    ("momentum_rotation", {"lookback": 20, "top_n": 2, "rebalance_every": 5},
     {"size": "fraction", "fraction": 0.45, "max_positions": 2}),
]  # fmt: skip


@pytest.mark.parametrize("strategy, params, settings", CASES, ids=[c[0] for c in CASES])
def test_a_replay_makes_the_backtests_trades(sample_store, strategy, params, settings):
    config = approve(sample_store, strategy, params, UNIVERSE, **settings)

    report = parity_report(sample_store, config.config_id, START, END)

    assert len(report.backtest) >= 6, "too few trades to prove anything"
    assert report.differences == [], "\n".join(d.line() for d in report.differences)
    assert len(report.replay) == len(report.backtest)
    assert report.replay_equity == pytest.approx(report.backtest_equity, rel=1e-9)
