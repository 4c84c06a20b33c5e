"""Grids and sweeps: parsing, skipping what the params reject, and agreeing with single backtests."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.backtest import BacktestSettings, run_backtest
from engine.backtest.grids import parse_grid_arg
from engine.backtest.sweep import expand_grid, sweep
from engine.errors import InputError

GRID = {"fast": [5, 10, 20], "slow": [10, 20, 40]}
SETTINGS = BacktestSettings(stop="atr", trailing_stop=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fast=5:50:5", {"fast": [5, 10, 15, 20, 25, 30, 35, 40, 45]}),  # stop excluded
        ("slow=10,20,30", {"slow": [10, 20, 30]}),
        ("slow = 20", {"slow": [20]}),
        ("atr_stop=1.5:3:0.5", {"atr_stop": [1.5, 2.0, 2.5]}),
        ("slow=10,10,20", {"slow": [10, 20]}),
    ],
)
def test_grid_arguments_read_as_ranges_or_lists(text, expected):
    assert parse_grid_arg(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("fast", "expected NAME=VALUES"),
        ("fast=", "expected NAME=VALUES"),
        ("fast=50:5:5", r"is empty: stop \(5\) must be above start \(50\)"),
        ("fast=5:50:0", "the step must be positive"),
        ("fast=a:b:c", "expected start:stop:step, all numbers"),
        ("fast=5:50", "expected start:stop:step"),
    ],
)
def test_unreadable_grid_arguments_say_what_is_expected(text, problem):
    with pytest.raises(InputError, match=problem) as caught:
        parse_grid_arg(text)
    assert "--grid fast=5:50:5" in caught.value.hint


def test_combinations_the_params_reject_are_skipped_and_counted():
    params, skipped = expand_grid("sma_crossover", GRID)
    assert [(p.fast, p.slow) for p in params] == [
        (5, 10),
        (5, 20),
        (5, 40),
        (10, 20),
        (10, 40),
        (20, 40),
    ]
    assert skipped == 3  # (10, 10), (20, 10), (20, 20)


def test_a_grid_without_a_valid_combination_is_a_clear_error():
    with pytest.raises(
        InputError, match=r"none of the grid's 4 combinations are valid.*fast \(30\)"
    ):
        expand_grid("sma_crossover", {"fast": [30, 40], "slow": [10, 20]})
    with pytest.raises(InputError, match="no values for slow"):
        expand_grid("sma_crossover", {"fast": [5], "slow": []})


def test_an_unknown_parameter_gets_a_did_you_mean():
    with pytest.raises(InputError, match="did you mean 'fast'"):
        expand_grid("sma_crossover", {"fsat": [5]})


def test_the_sweep_table_equals_single_backtests_per_symbol(real_bars):
    result = sweep(real_bars, "sma_crossover", GRID, SETTINGS, progress=False)
    assert result.n_combinations == 6 and result.skipped == 3
    assert len(result.table) == 6 * 3
    assert list(result.table.columns[:3]) == ["fast", "slow", "symbol"]
    for fast, slow, symbol in [(5, 10, "AAPL"), (10, 40, "GE"), (20, 40, "F")]:
        row = result.table.set_index(["fast", "slow", "symbol"]).loc[(fast, slow, symbol)]
        single = run_backtest(
            real_bars.select([symbol]), "sma_crossover", {"fast": fast, "slow": slow}, SETTINGS
        ).metrics
        for name, value in single.items():
            assert row[name] == pytest.approx(value, rel=1e-9, nan_ok=True), (
                fast,
                slow,
                symbol,
                name,
            )


def test_the_portfolio_sweep_equals_single_backtests_of_the_whole_book(real_bars):
    settings = BacktestSettings(max_positions=2, size="risk", stop="atr")
    result = sweep(real_bars, "sma_crossover", GRID, settings, per="portfolio", progress=False)
    assert len(result.table) == 6 and "symbol" not in result.table.columns
    for fast, slow in [(5, 20), (20, 40)]:
        row = result.table.set_index(["fast", "slow"]).loc[(fast, slow)]
        single = run_backtest(real_bars, "sma_crossover", {"fast": fast, "slow": slow}, settings)
        for name, value in single.metrics.items():
            assert row[name] == pytest.approx(value, rel=1e-9, nan_ok=True), (fast, slow, name)


@pytest.mark.parametrize("per", ["symbol", "portfolio"])
def test_chunking_bounds_memory_without_changing_the_table(real_bars, per):
    whole = sweep(real_bars, "sma_crossover", GRID, SETTINGS, per=per, progress=False)
    chunked = sweep(
        real_bars, "sma_crossover", GRID, SETTINGS, per=per, progress=False, max_columns=4
    )  # one combination (3 symbols) per chunk
    pd.testing.assert_frame_equal(whole.table, chunked.table)


def test_best_ranks_by_the_objective_and_names_unknown_ones(real_bars):
    result = sweep(real_bars, "sma_crossover", GRID, SETTINGS, progress=False)
    best = result.best("sharpe", n=3)
    assert best["sharpe"].is_monotonic_decreasing and len(best) == 3
    assert best["sharpe"].iloc[0] == result.table["sharpe"].max()
    with pytest.raises(InputError, match="did you mean 'sharpe'"):
        result.best("sharp")
