"""Signals for a parameter grid: one block per set, the same values as set-by-set calls."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from engine import strategies
from engine.data.sample import sample_bars
from engine.errors import InputError
from engine.strategies import Signals, StrategyError

# DELL stops trading before the others: the grid must handle a ragged panel too.
BARS = sample_bars(["AAPL", "DELL", "GE"], start="2011-01-01")


def sma_grid():
    return [
        strategies.make_params("sma_crossover", {"fast": fast, "slow": slow})
        for fast in (5, 10, 20)
        for slow in (20, 50, 60)
        if fast < slow
    ]


def assert_same_signals(a: Signals, b: Signals):
    pd.testing.assert_frame_equal(a.entries, b.entries)
    pd.testing.assert_frame_equal(a.exits, b.exits)
    if a.stop_distance is None:
        assert b.stop_distance is None
    else:
        pd.testing.assert_frame_equal(a.stop_distance, b.stop_distance)


def test_vectorized_sma_grid_equals_one_call_per_set():
    sma = strategies.get("sma_crossover")
    assert sma.grid_fn is not None
    params_list = sma_grid()
    vectorized = strategies.signals_for_grid(sma, BARS, params_list)
    looped = strategies.signals_for_grid(dataclasses.replace(sma, grid_fn=None), BARS, params_list)
    assert_same_signals(vectorized, looped)
    assert vectorized.entries.to_numpy().sum() > 0  # the comparison is not of empty frames


def test_each_block_is_that_sets_signals_under_its_labels():
    params_list = sma_grid()
    grid = strategies.signals_for_grid("sma_crossover", BARS, params_list)
    assert grid.entries.columns.names == ["fast", "slow", "symbol"]
    assert list(grid.entries.columns[:4]) == [
        (5, 20, "AAPL"),
        (5, 20, "DELL"),
        (5, 20, "GE"),
        (5, 50, "AAPL"),
    ]
    for params in params_list:
        alone = strategies.compute_signals("sma_crossover", BARS, params)
        block = grid.entries[(params.fast, params.slow)]
        assert list(block.columns) == BARS.symbols
        pd.testing.assert_frame_equal(block, alone.entries, check_names=False)


def test_grid_of_a_strategy_without_grid_fn_keeps_its_stop_distances():
    params_list = [
        {"entry_window": 20, "exit_window": 10, "atr_window": 14, "atr_stop": 2.0},
        {"entry_window": 55, "exit_window": 20, "atr_window": 14, "atr_stop": 3.0},
    ]
    grid = strategies.signals_for_grid("donchian_breakout", BARS, params_list, progress=False)
    assert grid.entries.columns.names == [
        "entry_window",
        "exit_window",
        "atr_window",
        "atr_stop",
        "symbol",
    ]
    for values in params_list:
        alone = strategies.compute_signals("donchian_breakout", BARS, values)
        key = tuple(values.values())
        pd.testing.assert_frame_equal(
            grid.stop_distance[key], alone.stop_distance, check_names=False
        )
        pd.testing.assert_frame_equal(grid.exits[key], alone.exits, check_names=False)


def test_a_grid_with_no_combinations_is_a_clear_error():
    with pytest.raises(InputError, match="the parameter grid has no combinations") as raised:
        strategies.signals_for_grid("sma_crossover", BARS, [])
    assert "fast < slow" in raised.value.hint


def test_a_grid_with_a_set_twice_is_refused():
    with pytest.raises(InputError, match="twice"):
        strategies.signals_for_grid("sma_crossover", BARS, [{"fast": 5, "slow": 20}] * 2)


def test_the_longest_window_in_the_grid_must_fit_the_data():
    short = BARS.iloc(slice(0, 100))
    with pytest.raises(
        InputError, match="fast=5, slow=150 needs at least 151 bars; the data has 100"
    ):
        strategies.signals_for_grid(
            "sma_crossover", short, [{"fast": 5, "slow": 20}, {"fast": 5, "slow": 150}]
        )


def test_a_grid_fn_with_mislabelled_blocks_is_caught():
    sma = strategies.get("sma_crossover")

    def swapped_blocks(bars, params_list):
        right = sma.grid_fn(bars, params_list)
        wrong_order = right.entries.columns[::-1]
        return Signals(right.entries[wrong_order], right.exits)

    careless = dataclasses.replace(sma, name="test_careless_grid", grid_fn=swapped_blocks)
    with pytest.raises(StrategyError, match="strategy 'test_careless_grid': entries columns"):
        strategies.signals_for_grid(careless, BARS, sma_grid())
