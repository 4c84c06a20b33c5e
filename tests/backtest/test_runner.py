"""run_backtest: fills, costs, stops, sizing and the shared book, checked by hand and against vectorbt."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from engine.backtest import BacktestSettings, compute_metrics, run_backtest
from engine.data.bars import Bars
from engine.errors import InputError
from engine.strategies import compute_signals
from engine.strategies.indicators import atr
from tests.backtest.conftest import ohlc_bars, scripted

FRICTIONLESS_ALL_IN = {"fees": 0.0, "slippage": 0.0, "size": "all", "init_cash": 1000.0}

# One symbol, six bars: (open, high, low, close).
SIX_BARS = {
    "XYZ": [
        (10, 10, 10, 10),
        (10, 10, 10, 10),  # bar 1: entry signal
        (20, 23, 19, 22),  # bar 2: the entry fills at this open, 20
        (24, 26, 23, 25),  # bar 3: exit signal
        (25, 27, 24, 26),  # bar 4: the exit fills at this open, 25
        (26, 26, 26, 26),
    ]
}


def test_a_round_trip_with_fees_is_computable_by_hand():
    bars = ohlc_bars(SIX_BARS)
    settings = BacktestSettings(**{**FRICTIONLESS_ALL_IN, "fees": 0.01})
    result = run_backtest(bars, scripted({"XYZ": [1]}, {"XYZ": [3]}), {}, settings)

    # Buy at bar 2's open with all 1000 of cash, 1% fees on top of the price:
    shares = 1000 / (20 * 1.01)  # 49.50495...
    buy_fee = shares * 20 * 0.01  # 9.90099...
    # Sell everything at bar 4's open, 1% fees off the proceeds:
    sell_fee = shares * 25 * 0.01  # 12.37624...
    final = shares * 25 - sell_fee  # = 1000 * 25/20 * 0.99/1.01 = 1225.2475...

    trade = result.trades.iloc[0]
    assert len(result.trades) == 1
    assert trade["entry_date"] == bars.index[2] and trade["exit_date"] == bars.index[4]
    assert trade["entry_price"] == 20 and trade["exit_price"] == 25
    assert trade["size"] == pytest.approx(shares)
    assert trade["fees"] == pytest.approx(buy_fee + sell_fee)
    assert trade["pnl"] == pytest.approx(final - 1000)
    assert trade["exit_reason"] == "signal"
    # The equity curve: cash before the entry, shares at each close while held, cash after.
    expected_equity = [1000, 1000, shares * 22, shares * 25, final, final]
    assert result.equity.to_numpy() == pytest.approx(expected_equity)
    assert result.metrics["total_return"] == pytest.approx(final / 1000 - 1)
    assert result.metrics["trades"] == 1 and result.metrics["win_rate"] == 1.0


def test_slippage_moves_both_fills_against_the_trader():
    bars = ohlc_bars(SIX_BARS)
    settings = BacktestSettings(**{**FRICTIONLESS_ALL_IN, "slippage": 0.01})
    result = run_backtest(bars, scripted({"XYZ": [1]}, {"XYZ": [3]}), {}, settings)
    trade = result.trades.iloc[0]
    assert trade["entry_price"] == pytest.approx(20 * 1.01)  # paid up
    assert trade["exit_price"] == pytest.approx(25 * 0.99)  # sold down
    assert result.equity.iloc[-1] == pytest.approx(1000 / (20 * 1.01) * 25 * 0.99)


def test_close_execution_fills_at_the_signal_bars_own_close():
    bars = ohlc_bars(SIX_BARS)
    settings = BacktestSettings(**FRICTIONLESS_ALL_IN, execution="close")
    result = run_backtest(bars, scripted({"XYZ": [1]}, {"XYZ": [3]}), {}, settings)
    trade = result.trades.iloc[0]
    assert trade["entry_date"] == bars.index[1] and trade["entry_price"] == 10
    assert trade["exit_date"] == bars.index[3] and trade["exit_price"] == 25
    assert result.equity.iloc[-1] == pytest.approx(1000 * 25 / 10)


def test_the_stop_is_live_on_the_entry_bar_when_filling_at_the_open():
    # Decided at bar 1's close (20) with a stop 2 below it (18), filled at bar 2's open;
    # bar 2 trades down to 17.
    prices = {"XYZ": [(10, 10, 10, 10), (20, 20, 20, 20), (20, 21, 17, 19), (19, 20, 18.5, 19)]}
    settings = BacktestSettings(**FRICTIONLESS_ALL_IN, stop="strategy")
    result = run_backtest(
        ohlc_bars(prices), scripted({"XYZ": [1]}, stop_distance={"XYZ": 2.0}), {}, settings
    )
    trade = result.trades.iloc[0]
    assert trade["entry_date"] == trade["exit_date"]  # stopped out the same day
    assert trade["exit_price"] == pytest.approx(18) and trade["exit_reason"] == "stop"
    assert result.equity.iloc[-1] == pytest.approx(1000 * 18 / 20)


def test_a_gap_through_the_stop_fills_at_the_open_not_the_stop():
    # The stop sits 2 below the signal bar's close (20): 18; bar 3 opens at 15.
    prices = {
        "XYZ": [(10, 10, 10, 10), (20, 20, 20, 20), (20, 21, 19, 20), (15, 16, 14, 15)],
    }
    settings = BacktestSettings(**FRICTIONLESS_ALL_IN, stop="strategy")
    result = run_backtest(
        ohlc_bars(prices), scripted({"XYZ": [1]}, stop_distance={"XYZ": 2.0}), {}, settings
    )
    trade = result.trades.iloc[0]
    assert trade["exit_date"] == ohlc_bars(prices).index[3]
    assert trade["exit_price"] == 15  # the open, below the stop at 18
    assert result.equity.iloc[-1] == pytest.approx(1000 * 15 / 20)


def test_a_trailing_stop_follows_the_highest_high():
    prices = {
        "XYZ": [
            (10, 10, 10, 10),
            (20, 20, 20, 20),  # decided at the close of 20: a stop 2 (10%) below, 18
            (20, 21, 19.5, 21),  # entry at 20; the high lifts the stop to 18.9
            (22, 30, 21, 29),  # high 30: the stop trails to 27
            (28, 29, 26, 26),  # low 26 crosses 27: out at 27
        ]
    }
    settings = BacktestSettings(**FRICTIONLESS_ALL_IN, stop="strategy", trailing_stop=True)
    result = run_backtest(
        ohlc_bars(prices), scripted({"XYZ": [1]}, stop_distance={"XYZ": 2.0}), {}, settings
    )
    trade = result.trades.iloc[0]
    assert trade["exit_price"] == pytest.approx(27) and trade["exit_reason"] == "stop"
    assert result.equity.iloc[-1] == pytest.approx(1000 * 27 / 20)


def test_risk_sizing_loses_the_risk_budget_at_the_stop():
    prices = {"XYZ": [(10, 10, 10, 10), (20, 20, 20, 20), (20, 21, 19, 20), (20, 20, 17, 18)]}
    settings = BacktestSettings(
        fees=0, slippage=0, init_cash=1000, size="risk", risk_per_trade=0.01, stop="strategy"
    )
    result = run_backtest(
        ohlc_bars(prices), scripted({"XYZ": [1]}, stop_distance={"XYZ": 2.0}), {}, settings
    )
    trade = result.trades.iloc[0]
    # 1% of 1000 at risk over a 2.00 stop distance: 5 shares; stopped at 18 they lose 10.
    assert trade["size"] == pytest.approx(5)
    assert trade["pnl"] == pytest.approx(-10)
    assert result.equity.iloc[-1] == pytest.approx(990)


def test_the_book_shares_cash_and_caps_open_positions():
    flat = [(10, 10, 10, 10)] * 7
    bars = ohlc_bars({"AAA": flat, "BBB": flat})
    strategy = scripted({"AAA": [1], "BBB": [1, 4]}, {"AAA": [3]})
    settings = BacktestSettings(
        fees=0, slippage=0, init_cash=1000, size="fraction", fraction=0.5, max_positions=1
    )
    trades = run_backtest(bars, strategy, {}, settings).trades
    # Both signal on bar 1 but one slot: AAA (first in the book) takes it at bar 2's open;
    # BBB gets in only after AAA's exit (bar 4's open), on its next signal.
    assert list(trades["symbol"]) == ["AAA", "BBB"]
    assert list(trades["entry_date"]) == [bars.index[2], bars.index[5]]
    assert trades["size"].tolist() == pytest.approx([50, 50])  # half of 1000 equity at 10


def test_without_cash_sharing_each_symbol_trades_its_own_slice():
    flat = [(10, 10, 10, 10)] * 4
    bars = ohlc_bars({"AAA": flat, "BBB": flat})
    settings = BacktestSettings(**FRICTIONLESS_ALL_IN, cash_sharing=False)
    result = run_backtest(bars, scripted({"AAA": [1], "BBB": [1]}), {}, settings)
    assert result.trades["size"].tolist() == pytest.approx([50, 50])  # 500 each, all in at 10
    assert result.equity.iloc[-1] == pytest.approx(1000)


# -- against vectorbt, on real bars --------------------------------------------------------


def _from_signals(
    bars: Bars, entries, exits, *, price, sl_stop, trail: bool, size=np.inf
) -> vbt.Portfolio:
    # Every call passes the same kinds of arguments, so numba compiles vectorbt's loop once.
    return vbt.Portfolio.from_signals(
        bars.close,
        entries,
        exits,
        size=size,
        price=price,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        sl_stop=sl_stop,
        sl_trail=trail,
        stop_entry_price="price",  # the stop sits its distance below the fill's quote
        stop_exit_price="stopmarket",  # a stop is a market order: it pays slippage
        fees=0.001,
        slippage=0.0005,
        init_cash=100_000,
        freq="1D",
    )


@pytest.mark.parametrize("symbol", ["AAPL", "GE"])
def test_next_open_equals_vectorbt_from_signals_on_shifted_signals(real_bars, symbol):
    bars = real_bars.select([symbol])
    fees, slippage = 0.001, 0.0005
    settings = BacktestSettings(size="all", fees=fees, slippage=slippage)
    result = run_backtest(bars, "sma_crossover", {"fast": 10, "slow": 40}, settings)

    # Sizes are decided at the signal bar's close (engine/backtest/rules.py): "all" budgets
    # the cash in hand there at that close's price, costs included, and a fill at an open
    # above that close buys only what the cash pays for (vectorbt's partial fill).
    trades = result.trades
    position = bars.index.get_indexer(trades["entry_date"])
    cash = result.equity.to_numpy()[position - 1]  # flat before each entry: equity is cash
    signal_close = bars.close[symbol].to_numpy()[position - 1]
    unit = (1 + slippage) * (1 + fees)
    shares = np.minimum(
        cash / (signal_close * unit), cash / (bars.open[symbol].to_numpy()[position] * unit)
    )
    np.testing.assert_allclose(trades["size"].to_numpy(), shares, rtol=1e-9)

    # vectorbt's own loop, given those sizes, fills and values the book exactly alike.
    signals = compute_signals("sma_crossover", bars, {"fast": 10, "slow": 40})
    size = pd.Series(np.nan, index=bars.index)
    size.iloc[position] = shares
    reference = _from_signals(
        bars,
        signals.entries.shift(1, fill_value=False),  # act on bar t at bar t+1's open
        signals.exits.shift(1, fill_value=False),
        price=bars.open,
        sl_stop=bars.close * np.nan,
        trail=False,
        size=size.to_frame(symbol),
    )
    assert len(result.trades) == len(reference.trades.values) > 10
    np.testing.assert_allclose(result.equity.to_numpy(), reference.value().to_numpy().ravel())
    np.testing.assert_allclose(
        result.trades["pnl"].to_numpy(), reference.trades.values["pnl"], rtol=1e-9
    )


def test_close_execution_with_trailing_atr_stops_equals_vectorbt(real_bars):
    bars = real_bars.select(["F"])
    settings = BacktestSettings(
        size="all",
        execution="close",
        stop="atr",
        atr_multiple=2.0,
        atr_window=14,
        trailing_stop=True,
        fees=0.001,
        slippage=0.0005,
    )
    result = run_backtest(bars, "sma_crossover", {"fast": 10, "slow": 40}, settings)

    signals = compute_signals("sma_crossover", bars, {"fast": 10, "slow": 40})
    distance = 2.0 * atr(bars.high, bars.low, bars.close, 14)
    reference = _from_signals(
        bars,
        signals.entries,
        signals.exits,
        price=bars.close,
        sl_stop=distance / bars.close,
        trail=True,
    )
    assert (result.trades["exit_reason"] == "stop").sum() > 5
    assert len(result.trades) == len(reference.trades.values)
    np.testing.assert_allclose(result.equity.to_numpy(), reference.value().to_numpy().ravel())


def test_metrics_agree_with_vectorbts_own_analytics_of_the_same_fills(real_bars):
    settings = BacktestSettings(stop="atr", trailing_stop=True, size="risk", max_positions=2)
    result = run_backtest(real_bars, "sma_crossover", {"fast": 10, "slow": 40}, settings)
    from_vectorbt = compute_metrics(result.portfolio, freq="1D").iloc[0]
    for name, value in result.metrics.items():
        assert value == pytest.approx(from_vectorbt[name], rel=1e-9, nan_ok=True), name
    # The shared book never holds more than max_positions, nor spends cash it lacks.
    held = (result.portfolio.assets() > 0).sum(axis=1)
    assert held.max() == 2
    assert result.portfolio.cash().min() >= -1e-6


# -- bad inputs ---------------------------------------------------------------------------


def test_an_empty_universe_is_a_clear_error(real_bars):
    empty = real_bars.select([])
    with pytest.raises(InputError, match="universe is empty"):
        run_backtest(empty, "sma_crossover")


def test_windows_longer_than_the_data_are_a_clear_error(real_bars):
    short = real_bars.iloc(slice(0, 50))
    with pytest.raises(InputError, match="needs at least 201 bars; the data has 50"):
        run_backtest(short, "sma_crossover", {"fast": 50, "slow": 200})


def test_fast_not_below_slow_is_a_clear_error(real_bars):
    with pytest.raises(InputError, match=r"fast \(30\) must be less than slow \(10\)"):
        run_backtest(real_bars, "sma_crossover", {"fast": 30, "slow": 10})


def test_nan_riddled_bars_are_a_clear_error(real_bars):
    close = real_bars.close.copy()
    close.iloc[1:-1, 0] = close.iloc[1:-1, 0].where(
        np.arange(len(close) - 2) % 3 == 0
    )  # 2 of 3 missing
    riddled = Bars(real_bars.open, real_bars.high, real_bars.low, close, real_bars.volume)
    with pytest.raises(InputError, match="mostly missing.*AAPL"):
        run_backtest(riddled, "sma_crossover")


def test_risk_sizing_without_a_stop_is_refused_before_running():
    with pytest.raises(ValueError, match="needs a stop"):
        BacktestSettings(size="risk")


def test_a_stop_from_a_strategy_without_stops_is_a_clear_error(real_bars):
    with pytest.raises(InputError, match="gives no stop distance"):
        run_backtest(real_bars, "sma_crossover", None, BacktestSettings(stop="strategy"))


def test_a_ragged_universe_trades_each_symbol_only_while_it_has_bars(real_bars):
    close = real_bars.close.copy()
    close.iloc[:300, 1] = np.nan  # F lists 300 bars late
    ragged = Bars(
        real_bars.open.where(close.notna()),
        real_bars.high.where(close.notna()),
        real_bars.low.where(close.notna()),
        close,
        real_bars.volume,
    )
    result = run_backtest(ragged, "sma_crossover", {"fast": 5, "slow": 20})
    first_f = result.trades.loc[result.trades["symbol"] == "F", "entry_date"].min()
    assert first_f > ragged.index[300]
    assert np.isfinite(result.equity).all()
    assert isinstance(result.equity.index, pd.DatetimeIndex)
