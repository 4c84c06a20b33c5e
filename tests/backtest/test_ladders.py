"""Scale-in ladders in the backtest: when a leg is added, what it buys, and what sells it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pydantic
import pytest

from engine.backtest import BacktestSettings, run_backtest
from engine.backtest.rules import average_gain
from engine.backtest.sweep import sweep
from engine.config.models import StrategyConfig
from engine.data.sample import sample_bars
from engine.errors import InputError
from tests.backtest.conftest import ohlc_bars, scripted
from tests.backtest.test_flat_by_close import NY, rising
from tests.backtest.test_intraday import hourly_bars

# Half the book on the signal, then half as much again once the average is up 0.25%, a
# quarter once it is up 1%; every leg stops 2 below the close that added it.
LADDER = {
    "fees": 0.0, "slippage": 0.0, "init_cash": 1000.0, "size": "fraction", "fraction": 0.5,
    "stop": "strategy", "ladder": [{"at": 0.0025, "size": 0.5}, {"at": 0.01, "size": 0.25}],
}  # fmt: skip
# Decided at bar 1's close (20), the first leg fills at bar 2's open (20): 25 shares.
CLIMB = [
    (10, 10, 10, 10),
    (20, 20, 20, 20),
    (20.0, 20.2, 19.9, 20.1),  # up 0.5%: the second leg is decided
    (20.1, 20.3, 20.0, 20.2),  # it fills at 20.1; the average (20.033) is up 0.83%: not yet
    (20.2, 20.5, 20.1, 20.4),  # up 1.83%: the third leg is decided
    (20.4, 20.6, 20.3, 20.5),  # it fills at 20.4
    (20.5, 20.7, 20.4, 20.6),  # the strategy's exit signal
    (21.0, 21.2, 20.9, 21.1),  # every leg sells at the open
]


def _run(prices, exits=(6,), **settings):
    bars = ohlc_bars({"XYZ": prices})
    strategy = scripted({"XYZ": [1]}, {"XYZ": list(exits)}, stop_distance={"XYZ": 2.0})
    result = run_backtest(bars, strategy, {}, BacktestSettings(**{**LADDER, **settings}))
    return bars, result


def test_legs_are_added_as_the_average_gain_passes_each_threshold():
    bars, result = _run(CLIMB)
    trades = result.trades
    assert list(trades["leg"]) == [1, 2, 3]
    assert list(trades["entry_date"]) == [bars.index[2], bars.index[3], bars.index[5]]
    assert list(trades["entry_price"]) == pytest.approx([20.0, 20.1, 20.4])
    assert list(trades["size"]) == pytest.approx([25.0, 12.5, 6.25])  # 1, 0.5, 0.25 x the first
    # The strategy's exit sells the whole position, every leg at the same open.
    assert set(trades["exit_date"]) == {bars.index[7]}
    assert list(trades["exit_price"]) == pytest.approx([21.0] * 3)
    assert set(trades["exit_reason"]) == {"signal"}
    assert result.equity.iloc[-1] == pytest.approx(1000 + 25 * 1.0 + 12.5 * 0.9 + 6.25 * 0.6)


def test_the_gain_is_the_open_legs_average_at_the_close():
    assert average_gain(np.array([25.0, 12.5, 0.0]), np.array([20.0, 20.1, 0.0]), 20.2) == (
        pytest.approx(20.2 * 37.5 / (25 * 20 + 12.5 * 20.1) - 1)
    )
    assert np.isnan(average_gain(np.zeros(3), np.zeros(3), 20.0))


def test_a_legs_stop_sells_that_leg_alone():
    # The second leg stops 1% below the close that added it (20.1 -> 19.899); bar 4's low
    # of 19.8 takes it, the first leg's stop (18) holds.
    prices = [*CLIMB[:4], (20.2, 20.3, 19.8, 20.0), (20.0, 20.1, 19.9, 20.0),
              (20.0, 20.1, 19.9, 20.0), (20.5, 20.6, 20.4, 20.5)]  # fmt: skip
    ladder = [{"at": 0.0025, "size": 0.5, "stop": 0.01}, {"at": 0.01, "size": 0.25}]
    bars, result = _run(prices, ladder=ladder)
    first, second = result.trades.iloc[0], result.trades.iloc[1]
    assert second["exit_reason"] == "stop" and second["exit_date"] == bars.index[4]
    assert second["exit_price"] == pytest.approx(20.1 * 0.99)
    assert first["exit_reason"] == "signal" and first["exit_date"] == bars.index[7]
    assert len(result.trades) == 2  # the average never reached 1% again: no third leg


def test_a_stopped_leg_is_not_bought_again_but_the_next_may_follow():
    # The second leg stops out; once the first leg alone is up 1%, the third leg is added.
    prices = [*CLIMB[:4], (20.2, 20.3, 19.8, 20.0), (20.0, 20.3, 19.9, 20.25),
              (20.3, 20.4, 20.2, 20.3), (20.5, 20.6, 20.4, 20.5)]  # fmt: skip
    ladder = [{"at": 0.0025, "size": 0.5, "stop": 0.01}, {"at": 0.01, "size": 0.25}]
    bars, result = _run(prices, ladder=ladder)
    assert list(result.trades["leg"]) == [1, 2, 3]
    third = result.trades.iloc[2]
    assert third["entry_date"] == bars.index[6] and third["size"] == pytest.approx(6.25)


def test_a_leg_bought_and_stopped_in_one_session_is_a_day_trade():
    # The second leg fills at bar 3's open (20.1) and its 1% stop (19.899) sells it that bar.
    prices = [*CLIMB[:3], (20.1, 20.2, 19.8, 20.0), *CLIMB[4:]]
    ladder = [{"at": 0.0025, "size": 0.5, "stop": 0.01}]
    bars, result = _run(prices, ladder=ladder)
    second = result.trades.iloc[1]
    assert second["entry_date"] == second["exit_date"] == bars.index[3]
    assert result.metrics["day_trades"] == 1


def test_close_execution_fills_a_leg_at_the_close_that_decided_it():
    bars, result = _run(CLIMB, execution="close")
    trades = result.trades
    # Filled at bar 1's close (20); bar 2 closes up 0.5%: the second leg at that close.
    assert list(trades["entry_date"][:2]) == [bars.index[1], bars.index[2]]
    assert list(trades["entry_price"][:2]) == pytest.approx([20.0, 20.1])
    assert set(trades["exit_date"]) == {bars.index[6]}  # the exit signal's own close


def test_a_leg_is_cut_to_the_cash_left():
    # The first leg takes 90% of the book: the second (half as many shares) gets what is left.
    bars, result = _run(CLIMB, fraction=0.9)
    second = result.trades.iloc[1]
    assert second["size"] * second["entry_price"] == pytest.approx(1000 - 45 * 20.0)


def test_legs_take_no_slot_of_max_positions():
    bars, result = _run(CLIMB, max_positions=1)
    assert len(result.trades) == 3


def test_legs_still_held_at_the_end_are_open_trades():
    bars, result = _run(CLIMB, exits=())
    assert list(result.trades["status"]) == ["open"] * 3  # marked at the last close


def _hourly(execution: str, ladder: list[dict]):
    # A session of hourly bars from 100, each closing 1 higher, then a quiet one.
    bars = hourly_bars({"2024-03-11": rising(100.0), "2024-03-12": rising(110.0)})
    settings = BacktestSettings(**{**LADDER, "flat_by_close": True, "execution": execution,
                                   "stop": "none", "ladder": ladder})  # fmt: skip
    return run_backtest(bars, scripted({"XYZ": [0]}), {}, settings).trades


def test_flat_by_close_sells_every_leg_at_the_close():
    # Bought at 101; up 1% at 102 adds the second leg (102), up 1.6% at 103 the third (103).
    trades = _hourly("next_open", [{"at": 0.005, "size": 0.5}, {"at": 0.015, "size": 0.5}])
    assert list(trades["entry_price"]) == pytest.approx([101.0, 102.0, 103.0])
    assert set(trades["exit_date"]) == {pd.Timestamp("2024-03-11 15:30", tz=NY)}
    assert set(trades["exit_reason"]) == {"close"} and list(trades["exit_price"]) == [107.0] * 3


def test_no_leg_is_bought_at_the_close_the_book_goes_flat_by():
    # Bought at bar 0's close (101), the average is up 5.5% only at the last bar's close
    # (107): a leg bought there would be sold at that same close.
    trades = _hourly("close", [{"at": 0.055, "size": 0.5}])
    assert list(trades["leg"]) == [1]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"ladder": [{"at": 0.01, "size": 0.5}, {"at": 0.005, "size": 0.25}]}, "higher than"),
        ({"ladder": [{"at": 0.01, "size": 0}]}, "size"),
        ({"ladder": [{"at": 0.01, "size": 0.5, "stop": 1.5}]}, "stop"),
        ({"ladder": [{"at": 0.01, "size": 0.5, "price": 3}]}, "price"),
        ({"ladder": [{"at": 0.01 * (n + 1), "size": 0.1} for n in range(10)]}, "at most 9"),
        ({"size": "all"}, "size='all'"),
        ({"take_profit": "fraction", "take_profit_at": 0.05}, "profit target"),
        ({"trailing_stop": True}, "trailing_stop"),
        ({"ladder": "0.01"}, "AT:SIZE"),
    ],
)
def test_bad_ladders_are_refused_with_what_to_do(change, says):
    with pytest.raises(pydantic.ValidationError, match=says):
        BacktestSettings(**{**LADDER, **change})


def test_the_command_line_form_of_a_ladder():
    settings = BacktestSettings(stop="atr", ladder="0.0025:0.5, 0.01:0.25:0.02")
    assert [(leg.at, leg.size, leg.stop) for leg in settings.ladder] == [
        (0.0025, 0.5, None), (0.01, 0.25, 0.02)
    ]  # fmt: skip


def test_a_config_without_a_ladder_keeps_its_id():
    plain = StrategyConfig(strategy="sma_crossover", params={"fast": 5, "slow": 20},
                           universe=["AAPL"], created_by="test")  # fmt: skip
    assert "ladder" not in plain.trading_content()["settings"]
    laddered = StrategyConfig(
        strategy="sma_crossover", params={"fast": 5, "slow": 20}, universe=["AAPL"],
        settings={"stop": "atr", "ladder": [{"at": 0.01, "size": 0.5}]}, created_by="test",
    )  # fmt: skip
    assert laddered.config_id != plain.config_id


def test_the_fast_sweep_refuses_a_ladder_and_auto_takes_the_general_path():
    bars = sample_bars(["AAPL", "GE"], start="2012-01-01", end="2013-12-31")
    settings = BacktestSettings(stop="atr", ladder=[{"at": 0.01, "size": 0.5}])
    with pytest.raises(InputError, match="ladder"):
        sweep(bars, "sma_crossover", {"fast": [5], "slow": [20]}, settings, engine="fast",
              progress=False)  # fmt: skip
    table = sweep(bars, "sma_crossover", {"fast": [5], "slow": [20]}, settings, progress=False)
    assert len(table.table) == 2
