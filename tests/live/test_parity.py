"""Parity: replaying a config through the live loop and the paper broker makes its backtest's trades.

Every built-in strategy, on the bundled bars, through the same function `wb parity` uses:
the same symbols, entry and exit bars, sizes, prices and P&L. Windows are short and the
strategies' windows small so that each replay trades often in few bars.
"""

from __future__ import annotations

import pytest

from engine.backtest import run_backtest
from engine.data.repository import load_bars
from engine.live.parity import parity_report
from tests.live.conftest import approve

pytestmark = pytest.mark.slow  # real processes or long replays: run early (tests/conftest.py)

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
    # Profit targets resting with the stop as one bracket: a trailing stop re-placed with
    # its target, and a tight target that fills often.
    ("donchian_breakout", {"entry_window": 10, "exit_window": 5, "atr_window": 10},
     {"size": "risk", "stop": "strategy", "trailing_stop": True, "max_positions": 3,
      "take_profit": "reward_risk", "take_profit_at": 1.5}),
    ("rsi_reversion", {"window": 5, "lower": 35, "upper": 65},
     {"size": "all", "stop": "atr", "atr_window": 5, "atr_multiple": 1.5, "max_positions": 1,
      "take_profit": "fraction", "take_profit_at": 0.02, "slippage": 0.001}),
]  # fmt: skip
IDS = [c[0] + (f"-target-{c[2]['take_profit']}" if "take_profit" in c[2] else "") for c in CASES]


@pytest.mark.parametrize("strategy, params, settings", CASES, ids=IDS)
def test_a_replay_makes_the_backtests_trades(sample_store, strategy, params, settings):
    config = approve(sample_store, strategy, params, UNIVERSE, **settings)

    report = parity_report(sample_store, config.config_id, START, END)

    assert len(report.backtest) >= 6, "too few trades to prove anything"
    assert report.differences == [], "\n".join(d.line() for d in report.differences)
    assert len(report.replay) == len(report.backtest)
    assert report.replay_equity == pytest.approx(report.backtest_equity, rel=1e-9)
    if "take_profit" in settings:
        bars = load_bars(sample_store, UNIVERSE, START, END)
        trades = run_backtest(bars, strategy, config.params, config.settings).trades
        assert (trades["exit_reason"] == "target").sum() >= 2, "too few targets to prove anything"


# A scale-in ladder: a second leg once the position is up 1%, a third at 3% with its own
# 2% stop; each leg's stop rests at the broker alone.
LADDER = {"size": "fraction", "fraction": 0.2, "stop": "atr", "atr_window": 10,
          "atr_multiple": 2.0, "max_positions": 3,
          "ladder": [{"at": 0.01, "size": 0.5}, {"at": 0.03, "size": 0.5, "stop": 0.02}]}  # fmt: skip


def test_a_replay_builds_the_backtests_ladders_leg_by_leg(sample_store):
    config = approve(sample_store, "sma_crossover", {"fast": 3, "slow": 12}, UNIVERSE, **LADDER)

    report = parity_report(sample_store, config.config_id, START, END)

    legs = report.backtest["leg"]
    assert (legs == 2).sum() >= 3 and (legs == 3).sum() >= 2, "too few legs to prove anything"
    assert report.differences == [], "\n".join(d.line() for d in report.differences)
    assert sorted(report.replay["leg"]) == sorted(legs)
    assert report.replay_equity == pytest.approx(report.backtest_equity, rel=1e-9)
    bars = load_bars(sample_store, UNIVERSE, START, END)
    trades = run_backtest(bars, "sma_crossover", config.params, config.settings).trades
    stopped = trades[(trades["exit_reason"] == "stop") & (trades["leg"] > 1)]
    assert len(stopped) >= 1, "no leg's own stop sold it: the per-leg stops are unproven"


def test_entries_needing_approval_are_reported_as_such_not_as_mismatches(sample_store):
    """A config whose every entry waits for a trader: the replay approves each in time
    through the loop's approval path, and parity lists them apart from the mismatches."""
    strategy, params, settings = CASES[1]
    config = approve(sample_store, strategy, params, UNIVERSE, **settings, approve_entries="all")

    report = parity_report(sample_store, config.config_id, START, END)

    assert report.differences == [], "\n".join(d.line() for d in report.differences)
    assert report.replay_equity == pytest.approx(report.backtest_equity, rel=1e-9)
    needed = [d for d in report.approvals if d.what.startswith("entry needing approval")]
    assert len(needed) == len(report.backtest) >= 6
    assert all("approve every entry" in d.what for d in needed)
    assert report.to_dict()["approvals"][0]["what"].startswith("entry")


def test_a_backtest_trade_whose_approval_was_pending_is_not_a_mismatch():
    from datetime import date, datetime

    import pandas as pd

    from engine.live.parity import TradeDifference, approval_differences

    class Waiting:  # a proposal as the replay left it: the last bar's, never approved
        symbol, state, why = "GE", "expired", "the config asks a trader to approve every entry"
        decision_bar, decided_at = date(2011, 5, 27), datetime(2011, 5, 27)

    missing = TradeDifference("only in the backtest", "GE", pd.Timestamp("2011-05-31"))
    other = TradeDifference("only in the backtest", "CAT", pd.Timestamp("2011-05-31"))
    real, waited = approval_differences([missing, other], [Waiting()])
    assert real == [other]
    assert [d.what for d in waited] == [f"entry awaiting approval (expired: {Waiting.why})"]
