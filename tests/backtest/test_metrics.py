"""Metrics against hand calculations, with the bar frequency stated."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.backtest.metrics import bars_per_year, summarize
from engine.backtest.settings import BacktestSettings
from engine.errors import InputError


def _one_book(equity, *, pnl=(), closed=(), traded=0.0, exposure=0.5, per_year=252):
    return summarize(
        np.array(equity, dtype=float)[:, None],
        np.array([100.0]),
        trade_book=np.zeros(len(pnl), dtype=np.int64),
        trade_pnl=np.array(pnl, dtype=float),
        trade_closed=np.array(closed, dtype=bool),
        traded_value=np.array([traded]),
        exposure=np.array([exposure]),
        bars_per_year=per_year,
    ).iloc[0]


def test_every_figure_of_a_four_bar_curve_by_hand():
    # 100 of cash, then closes of 110, 99, 121, 110.
    m = _one_book([110, 99, 121, 110], pnl=[30, -10, 5], closed=[True, True, False], traded=420)
    returns = np.array([0.10, -0.10, 121 / 99 - 1, 110 / 121 - 1])
    assert m["total_return"] == pytest.approx(0.10)
    assert m["cagr"] == pytest.approx(1.10 ** (252 / 4) - 1)
    assert m["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(252))
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert m["sortino"] == pytest.approx(returns.mean() * 252 / (downside * math.sqrt(252)))
    # The deepest fall: 110 -> 99 (10%); the longest time under a peak: 99 (1 bar), then
    # 110 after the 121 peak (1 bar).
    assert m["max_drawdown"] == pytest.approx(0.10)
    assert m["max_drawdown_duration"] == 1
    assert m["calmar"] == pytest.approx(m["cagr"] / 0.10)
    # Closed trades only: one win of 30, one loss of 10; the open trade still counts as a trade.
    assert m["win_rate"] == pytest.approx(0.5)
    assert m["profit_factor"] == pytest.approx(3.0)
    assert m["trades"] == 3
    # 420 traded both ways is 210 one way, over a mean equity of 110, over 4/252 of a year.
    assert m["turnover"] == pytest.approx(210 / 110 * 252 / 4)


def test_a_fall_from_the_starting_cash_is_a_drawdown():
    # vectorbt's own drawdowns start at the first close; the book's first peak is its cash.
    m = _one_book([80, 90, 100, 101])
    assert m["max_drawdown"] == pytest.approx(0.20)
    assert m["max_drawdown_duration"] == 2  # 80 and 90 are under water; 100 regains the peak


def test_a_flat_book_has_no_sharpe_rather_than_an_infinite_one():
    m = _one_book([100, 100, 100])
    assert math.isnan(m["sharpe"]) and math.isnan(m["sortino"]) and math.isnan(m["calmar"])
    assert m["trades"] == 0 and math.isnan(m["win_rate"]) and math.isnan(m["profit_factor"])


def test_the_annualisation_follows_the_bar_size():
    weekly = _one_book([110, 99, 121, 110], per_year=52)
    daily = _one_book([110, 99, 121, 110], per_year=252)
    assert weekly["sharpe"] == pytest.approx(daily["sharpe"] * math.sqrt(52 / 252))
    assert bars_per_year("1D") == 252 and bars_per_year("1W") == 52
    with pytest.raises(InputError, match="unknown bar size"):
        bars_per_year("1Y")
    with pytest.raises(ValueError, match="unknown bar size"):
        BacktestSettings(freq="daily")


def test_exposure_is_the_average_invested_fraction_and_time_in_market_is_beside_it():
    from engine.backtest import run_backtest
    from tests.backtest.conftest import ohlc_bars, scripted

    # Ten flat bars at 10: the signal of bar 1 buys 20% of equity at bar 2's open, the exit
    # signal of bar 6 sells at bar 7's open. Held at the closes of bars 2..6: 5 of 10 bars.
    bars = ohlc_bars({"AAA": [(10.0, 10.0, 10.0, 10.0)] * 10})
    settings = BacktestSettings(fraction=0.2, fees=0, slippage=0)
    result = run_backtest(bars, scripted({"AAA": [1]}, {"AAA": [6]}), {}, settings)
    assert result.metrics["time_in_market"] == pytest.approx(0.5)
    assert result.metrics["exposure"] == pytest.approx(0.2 * 0.5)
    # vectorbt's view of the same fills agrees on both.
    from engine.backtest.metrics import compute_metrics

    from_portfolio = compute_metrics(result.portfolio, freq="1D").iloc[0]
    assert from_portfolio["time_in_market"] == pytest.approx(0.5)
    assert from_portfolio["exposure"] == pytest.approx(0.1)
