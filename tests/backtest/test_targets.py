"""Profit targets in the backtest: where a target fills, and the one rule for a bar that reaches both."""

from __future__ import annotations

import pandas as pd
import pydantic
import pytest

from engine.backtest import BacktestSettings, run_backtest
from engine.backtest.rules import HIT_NONE, HIT_STOP, HIT_TARGET, bracket_exit
from engine.backtest.sweep import sweep
from engine.config.models import StrategyConfig
from engine.errors import InputError
from engine.strategies.indicators import atr
from tests.backtest.conftest import ohlc_bars, scripted

FRICTIONLESS_ALL_IN = {"fees": 0.0, "slippage": 0.0, "size": "all", "init_cash": 1000.0}
# Decided at bar 1's close of 20, filled at bar 2's open: a stop 2 below (18) and a 5%
# target (21).
BRACKET = {**FRICTIONLESS_ALL_IN, "stop": "strategy", "take_profit": "fraction",
           "take_profit_at": 0.05}  # fmt: skip
ENTRY = [(10, 10, 10, 10), (20, 20, 20, 20), (20, 20.5, 19.5, 20.2)]


def _trade(prices, **settings):
    bars = ohlc_bars({"XYZ": prices})
    result = run_backtest(
        bars,
        scripted({"XYZ": [1]}, stop_distance={"XYZ": 2.0}),
        {},
        BacktestSettings(**{**BRACKET, **settings}),
    )
    return bars, result.trades.iloc[0]


def test_a_bar_that_reaches_the_target_sells_there():
    bars, trade = _trade([*ENTRY, (20.2, 21.6, 19.9, 21.4)])
    assert trade["exit_date"] == bars.index[3]
    assert trade["exit_price"] == pytest.approx(21.0) and trade["exit_reason"] == "target"
    assert trade["pnl"] == pytest.approx(1000 / 20 * 1.0)


def test_the_target_fills_at_its_price_and_the_stop_slips():
    # A target is a resting limit (never worse than its price); a triggered stop is a market order.
    bars, target = _trade([*ENTRY, (20.2, 21.6, 19.9, 21.4)], slippage=0.01)
    assert target["exit_price"] == pytest.approx(21.0)
    bars, stop = _trade([*ENTRY, (20.0, 20.5, 17.5, 18.0)], slippage=0.01)
    assert stop["exit_price"] == pytest.approx(18.0 * 0.99)


def test_a_bar_that_opens_above_the_target_sells_at_the_open():
    bars, trade = _trade([*ENTRY, (22.5, 23.0, 22.0, 22.8)])
    assert trade["exit_price"] == pytest.approx(22.5) and trade["exit_reason"] == "target"


def test_a_bar_that_reaches_both_sells_at_the_stop():
    # Which of the high (22) and the low (17) came first is unknown: the stop, conservatively.
    bars, trade = _trade([*ENTRY, (20.0, 22.0, 17.0, 20.0)])
    assert trade["exit_price"] == pytest.approx(18.0) and trade["exit_reason"] == "stop"


def test_a_bar_that_reaches_both_but_opens_beyond_the_target_sells_at_the_open():
    bars, trade = _trade([*ENTRY, (21.5, 22.0, 17.0, 20.0)])
    assert trade["exit_price"] == pytest.approx(21.5) and trade["exit_reason"] == "target"


def test_the_target_is_live_on_the_entry_bar():
    bars, trade = _trade([(10, 10, 10, 10), (20, 20, 20, 20), (20.1, 21.3, 19.9, 21.2)])
    assert trade["entry_date"] == trade["exit_date"] == bars.index[2]
    assert trade["exit_price"] == pytest.approx(21.0) and trade["exit_reason"] == "target"


def test_close_execution_takes_the_target_from_the_next_bar():
    # Filled at bar 1's close (20); bar 2 reaches 21.
    bars, trade = _trade(
        [(10, 10, 10, 10), (20, 20, 20, 20), (20.2, 21.5, 19.9, 21.2)], execution="close"
    )
    assert trade["entry_date"] == bars.index[1] and trade["exit_date"] == bars.index[2]
    assert trade["exit_price"] == pytest.approx(21.0) and trade["exit_reason"] == "target"


def test_reward_risk_puts_the_target_at_a_multiple_of_the_stop_distance():
    # 2:1 on a stop distance of 2 from 20: 24; the 5% level (21) is not a target here.
    bars, trade = _trade(
        [*ENTRY, (20.2, 21.6, 19.9, 21.4), (21.4, 24.5, 21.0, 24.2)],
        take_profit="reward_risk", take_profit_at=2.0,
    )  # fmt: skip
    assert trade["exit_date"] == bars.index[4]
    assert trade["exit_price"] == pytest.approx(24.0) and trade["exit_reason"] == "target"


@pytest.mark.parametrize(
    ("flat_bar", "price", "reason"),
    [
        pytest.param((20.0, 21.6, 19.9, 21.4), 21.0, "target", id="target-reached"),
        pytest.param((20.0, 22.0, 17.0, 20.0), 18.0, "stop", id="both-reached"),
        pytest.param((20.0, 20.5, 19.5, 20.2), 20.2, "close", id="neither"),
    ],
)
def test_on_the_bar_the_book_goes_flat_by_the_bracket_rests_until_the_close(
    flat_bar, price, reason
):
    # Daily bars flat by the close: bought at bar 2's open (20), sold by its close (stop
    # 18, target 21). The bar's range is judged first, the stop first when it reached both;
    # only what it left sells at the close.
    bars, trade = _trade([*ENTRY[:2], flat_bar], flat_by_close=True)
    assert trade["entry_date"] == trade["exit_date"] == bars.index[2]
    assert (trade["exit_price"], trade["exit_reason"]) == (pytest.approx(price), reason)


def test_an_atr_target_is_a_multiple_of_the_atr_at_the_decision():
    prices = [(10, 10.5, 9.5, 10), (10, 10.6, 9.6, 10.2), (10.2, 10.7, 9.9, 10.4),
              (10.4, 10.9, 10.1, 10.6), (10.6, 30, 10.5, 29)]  # fmt: skip
    bars = ohlc_bars({"XYZ": prices})
    settings = BacktestSettings(**FRICTIONLESS_ALL_IN, stop="atr", take_profit="atr", take_profit_at=1.5,
                                atr_window=2)  # fmt: skip
    trade = run_backtest(bars, scripted({"XYZ": [2]}), {}, settings).trades.iloc[0]
    level = 10.4 + 1.5 * atr(bars.high, bars.low, bars.close, 2)["XYZ"].iloc[2]
    assert trade["exit_price"] == pytest.approx(level) and trade["exit_reason"] == "target"


def test_the_rule_for_one_bar_in_plain_numbers():
    nan = float("nan")
    assert bracket_exit(20, 21, 19, 18, nan) == (pytest.approx(nan, nan_ok=True), HIT_NONE)
    assert bracket_exit(20, 22, 17, 18, 21) == (18, HIT_STOP)
    assert bracket_exit(17, 22, 16, 18, 21) == (17, HIT_STOP)  # gapped below: the open
    assert bracket_exit(21.5, 22, 17, 18, 21) == (21.5, HIT_TARGET)
    assert bracket_exit(20, 22, 19, nan, 21) == (21, HIT_TARGET)


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"take_profit": "fraction"}, "needs take_profit_at"),
        ({"take_profit_at": 0.05}, "take_profit is 'none'"),
        ({"take_profit": "fraction", "take_profit_at": 15, "stop": "atr"}, "written 0.05 for 5%"),
        ({"take_profit": "reward_risk", "take_profit_at": 2}, "needs a stop"),
        ({"take_profit": "fraction", "take_profit_at": 0.05}, "needs a stop"),
        ({"take_profit": "fraction", "take_profit_at": -0.05}, "greater than 0"),
        ({"take_profit": "percent", "take_profit_at": 0.05}, "fraction"),
    ],
)
def test_a_bad_target_is_refused_with_what_to_write(settings, says):
    with pytest.raises(pydantic.ValidationError, match=says):
        BacktestSettings(**settings)


def test_a_config_file_with_a_bad_target_says_which_field():
    text = (
        "strategy: sma_crossover\nuniverse: [AAPL]\ncreated_by: ana\n"
        "settings: {take_profit: reward_risk, take_profit_at: 2}\n"
    )
    with pytest.raises(InputError, match="needs a stop"):
        StrategyConfig.from_yaml(text)


def test_a_config_without_a_target_keeps_its_id():
    plain = StrategyConfig(strategy="sma_crossover", universe=["AAPL"], created_by="ana")
    assert "take_profit" not in plain.canonical_json()
    targeted = StrategyConfig(
        strategy="sma_crossover", universe=["AAPL"], created_by="ana",
        settings={"stop": "atr", "take_profit": "fraction", "take_profit_at": 0.05},
    )  # fmt: skip
    assert targeted.config_id != plain.config_id


TARGETED = {
    "5% beside an ATR stop": BacktestSettings(
        stop="atr", take_profit="fraction", take_profit_at=0.05, slippage=0.001
    ),
    "1.5:1 on the strategy's stop": BacktestSettings(
        size="risk", stop="strategy", take_profit="reward_risk", take_profit_at=1.5, fees=0.001
    ),
    "an ATR, flat by the close": BacktestSettings(
        stop="strategy", take_profit="atr", take_profit_at=1.0, flat_by_close=True
    ),
}


@pytest.mark.parametrize("label", TARGETED)
def test_the_fast_sweep_trades_targets_as_the_general_path(real_bars, label):
    settings = TARGETED[label]
    grid = {"entry_window": [10, 20], "exit_window": [5, 10], "atr_stop": [1.5, 3.0]}
    fast = sweep(real_bars, "donchian_breakout", grid, settings, engine="fast", progress=False)
    full = sweep(real_bars, "donchian_breakout", grid, settings, engine="full", progress=False)
    pd.testing.assert_frame_equal(fast.table, full.table, check_exact=False, rtol=1e-9, atol=1e-12)
    params = {"entry_window": 10, "exit_window": 10, "atr_stop": 3.0}
    trades = run_backtest(real_bars, "donchian_breakout", params, settings).trades
    assert (trades["exit_reason"] == "target").any()  # the targets were reached, and counted
