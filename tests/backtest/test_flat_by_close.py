"""Flat by the close, and day trades counted: what a day trader's config does and what it meets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest import BacktestSettings, run_backtest
from engine.backtest.flat import flat_bars
from engine.backtest.sweep import sweep
from engine.backtest.walkforward import walk_forward
from engine.errors import InputError
from tests.backtest.conftest import ohlc_bars, scripted
from tests.backtest.test_intraday import HOURS, hourly_bars

NY = "America/New_York"
FLAT = {"size": "all", "fees": 0.0, "slippage": 0.0, "flat_by_close": True}


def rising(start: float) -> list[tuple[float, float, float, float]]:
    """A session of hourly bars, each opening where the last closed and closing 1 higher."""
    return [(start + k, start + k + 1, start + k, start + k + 1) for k in range(len(HOURS))]


TWO_SESSIONS = {"2024-03-11": rising(100.0), "2024-03-12": rising(110.0)}


def test_a_position_is_sold_at_the_close_of_the_sessions_last_bar():
    bars = hourly_bars(TWO_SESSIONS)
    result = run_backtest(bars, scripted({"XYZ": [1]}), {}, BacktestSettings(**FLAT))
    trade = result.trades.iloc[0]
    assert trade["entry_date"] == pd.Timestamp("2024-03-11 11:30", tz=NY)  # bar 2's open, 102
    assert trade["exit_date"] == pd.Timestamp("2024-03-11 15:30", tz=NY)
    assert (trade["exit_price"], trade["exit_reason"]) == (107.0, "close")  # that bar's close
    assert trade["pnl"] == pytest.approx(100_000 / 102 * 5)
    assert len(result.trades) == 1  # nothing carried into Tuesday
    assert result.metrics["day_trades"] == 1
    assert not result.simulation.invested[bars.session_end].any()  # no close with a position


def test_without_flat_by_close_the_same_signal_is_held_overnight():
    bars = hourly_bars(TWO_SESSIONS)
    settings = BacktestSettings(**{**FLAT, "flat_by_close": False})
    result = run_backtest(bars, scripted({"XYZ": [1]}), {}, settings)
    assert result.trades.iloc[0]["status"] == "open"
    assert result.metrics["day_trades"] == 0


def test_minutes_before_the_close_sell_earlier_and_bar_the_entries_after():
    bars = hourly_bars(TWO_SESSIONS)
    # 45 minutes before 16:00: the last bar ending by 15:15 is 13:30-14:30.
    settings = BacktestSettings(**FLAT, flat_minutes_before_close=45)
    result = run_backtest(bars, scripted({"XYZ": [0, 4, 7]}), {}, settings)
    trades = result.trades
    assert trades["exit_date"].tolist() == [
        pd.Timestamp("2024-03-11 13:30", tz=NY), pd.Timestamp("2024-03-12 13:30", tz=NY)
    ]  # fmt: skip
    assert trades["exit_price"].tolist() == [105.0, 115.0]  # the 13:30 bars' closes
    # The signal of 13:30 (bar 4) would fill at 14:30, after the last bar: it never trades.
    assert trades["entry_date"].tolist() == [
        pd.Timestamp("2024-03-11 10:30", tz=NY), pd.Timestamp("2024-03-12 10:30", tz=NY)
    ]  # fmt: skip
    assert (trades["exit_reason"] == "close").all()
    assert result.metrics["day_trades"] == 2


def test_the_last_bar_to_hold_is_found_on_an_early_close_too(intraday_bars):
    cutoff, barred = flat_bars(intraday_bars, minutes_before_close=10)
    last = intraday_bars.index[cutoff]
    assert pd.Timestamp("2013-11-29 12:45", tz=NY) in last  # 12:45-12:50, 10 before 13:00
    assert pd.Timestamp("2013-11-27 15:45", tz=NY) in last  # a regular day: 15:45-15:50
    assert len(last) == intraday_bars.session_start.sum()  # one a session
    after = intraday_bars.index[barred]
    assert pd.Timestamp("2013-11-29 12:50", tz=NY) in after
    assert not (after.time < pd.Timestamp("12:45").time()).any()


def test_every_trade_of_a_flat_config_is_a_day_trade_closed_in_time(intraday_bars):
    settings = BacktestSettings(stop="atr", flat_by_close=True, flat_minutes_before_close=10)
    result = run_backtest(intraday_bars, "rsi_reversion", {"window": 7, "lower": 35.0}, settings)
    trades = result.trades
    assert len(trades) > 20
    assert (trades["status"] == "closed").all()
    assert (trades["entry_date"].dt.date == trades["exit_date"].dt.date).all()
    assert result.metrics["day_trades"] == len(trades)
    exit_bar = intraday_bars.index.get_indexer(trades["exit_date"])
    session_close = pd.DatetimeIndex(intraday_bars.session_close)[exit_bar]
    exit_bar_end = pd.DatetimeIndex(trades["exit_date"]) + pd.Timedelta(minutes=5)
    assert (exit_bar_end <= session_close - pd.Timedelta(minutes=10)).all()


def test_on_daily_bars_flat_by_close_sells_each_entry_the_same_day():
    bars = ohlc_bars({"XYZ": [(10, 11, 9, 10), (10, 12, 9, 11), (11, 13, 10, 12), (12, 12, 12, 12)]})
    result = run_backtest(bars, scripted({"XYZ": [0, 1]}), {}, BacktestSettings(**FLAT))
    trades = result.trades
    assert (trades["entry_date"] == trades["exit_date"]).all()
    assert trades["exit_price"].tolist() == [11.0, 12.0]  # the closes of bars 1 and 2
    assert result.metrics["day_trades"] == 2
    with pytest.raises(InputError, match="daily bars have no bar that ends 15 minutes before"):
        flat_bars(bars, 15)


def test_filled_at_the_close_a_flat_config_never_buys_at_the_close_it_sells_at():
    bars = hourly_bars(TWO_SESSIONS)
    settings = BacktestSettings(**FLAT, execution="close")
    result = run_backtest(bars, scripted({"XYZ": [2, 6]}), {}, settings)
    trades = result.trades
    assert len(trades) == 1  # bar 6, the session's last, would be held overnight: no entry
    assert trades["entry_date"].iloc[0] == pd.Timestamp("2024-03-11 11:30", tz=NY)
    assert trades["exit_date"].iloc[0] == pd.Timestamp("2024-03-11 15:30", tz=NY)


def test_day_trades_are_counted_without_flat_by_close_too():
    # Bought at bar 2's open, stopped inside that bar: a round trip in one session.
    bars = ohlc_bars({"XYZ": [(10, 10, 10, 10), (10, 10, 10, 10), (10, 10, 7, 8), (8, 8, 8, 8)] * 2})
    strategy = scripted({"XYZ": [1, 5]}, stop_distance={"XYZ": 1.0})
    settings = BacktestSettings(size="all", fees=0, slippage=0, stop="strategy")
    result = run_backtest(bars, strategy, {}, settings)
    assert (result.trades["exit_reason"] == "stop").all() and len(result.trades) == 2
    assert result.metrics["day_trades"] == 2
    assert result.metrics["max_day_trades_5_sessions"] == 2  # bars 2 and 6: 4 sessions apart


GRIDS = {
    "sma_crossover": {"fast": [5, 10], "slow": [20, 40]},
    "donchian_breakout": {"entry_window": [10, 20], "exit_window": [5]},
    "bollinger_reversion": {"window": [10, 20], "k": [1.5]},
    "rsi_reversion": {"window": [7, 14], "lower": [35.0]},
}
FLAT_SETTINGS = {
    "ATR stop, 15 minutes early": {"stop": "atr", "flat_minutes_before_close": 15},
    "no stop, at the close": {"stop": "none", "size": "all"},
}


@pytest.mark.parametrize("flat", FLAT_SETTINGS.values(), ids=FLAT_SETTINGS.keys())
@pytest.mark.parametrize("strategy", GRIDS)
def test_the_fast_sweep_is_flat_by_the_close_as_the_full_engine_is(intraday_bars, strategy, flat):
    settings = BacktestSettings(flat_by_close=True, **flat)
    grid = GRIDS[strategy]
    fast = sweep(intraday_bars, strategy, grid, settings, engine="fast", progress=False)
    full = sweep(intraday_bars, strategy, grid, settings, engine="full", progress=False)
    assert fast.table["day_trades"].sum() > 0
    assert (fast.table["day_trades"] == fast.table["trades"]).all()  # flat every night
    assert (fast.table["max_day_trades_5_sessions"] > 0).any()
    pd.testing.assert_frame_equal(fast.table, full.table, check_exact=False, rtol=1e-9, atol=1e-12)


def test_the_fast_sweep_counts_day_trades_as_the_full_engine_does_on_daily_bars(real_bars):
    # Not flat: day trades are the stops hit on the day of entry.
    settings = BacktestSettings(stop="atr", atr_multiple=0.5, fees=0.001)
    grid = {"fast": [5, 10], "slow": [20, 40]}
    fast = sweep(real_bars, "sma_crossover", grid, settings, engine="fast", progress=False)
    full = sweep(real_bars, "sma_crossover", grid, settings, engine="full", progress=False)
    assert 0 < fast.table["day_trades"].sum() < fast.table["trades"].sum()
    pd.testing.assert_frame_equal(fast.table, full.table, check_exact=False, rtol=1e-9, atol=1e-12)


def test_the_fast_sweep_on_intraday_bars_equals_the_full_engine(intraday_bars):
    # Both annualise by the calendar's year of 5-minute bars (the fast path once took 252 x 78).
    settings = BacktestSettings(size="all", fees=0.001, slippage=0.0005)
    grid = {"fast": [5, 10, 20], "slow": [20, 50]}
    fast = sweep(intraday_bars, "sma_crossover", grid, settings, engine="fast", progress=False)
    full = sweep(intraday_bars, "sma_crossover", grid, settings, engine="full", progress=False)
    assert fast.table["trades"].sum() > 0
    assert np.isfinite(fast.table["sharpe"]).all()
    pd.testing.assert_frame_equal(fast.table, full.table, check_exact=False, rtol=1e-9, atol=1e-12)


def test_walk_forward_out_of_sample_counts_the_day_trades_of_its_folds(intraday_bars):
    settings = BacktestSettings(stop="atr", flat_by_close=True)
    result = walk_forward(intraday_bars, "rsi_reversion", {"window": [7, 14], "lower": [35.0]},
                          settings, folds=3, progress=False)  # fmt: skip
    trades = result.oos_trades
    assert len(trades) > 0 and (trades["status"] == "closed").all()
    assert result.oos_metrics["day_trades"] == len(trades)
    assert result.oos_metrics["max_day_trades_5_sessions"] >= 1


def test_the_fast_sweep_refuses_last_bar_entries_as_the_full_engine_does(intraday_bars):
    grid = {"fast": [5, 10], "slow": [20, 40]}
    tables = {}
    for choice in ("refuse", "next_open"):
        settings = BacktestSettings(size="all", last_bar_entries=choice)
        fast = sweep(intraday_bars, "sma_crossover", grid, settings, engine="fast", progress=False)
        full = sweep(intraday_bars, "sma_crossover", grid, settings, engine="full", progress=False)
        pd.testing.assert_frame_equal(fast.table, full.table, check_exact=False, rtol=1e-9,
                                      atol=1e-12)  # fmt: skip
        tables[choice] = fast.table
    # The crossings on a session's last bar are entries only when sent to the next open.
    assert (tables["refuse"]["trades"] < tables["next_open"]["trades"]).any()
    settings = BacktestSettings(size="all")
    trades = run_backtest(intraday_bars, "sma_crossover", {"fast": 5, "slow": 20}, settings).trades
    first_bars = intraday_bars.index[intraday_bars.session_start]
    assert len(trades) and not trades["entry_date"].isin(first_bars).any()
