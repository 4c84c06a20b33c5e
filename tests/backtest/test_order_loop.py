"""The order loop interpreted (small backtests) and compiled (sweeps) makes the same fills to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from engine.backtest import _simulate, metrics
from engine.backtest._execution import prepare_orders
from engine.backtest.rules import Terms, ladder_terms
from engine.backtest.settings import BacktestSettings
from engine.data.sample import sample_bars
from engine.strategies import signals_for_grid

SETTINGS = {
    "next open, fraction": BacktestSettings(fees=0.001, slippage=0.0005),
    "next open, risk, trailing ATR": BacktestSettings(
        size="risk", stop="atr", trailing_stop=True, max_positions=2, fees=0.001
    ),
    "close, all in, ATR stop": BacktestSettings(
        execution="close", size="all", stop="atr", atr_multiple=1.5, slippage=0.001
    ),
    "next open, own slices": BacktestSettings(cash_sharing=False, stop="atr", fraction=0.5),
    "next open, flat by the close": BacktestSettings(flat_by_close=True, stop="atr"),
    "next open, ATR stop and 2:1 target": BacktestSettings(
        stop="atr", take_profit="reward_risk", take_profit_at=2.0, fees=0.001
    ),
    "close, ATR stop and 3% target": BacktestSettings(
        execution="close", stop="atr", take_profit="fraction", take_profit_at=0.03,
        slippage=0.001,
    ),
    "next open, a two-leg ladder": BacktestSettings(
        stop="atr", fraction=0.1, ladder=[{"at": 0.01, "size": 0.5}, {"at": 0.03, "size": 0.5,
                                                                      "stop": 0.03}],
    ),  # fmt: skip
    "close, a ladder": BacktestSettings(
        execution="close", stop="atr", fraction=0.2, ladder=[{"at": 0.005, "size": 1.0}],
        fees=0.001,
    ),
}


def _run(loop, orders, settings, group_lens, init_cash):
    return loop(
        orders.open, orders.high, orders.low, orders.close, orders.decision_price,
        np.tile(np.arange(orders.n_symbols, dtype=np.int64), orders.n_sets),
        orders.entries, orders.exits, orders.stop_distance, orders.target_distance,
        group_lens, init_cash,
        Terms.of(settings), orders.flat_at, orders.no_entry, True,
        2 * (1 + len(settings.ladder)) * int(orders.entries.sum()) + 1, *ladder_terms(settings),
    )  # fmt: skip


@pytest.mark.parametrize("settings", SETTINGS.values(), ids=SETTINGS.keys())
def test_interpreted_and_compiled_loops_fill_alike(settings):
    bars = sample_bars(["AAPL", "DELL", "GE"], start="2004-01-01", end="2009-12-31")
    grid = [{"fast": 5, "slow": 20}, {"fast": 10, "slow": 40}]
    from engine.strategies import make_params

    params = [make_params("sma_crossover", p) for p in grid]
    orders = prepare_orders(bars, signals_for_grid("sma_crossover", bars, params), settings)
    n_cols = orders.entries.shape[1]
    group_lens = np.full(2, bars.close.shape[1], dtype=np.int64)  # a book per params set
    init_cash = np.full(2, settings.init_cash)
    if not settings.cash_sharing:
        group_lens, init_cash = np.ones(n_cols, dtype=np.int64), np.full(n_cols, 1000.0)

    interpreted = _run(_simulate.simulate_nb, orders, settings, group_lens, init_cash)
    compiled = _run(_simulate.compiled(), orders, settings, group_lens, init_cash)
    assert len(interpreted[0]) > 20  # fills to compare
    assert (interpreted[2] > 0).sum() > 5 or not settings.ladder  # ladder legs to compare
    for ours, theirs in zip(interpreted, compiled, strict=True):
        np.testing.assert_array_equal(ours, theirs)

    value = np.ascontiguousarray(interpreted[3].T)
    cash = init_cash if len(init_cash) == value.shape[0] else np.full(value.shape[0], 1.0)
    for ours, theirs in zip(
        metrics._drawdowns(value, cash), metrics._compiled_drawdowns()(value, cash), strict=True
    ):
        np.testing.assert_array_equal(ours, theirs)


def test_small_work_is_interpreted_and_big_work_compiled():
    assert _simulate.order_loop(2_500) is _simulate.simulate_nb or (
        _simulate.compiled.cache_info().currsize  # compiled already: it is always used then
    )
    assert _simulate.order_loop(_simulate.SMALL_WORK) is _simulate.compiled()
    assert _simulate.order_loop(10) is _simulate.compiled()  # once compiled, compiled
