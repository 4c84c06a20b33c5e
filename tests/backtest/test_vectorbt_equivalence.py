"""The engine's own fill rule, record layout and ratios against vectorbt's, which they replace.

A backtest no longer imports vectorbt (seconds of import for figures it does not need),
so these hold the compiled engine to vectorbt's arithmetic: the fill of any long-only
order to the last bit, the order records' layout, and the Sharpe, Sortino and CAGR.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vectorbt.portfolio.enums import (
    Direction,
    OrderStatus,
    ProcessOrderState,
    SizeType,
    order_dt,
)
from vectorbt.portfolio.nb import execute_order_nb, order_nb
from vectorbt.returns import nb as returns_nb

from engine.backtest import _simulate
from engine.backtest._compile import compiled
from engine.backtest.metrics import annualized_ratios
from engine.backtest.rules import fill_order

amounts = st.floats(0.0, 1e7, allow_nan=False) | st.sampled_from([0.0, 1e-13, 1e-10])
fractions = st.floats(0.0, 0.09) | st.just(0.0)


def _vectorbt_fill(cash, position, size, price, fees, slippage):
    state = ProcessOrderState(cash, position, 0.0, cash, price, np.nan, 0, 0)
    order = order_nb(
        size=size,
        price=price,
        size_type=SizeType.Amount,
        direction=Direction.LongOnly,
        fees=fees,
        slippage=slippage,
    )
    new, result = execute_order_nb(state, order)
    filled = result.status == OrderStatus.Filled
    return new.cash, new.position, result.size, result.price, result.fees, filled


@settings(max_examples=400, deadline=None)
@given(
    cash=amounts,
    position=amounts,
    size=st.floats(-2e5, 2e5, allow_nan=False) | st.sampled_from([np.nan, 1e-13, -1e-13]),
    price=st.floats(0.01, 5e3),
    fees=fractions,
    slippage=fractions,
)
def test_a_fill_is_vectorbts_fill_to_the_last_bit(cash, position, size, price, fees, slippage):
    if size < 0 and position == 0:
        position = 0.0  # a sale of nothing: both refuse it
    ours = compiled(fill_order)(cash, position, size, price, fees, slippage)
    theirs = _vectorbt_fill(cash, position, size, price, fees, slippage)
    assert ours[5] == theirs[5]
    np.testing.assert_array_equal(np.array(ours[:2]), np.array(theirs[:2]))
    if ours[5]:
        np.testing.assert_array_equal(np.array(ours[2:5]), np.array(theirs[2:5]))


def test_a_buy_the_cash_cannot_pay_fills_what_the_cash_buys():
    cash, position, shares, price, fees, filled = compiled(fill_order)(
        1000.0, 0.0, 100.0, 20.0, 0.01, 0.0
    )
    assert filled and cash == 0.0 and shares == pytest.approx(1000 / 1.01 / 20)
    assert fees == pytest.approx(1000 - 1000 / 1.01)


def test_order_records_have_vectorbts_layout():
    assert order_dt == _simulate.ORDER_DT


@pytest.mark.parametrize("n_bars", [1, 2, 5, 300])
def test_ratios_are_vectorbts(n_bars):
    rng = np.random.default_rng(n_bars)
    returns = rng.normal(0.0005, 0.01, (n_bars, 6))
    returns[:, 1] = 0.0  # flat: no deviation
    returns[:, 2] = np.abs(returns[:, 2])  # never a loss
    returns[: n_bars // 2, 3] = np.nan  # a book that starts late
    cagr, sharpe, sortino = annualized_ratios(returns, 252)
    fortran = np.asfortranarray(returns)
    np.testing.assert_allclose(cagr, returns_nb.annualized_return_nb(fortran, 252.0), rtol=1e-12)
    np.testing.assert_allclose(sharpe, returns_nb.sharpe_ratio_nb(fortran, 252.0), rtol=1e-9)
    np.testing.assert_allclose(sortino, returns_nb.sortino_ratio_nb(fortran, 252.0), rtol=1e-9)


def test_a_backtest_and_a_sweep_never_import_vectorbt(tmp_path):
    code = (
        "import sys\n"
        "from engine.backtest import run_backtest, run_sweep\n"
        "from engine.data.sample import sample_bars\n"
        "bars = sample_bars(['AAPL', 'GE'], start='2010-01-01')\n"
        "result = run_backtest(bars, 'sma_crossover', {'fast': 10, 'slow': 30})\n"
        "run_sweep(bars, 'sma_crossover', {'fast': [5, 10], 'slow': [30]}, progress=False)\n"
        "assert result.metrics['trades'] > 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('vectorbt', 'plotly', 'jsonschema') or m == 'scipy.stats'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stdout.strip() == "[]"
