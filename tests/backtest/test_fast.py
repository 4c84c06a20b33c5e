"""The fast sweep gives the general path's table: every built-in it serves, every rule it follows.

Nothing here is compared with numbers copied from an output: each test runs the same
combinations through both paths (or through ``run_backtest`` and its vectorbt Portfolio)
and holds the fast path to them, so the tests keep holding when the trading rules change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backtest import BacktestSettings, compute_metrics, rules, run_backtest
from engine.backtest.fast import fast_path_refusal
from engine.backtest.sweep import expand_grid, sweep
from engine.data.sample import sample_bars
from engine.errors import InputError
from engine.strategies import compute_signals, get, names
from engine.strategies.base import FastPath, Signals, Strategy, StrategyParams
from engine.strategies.indicators import above, below
from tests.backtest.conftest import ohlc_bars, scripted

GRIDS = {
    # fast == slow (10/10, 20/20) and fast > slow are in the grid: skipped and counted.
    "sma_crossover": {"fast": [5, 10, 20], "slow": [10, 20, 50]},
    "donchian_breakout": {"entry_window": [10, 20], "exit_window": [5, 10], "atr_stop": [1.5, 3]},
    "bollinger_reversion": {"window": [10, 20], "k": [1.0, 2.0]},
    "rsi_reversion": {"window": [7, 14], "lower": [30.0, 40.0], "upper": [60.0, 70.0]},
}

# Fees and slippage everywhere; both executions; every sizing rule; both kinds of stop.
SETTINGS = {
    "all-in at the next open": BacktestSettings(size="all", fees=0.001, slippage=0.0005),
    "fraction, trailing ATR stop": BacktestSettings(stop="atr", trailing_stop=True),
    "at the close": BacktestSettings(execution="close", fraction=0.5, fees=0.002),
    "risk-sized, ATR stop": BacktestSettings(size="risk", stop="atr", slippage=0.001),
    "ATR stop and 2:1 target": BacktestSettings(
        stop="atr", take_profit="reward_risk", take_profit_at=2.0, fees=0.001, slippage=0.0005
    ),
}
STRATEGY_STOP = BacktestSettings(size="risk", stop="strategy", trailing_stop=True)


@pytest.fixture(scope="module")
def bars():
    """Three years of real bars, ragged: FB lists in 2012 and delists from the sample in
    2013, DELL leaves in October 2013."""
    return sample_bars(["AAPL", "DELL", "FB", "GE"], start="2011-01-01", end="2013-12-31")


def both_paths(bars, strategy, grid, backtest_settings):
    fast = sweep(bars, strategy, grid, backtest_settings, engine="fast", progress=False)
    full = sweep(bars, strategy, grid, backtest_settings, engine="full", progress=False)
    return fast, full


def assert_same_sweep(fast, full):
    assert (fast.n_combinations, fast.skipped) == (full.n_combinations, full.skipped)
    pd.testing.assert_frame_equal(fast.table, full.table, check_exact=False, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("strategy", sorted(GRIDS))
@pytest.mark.parametrize("label", sorted(SETTINGS))
def test_the_fast_sweep_equals_the_full_engine(bars, strategy, label):
    fast, full = both_paths(bars, strategy, GRIDS[strategy], SETTINGS[label])
    assert fast.table["trades"].sum() > 0  # the comparison is about trades, not empty books
    assert_same_sweep(fast, full)


def test_the_strategys_own_stop_is_followed_as_the_full_engine_follows_it(bars):
    fast, full = both_paths(bars, "donchian_breakout", GRIDS["donchian_breakout"], STRATEGY_STOP)
    assert fast.table["trades"].sum() > 0
    assert_same_sweep(fast, full)


@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("sma_crossover", {"fast": 10, "slow": 50}),
        ("donchian_breakout", {"entry_window": 20, "exit_window": 10, "atr_stop": 1.5}),
        ("bollinger_reversion", {"window": 20, "k": 1.0}),
        ("rsi_reversion", {"window": 14, "lower": 40.0, "upper": 60.0}),
    ],
)
def test_a_screened_row_equals_the_vectorbt_portfolio_of_its_backtest(bars, strategy, params):
    backtest_settings = BacktestSettings(size="all", fees=0.001, slippage=0.0005)
    grid = {name: [value] for name, value in params.items()}
    table = sweep(bars, strategy, grid, backtest_settings, engine="fast", progress=False).table
    for symbol in bars.symbols:
        row = table.set_index("symbol").loc[symbol]
        result = run_backtest(bars.select([symbol]), strategy, params, backtest_settings)
        portfolio = compute_metrics(result.portfolio, freq="1D").iloc[0]
        assert row["trades"] == portfolio["trades"] == len(result.trades), symbol
        for name in ("total_return", "max_drawdown", "sharpe"):
            assert row[name] == pytest.approx(portfolio[name], rel=1e-9, nan_ok=True), (
                symbol,
                name,
            )


def test_parameter_ties_are_skipped_and_counted_as_the_sweep_counts_them(bars):
    grid = {"fast": [10, 20, 30], "slow": [20, 30]}  # 20/20 and 30/30 are ties
    result = sweep(bars, "sma_crossover", grid, engine="fast", progress=False)
    _, rejected = expand_grid("sma_crossover", grid)
    assert result.skipped == rejected == 3  # 20/20, 30/20, 30/30
    assert (result.table["fast"] < result.table["slow"]).all()
    assert result.n_combinations * len(bars.symbols) == len(result.table)


def test_averages_that_touch_tie_as_they_do_in_the_full_engine():
    # Prices in cents with long plateaus: on a plateau every average is the same price, so
    # fast and slow tie (to rounding) and then part again.
    rng = np.random.default_rng(7)
    steps = np.concatenate(
        [rng.choice([-0.25, 0.0, 0.25], size=40), np.zeros(30), rng.choice([-0.5, 0.5], 40)]
    )
    closes = np.round(20 + np.cumsum(np.tile(steps, 3)), 2)
    tied = ohlc_bars({"TIE": [(c, c + 0.1, c - 0.1, c) for c in closes]})
    grid = {"fast": [2, 3, 5], "slow": [5, 8, 13]}
    averages = [tied.close["TIE"].rolling(w).mean() for w in (3, 8)]
    assert ((averages[0] - averages[1]).abs() < 1e-9).sum() > 20  # the data has ties
    for backtest_settings in (SETTINGS["all-in at the next open"], SETTINGS["at the close"]):
        fast, full = both_paths(tied, "sma_crossover", grid, backtest_settings)
        assert fast.table["trades"].sum() > 0
        assert_same_sweep(fast, full)


@pytest.mark.parametrize("execution", ["next_open", "close"])
@pytest.mark.parametrize("signal", ["entry", "exit"])
def test_a_signal_on_the_last_bar(bars, execution, signal):
    """Next open: it would fill on a bar that does not exist, so nothing trades (an exit
    leaves the position open, valued at the last close). Close: it fills at that close."""
    params = {"fast": 5, "slow": 20}
    aapl = bars.select(["AAPL"])
    signals = compute_signals("sma_crossover", aapl, params)
    frame = signals.entries if signal == "entry" else signals.exits
    last = int(np.flatnonzero(frame["AAPL"].to_numpy())[3])  # the 4th such signal
    cut = aapl.iloc(slice(0, last + 1))
    backtest_settings = BacktestSettings(
        execution=execution, size="all", fees=0.001, slippage=0.0005
    )

    grid = {name: [value] for name, value in params.items()}
    fast, full = both_paths(cut, "sma_crossover", grid, backtest_settings)
    assert_same_sweep(fast, full)
    trades = run_backtest(cut, "sma_crossover", params, backtest_settings).trades
    assert fast.table["trades"].iloc[0] == len(trades)
    last_day = cut.index[-1]
    if signal == "entry":
        entered_last_day = trades["entry_date"] == last_day
        assert entered_last_day.any() == (execution == "close")
    else:
        final = trades.iloc[-1]  # the position the signal would close
        assert final["status"] == ("closed" if execution == "close" else "open")


def test_strategies_without_a_fast_path_fall_back_to_the_general_one(bars):
    grid = {"lookback": [20, 60], "top_n": [1]}
    auto = sweep(bars, "momentum_rotation", grid, progress=False)
    full = sweep(bars, "momentum_rotation", grid, engine="full", progress=False)
    pd.testing.assert_frame_equal(auto.table, full.table)
    with pytest.raises(InputError, match="momentum_rotation has no fast path"):
        sweep(bars, "momentum_rotation", grid, engine="fast", progress=False)
    scripted_strategy = scripted({"AAPL": [30]}, {"AAPL": [60]})
    assert "no fast path" in fast_path_refusal(scripted_strategy)


def test_portfolio_sweeps_take_the_general_path(bars):
    grid = {"fast": [10], "slow": [50]}
    with pytest.raises(InputError, match="per='portfolio'"):
        sweep(bars, "sma_crossover", grid, per="portfolio", engine="fast", progress=False)
    with pytest.raises(InputError, match="engine must be"):
        sweep(bars, "sma_crossover", grid, engine="turbo", progress=False)


def test_a_strategy_stop_the_strategy_does_not_give_is_the_same_clear_error(bars):
    wrong = BacktestSettings(size="risk", stop="strategy")
    with pytest.raises(InputError, match="gives no stop distance"):
        sweep(bars, "sma_crossover", {"fast": [10], "slow": [50]}, wrong, engine="fast")


def test_every_strategy_with_a_fast_form_has_the_fast_path_and_it_equals_the_full_one(bars):
    fast_ones = [name for name in names() if get(name).fast is not None]
    assert set(GRIDS) <= set(fast_ones)  # the built-ins above declare theirs
    for name in fast_ones:
        defaults = get(name).params()
        grid = {field: [value] for field, value in defaults.model_dump().items()}
        assert fast_path_refusal(name) is None
        fast, full = both_paths(bars, name, grid, SETTINGS["risk-sized, ATR stop"])
        assert_same_sweep(fast, full)


class GapParams(StrategyParams):
    gap: float = 0.02


def gap_signals(bars, params: GapParams) -> Signals:
    """In on a close ``gap`` above the close before, out on one ``gap`` below it."""
    before = bars.close.shift(1)
    return Signals(
        entries=above(bars.close, before * (1 + params.gap)),
        exits=below(bars.close, before * (1 - params.gap)),
    )


def _close(bars):
    return bars.close


def gap_step(series, refs, values, close, entries, exits, stops):
    closes = series[refs[0]]
    entries[0] = exits[0] = False
    for t in range(1, len(close)):
        entries[t] = above(closes[t], closes[t - 1] * (1 + values[0]))
        exits[t] = below(closes[t], closes[t - 1] * (1 - values[0]))


def test_a_strategy_declaring_a_fast_form_is_swept_fast_with_no_change_to_the_engine(bars):
    gap = Strategy(
        name="gap",
        params=GapParams,
        signal_fn=gap_signals,
        fast=FastPath(series=lambda p: ((_close,),), values=lambda p: (p.gap,), step=gap_step),
    )
    assert fast_path_refusal(gap) is None
    for backtest_settings in (SETTINGS["all-in at the next open"], SETTINGS["at the close"]):
        fast, full = both_paths(bars, gap, {"gap": [0.01, 0.03]}, backtest_settings)
        assert fast.table["trades"].sum() > 0
        assert_same_sweep(fast, full)


def unreadable_step(series, refs, values, close, entries, exits, stops):
    entries[:] = close.to_frame()  # a pandas method: numba cannot compile it


def test_a_fast_form_numba_cannot_compile_is_one_clear_error_naming_the_strategy(bars):
    broken = Strategy(
        name="broken",
        params=GapParams,
        signal_fn=gap_signals,
        fast=FastPath(series=lambda p: ((_close,),), step=unreadable_step),
    )
    with pytest.raises(InputError, match="'broken'.*does not compile with numba") as raised:
        sweep(bars, broken, {"gap": [0.01]}, engine="fast", progress=False)
    assert "engine='full'" in raised.value.hint


prices = st.floats(1.0, 500.0)


@settings(max_examples=300, deadline=None)
@given(
    entry=st.booleans(),
    exit_=st.booleans(),
    stop_distance=st.one_of(st.just(float("nan")), st.floats(0.01, 50.0)),
    decision_price=prices,
    position=st.one_of(st.just(0.0), st.floats(0.01, 5_000.0)),
    mark=prices,
    stop_frac=st.one_of(st.just(float("nan")), st.floats(0.01, 0.5)),
    stop_anchor=prices,
    cash=st.one_of(st.just(0.0), st.floats(0.0, 1e6)),
    max_positions=st.integers(1, 3),
    size_mode=st.sampled_from([rules.SIZE_FRACTION, rules.SIZE_RISK, rules.SIZE_ALL]),
    fraction=st.floats(0.05, 1.0),
    costs=st.tuples(st.floats(0.0, 0.01), st.floats(0.0, 0.01)),
)
def test_the_one_column_plan_is_the_books_plan(
    entry, exit_, stop_distance, decision_price, position, mark, stop_frac, stop_anchor,
    cash, max_positions, size_mode, fraction, costs,
):  # fmt: skip
    fees, slippage = costs
    exiting, qty = np.zeros(1, dtype=bool), np.zeros(1)
    rules.plan_close(
        np.array([entry]), np.array([exit_]), np.array([stop_distance]),
        np.array([decision_price]), np.array([0]), np.array([position]), np.array([mark]),
        np.array([stop_frac]), np.array([stop_anchor]), cash, max_positions, size_mode,
        fraction, 0.01, fees, slippage, exiting, qty,
    )  # fmt: skip
    terms = rules.Terms(True, size_mode, fraction, 0.01, fees, slippage, False, max_positions)
    assert rules.plan_one(
        terms, entry, exit_, stop_distance, decision_price, position, mark, stop_frac,
        stop_anchor, cash,
    ) == (exiting[0], qty[0])  # fmt: skip
