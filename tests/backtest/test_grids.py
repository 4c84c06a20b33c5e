"""Bounded work: a grid is counted from its ranges and refused above the limit before it is built."""

from __future__ import annotations

import tracemalloc

import pytest

from engine.backtest import grids
from engine.backtest.grids import (
    MAX_COMBINATIONS_ENV,
    check_grid_size,
    combination_limit,
    count_combinations,
    parse_grid_arg,
)
from engine.backtest.sweep import expand_grid, sweep
from engine.cli import cli
from engine.cli._common import run_cli
from engine.errors import InputError

HUGE = {"fast": range(1, 100_001), "slow": range(1, 100_001)}


@pytest.fixture(autouse=True)
def _machine_of_16_gb(monkeypatch):
    """The limit derived from memory, on a machine of a known size (16 GB)."""
    monkeypatch.delenv(MAX_COMBINATIONS_ENV, raising=False)
    monkeypatch.setattr(grids, "machine_memory", lambda: 16_000_000_000)


def test_ten_billion_combinations_are_refused_with_their_count_and_memory_before_any_is_built():
    tracemalloc.start()
    with pytest.raises(InputError) as caught:
        expand_grid("sma_crossover", HUGE)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000  # counted from the ranges: not even one range was listed
    message = caught.value.message
    assert "10,000,000,000 combinations (fast 100,000 x slow 100,000)" in message
    assert "about 30 TB of memory" in message  # 1e10 x (1 kB + 2 kB per symbol)
    assert "limit of 2,666,666 combinations" in message and "16 GB" in message
    assert MAX_COMBINATIONS_ENV in caught.value.hint


def test_a_single_range_too_long_to_list_is_refused_as_it_is_parsed():
    tracemalloc.start()
    with pytest.raises(InputError, match=r"1,000,000,000,000 combinations \(fast"):
        parse_grid_arg("fast=0:1000000000000:1")
    with pytest.raises(InputError, match=r"1,000,000,000,000 combinations \(slow"):
        parse_grid_arg("slow=0:1e12:1")  # a float range too
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000


def test_the_limit_shrinks_with_the_symbols_a_sweep_holds_a_column_for():
    assert combination_limit(1) == 2_666_666
    assert combination_limit(500) == 7_992  # 16 GB / 2 / (1 kB + 500 x 2 kB)
    grid = {"fast": range(1, 101), "slow": range(1, 101)}
    assert check_grid_size(grid, n_symbols=1) == 10_000
    with pytest.raises(InputError, match="10,000 combinations .* on 500 symbols"):
        check_grid_size(grid, n_symbols=500)


def test_the_limit_is_a_setting(monkeypatch):
    monkeypatch.setenv(MAX_COMBINATIONS_ENV, "10")
    assert count_combinations({"fast": [5, 10, 20], "slow": [50, 100, 200]}) == 9
    expand_grid("sma_crossover", {"fast": [5, 10, 20], "slow": [50, 100, 200]})
    with pytest.raises(InputError, match=f"limit of 10 combinations \\({MAX_COMBINATIONS_ENV}\\)"):
        expand_grid("sma_crossover", {"fast": [5, 10, 20, 30], "slow": [50, 100, 200]})
    monkeypatch.setenv(MAX_COMBINATIONS_ENV, "lots")
    with pytest.raises(InputError, match="not a positive whole number") as caught:
        combination_limit()
    assert "unset it" in caught.value.hint


def test_a_sweep_counts_the_grid_against_its_symbols_before_taking_either_path(
    real_bars, monkeypatch
):
    monkeypatch.setenv(MAX_COMBINATIONS_ENV, "20")
    grid = {"fast": [5, 10, 20, 30, 40], "slow": [50, 100, 200, 300, 400]}  # 25
    for engine in ("fast", "full"):
        with pytest.raises(InputError, match="25 combinations .* on 3 symbols"):
            sweep(real_bars, "sma_crossover", grid, progress=False, engine=engine)


def test_wb_sweep_refuses_a_huge_grid_in_one_line_before_reading_bars(data_dir, capsys):
    # The data dir has no bars at all: the grid is refused before anything is loaded.
    code = run_cli(
        cli,
        ["--data-dir", str(data_dir), "sweep", "--strategy", "sma_crossover", "--symbols",
         "AAPL", "--grid", "fast=1:100000:1", "--grid", "slow=1:100000:1"],
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(
        "error: the grid has 9,999,800,001 combinations (fast 99,999 x"
    )  # stop excluded
    assert "Traceback" not in err and "no stored bars" not in err
    assert len(err.strip().splitlines()) == 2  # the error and what to do
