"""The rules the backtest and the loop share (engine/backtest/rules.py), checked by hand.

Decisions are taken at the signal bar's close from what is known then; fills happen at the
next open. Bars are hand-built (open, high, low, close) so every figure can be worked out.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.backtest import BacktestSettings, rules, run_backtest
from tests.backtest.conftest import ohlc_bars, scripted

NO_COSTS = {"fees": 0.0, "slippage": 0.0, "init_cash": 1000.0}


def test_an_entry_is_sized_at_the_signal_bars_close_not_the_fill_bars_open():
    # Signal at bar 1's close (10); the fill comes at bar 2's open (12).
    bars = ohlc_bars(
        {"XYZ": [(10, 10, 10, 10), (10, 10, 10, 10), (12, 12, 12, 12), (12, 12, 12, 12)]}
    )
    settings = BacktestSettings(**NO_COSTS, size="fraction", fraction=0.5)
    trade = run_backtest(bars, scripted({"XYZ": [1]}), {}, settings).trades.iloc[0]
    assert trade["size"] == pytest.approx(0.5 * 1000 / 10)  # 50 shares, decided at 10
    assert trade["entry_price"] == 12


def test_the_stop_sits_below_the_decision_close_and_is_live_on_the_fill_bar():
    # Decided at 20 with a stop distance of 2: the stop is 18. The fill bar opens at 21 and
    # trades down to 17.5: stopped at 18, the same day.
    bars = ohlc_bars(
        {"XYZ": [(20, 20, 20, 20), (20, 20, 20, 20), (21, 21, 17.5, 19), (19, 19, 19, 19)]}
    )
    settings = BacktestSettings(**NO_COSTS, size="all", stop="strategy")
    result = run_backtest(bars, scripted({"XYZ": [1]}, stop_distance={"XYZ": 2.0}), {}, settings)
    trade = result.trades.iloc[0]
    assert trade["entry_date"] == trade["exit_date"] == bars.index[2]
    assert (trade["exit_price"], trade["exit_reason"]) == (18, "stop")


def test_an_open_below_the_decided_stop_stops_the_entry_out_at_that_open():
    bars = ohlc_bars(
        {"XYZ": [(20, 20, 20, 20), (20, 20, 20, 20), (17, 19, 16, 18), (18, 18, 18, 18)]}
    )
    settings = BacktestSettings(**NO_COSTS, size="all", stop="strategy")
    trade = run_backtest(
        bars, scripted({"XYZ": [1]}, stop_distance={"XYZ": 2.0}), {}, settings
    ).trades.iloc[0]
    assert trade["entry_price"] == trade["exit_price"] == 17  # in and out at the open


def test_a_slot_freed_by_an_exit_at_the_same_close_is_taken_at_the_next_open():
    flat = [(10, 10, 10, 10)] * 5
    bars = ohlc_bars({"AAA": flat, "BBB": flat})
    # AAA held from bar 1; at bar 2's close AAA signals an exit and BBB an entry.
    strategy = scripted({"AAA": [0], "BBB": [2]}, {"AAA": [2]})
    settings = BacktestSettings(**NO_COSTS, size="fraction", fraction=0.5, max_positions=1)
    trades = run_backtest(bars, strategy, {}, settings).trades
    assert list(trades["symbol"]) == ["AAA", "BBB"]
    assert trades["exit_date"].iloc[0] == trades["entry_date"].iloc[1] == bars.index[3]


def test_the_cash_budget_counts_what_the_exits_at_that_close_bring():
    # All in (size="all") on AAA; at bar 2's close AAA exits and BBB enters: BBB's budget is
    # AAA's sale, at AAA's close, before AAA is actually sold at the next open.
    bars = ohlc_bars(
        {
            "AAA": [(10, 10, 10, 10), (10, 10, 10, 10), (20, 20, 20, 20), (20, 20, 20, 20)],
            "BBB": [(5, 5, 5, 5)] * 4,
        }
    )
    strategy = scripted({"AAA": [0], "BBB": [2]}, {"AAA": [2]})
    trades = run_backtest(bars, strategy, {}, BacktestSettings(**NO_COSTS, size="all")).trades
    assert trades.set_index("symbol")["size"].to_dict() == pytest.approx(
        {"AAA": 100.0, "BBB": 100 * 20 / 5}  # 1000 at 10; then 2000 of proceeds at 5
    )


def test_a_buy_the_cash_at_the_open_cannot_pay_for_fills_in_part():
    # All in at bar 1's close (10): 100 shares; bar 2 opens at 12, so 1000 buys 83.33.
    bars = ohlc_bars({"XYZ": [(10, 10, 10, 10), (10, 10, 10, 10), (12, 12, 12, 12)]})
    trade = run_backtest(
        bars, scripted({"XYZ": [1]}), {}, BacktestSettings(**NO_COSTS, size="all")
    ).trades.iloc[0]
    assert trade["size"] == pytest.approx(1000 / 12)


def test_a_trailing_stop_lifted_above_the_close_exits_at_the_next_open():
    # Entered at 20 (stop 10% below); bar 2's high of 30 lifts the stop to 27, but bar 2
    # closes at 26, below it: a sell stop cannot rest above the market, so the position is
    # sold at bar 3's open (28), not at 27 later in bar 3.
    bars = ohlc_bars(
        {
            "XYZ": [
                (20, 20, 20, 20),
                (20, 21, 20, 20),
                (21, 30, 25, 26),
                (28, 29, 26.5, 27),
                (27, 27, 27, 27),
            ]
        }
    )
    settings = BacktestSettings(**NO_COSTS, size="all", stop="strategy", trailing_stop=True)
    trade = run_backtest(
        bars, scripted({"XYZ": [0]}, stop_distance={"XYZ": 2.0}), {}, settings
    ).trades.iloc[0]
    assert trade["exit_date"] == bars.index[3]
    assert (trade["exit_price"], trade["exit_reason"]) == (28, "stop")


def test_plan_close_takes_entries_in_column_order_while_slots_and_budget_last():
    n = 4
    exiting, qty = np.zeros(n, dtype=bool), np.zeros(n)
    rules.plan_close(
        entries=np.array([True, True, True, True]),
        exits=np.array([False, False, False, False]),
        stop_distance=np.full(n, np.nan),
        price_row=np.array([10.0, 20.0, 50.0, 5.0]),
        sym_of_col=np.arange(n),
        position=np.zeros(n),
        mark=np.full(n, np.nan),
        stop_frac=np.full(n, np.nan),
        stop_anchor=np.full(n, np.nan),
        cash=1000.0,
        max_positions=3,
        size_mode=rules.SIZE_FRACTION,
        fraction=0.4,
        risk_per_trade=0.01,
        fees=0.0,
        slippage=0.0,
        exiting=exiting,
        qty=qty,
    )
    # 400 each while it lasts: 40 at 10, 20 at 20, then 200 left buys 4 at 50; no 4th slot.
    assert qty.tolist() == pytest.approx([40.0, 20.0, 4.0, 0.0])
    assert not exiting.any()


def test_risk_sizing_without_a_stop_distance_skips_the_entry():
    assert (
        rules.entry_size(rules.SIZE_RISK, 1000.0, 1000.0, 10.0, np.nan, 0.2, 0.01, 0.0, 0.0) == 0.0
    )
    assert rules.entry_size(rules.SIZE_RISK, 1000.0, 1000.0, 10.0, 2.0, 0.2, 0.01, 0.0, 0.0) == 5.0
