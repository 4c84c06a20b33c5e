"""Sweeps and walk-forwards on a local Ray instance: the local results, retries, and clean failures.

Ray starts once for the module (several seconds) with two CPUs, and stops after it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from engine import strategies
from engine.backtest import BacktestSettings
from engine.backtest.sweep import sweep
from engine.backtest.walkforward import walk_forward
from engine.cli import cli
from engine.data.sample import sample_bars
from engine.executors import IncompleteRunError, RayExecutor
from engine.research.config_registry import list_configs
from engine.research.propose import propose
from engine.research.validation import ValidationPolicy
from engine.store import read_events
from engine.store.db import DB_FILE

ray = pytest.importorskip("ray")
# Ray and its workers take seconds to start: the module's tests share one instance (the
# suite gives each test file to one pytest-xdist worker, dev.py's --dist loadfile).
pytestmark = pytest.mark.slow

GRID = {"fast": [5, 10, 20], "slow": [40, 60]}
SETTINGS = BacktestSettings(stop="atr", trailing_stop=True)


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    """A private two-CPU Ray instance for this module's tests."""
    os.environ.pop("RAY_ADDRESS", None)  # never a cluster the machine happens to point at
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    except Exception:  # Ray raises a bare Exception: "node timed out during startup"
        # Ray gives its raylet a fixed 30 s to register; on a machine busy with other tests
        # that is sometimes not enough. Starting again once is what a user would do.
        ray.shutdown()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def bars():
    return sample_bars(["AAPL", "F", "GE"], start="2005-01-01", end="2009-12-31")


class RecordingRay(RayExecutor):
    """A Ray executor that cuts the work as finely as it can and remembers its tasks."""

    def __init__(self, **options):
        super().__init__(min_task_cells=1, **options)
        self.tasks = []
        self.ran = None

    def run(self, fn, shared, tasks, **options):
        self.tasks, self.ran = list(tasks), fn.__qualname__
        return super().run(fn, shared, tasks, **options)


def dying(strategy: str, marker: Path | None = None, *, when_fast: int | None = None):
    """``strategy`` that kills its worker process: once (the first task to claim ``marker``),
    or every time it gets a combination with fast == ``when_fast``. It has no fast form, so
    its sweeps take the general path, which calls ``grid_fn``."""
    base = strategies.get(strategy)

    def grid_fn(bars, params_list):
        if when_fast is not None and any(p.fast == when_fast for p in params_list):
            os._exit(1)
        if marker is not None:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))  # only one task wins
                os._exit(1)
            except FileExistsError:
                pass
        return base.grid_fn(bars, params_list)

    return dataclasses.replace(base, name=f"{strategy}_dying", grid_fn=grid_fn, fast=None)


@pytest.mark.parametrize(
    ("strategy", "grid", "engine", "task"),
    [
        # A fast form: each task runs the compiled kernel on its combinations x symbols.
        ("sma_crossover", GRID, "auto", "_screen_task"),
        ("sma_crossover", GRID, "full", "_sweep_task"),
        # A rotation ranks the whole universe: a task trading some symbols must still rank all.
        ("momentum_rotation", {"lookback": [20, 60], "top_n": [1, 2]}, "auto", "_sweep_task"),
    ],
)
def test_a_per_symbol_sweep_cut_by_symbols_gives_the_local_table(
    bars, strategy, grid, engine, task, capsys
):
    local = sweep(bars, strategy, grid, SETTINGS, progress=False, engine=engine)
    executor = RecordingRay()

    on_ray = sweep(bars, strategy, grid, SETTINGS, executor=executor, engine=engine)

    assert executor.ran == task
    pd.testing.assert_frame_equal(on_ray.table, local.table, check_exact=True)
    assert (on_ray.n_combinations, on_ray.skipped) == (local.n_combinations, local.skipped)
    assert any(", symbols " in task.label for task in executor.tasks)  # it was cut by symbols
    n = len(executor.tasks)
    assert f"tasks {n}/{n}" in capsys.readouterr().err  # progress across the cluster


def test_a_portfolio_sweep_gives_the_local_table_and_sends_the_bars_once(bars, monkeypatch):
    local = sweep(bars, "sma_crossover", GRID, SETTINGS, per="portfolio", progress=False)
    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value, **kw: puts.append(value) or real_put(value, **kw))
    executor = RecordingRay()

    on_ray = sweep(bars, "sma_crossover", GRID, SETTINGS, per="portfolio", progress=False,
                   executor=executor)  # fmt: skip

    pd.testing.assert_frame_equal(on_ray.table, local.table, check_exact=True)
    assert len(executor.tasks) == 6
    assert len(puts) == 1 and puts[0][0] is bars  # one copy of the bars for all six tasks


def test_a_walk_forward_cut_by_folds_gives_the_local_result(bars):
    local = walk_forward(bars, "sma_crossover", GRID, SETTINGS, folds=3, progress=False)
    executor = RecordingRay()

    on_ray = walk_forward(bars, "sma_crossover", GRID, SETTINGS, folds=3, progress=False,
                          executor=executor)  # fmt: skip

    assert any("fold" in task.label for task in executor.tasks)
    # As JSON, so that a NaN figure equals a NaN figure.
    assert json.dumps(on_ray.summary(), default=str) == json.dumps(local.summary(), default=str)
    pd.testing.assert_frame_equal(on_ray.trial_returns, local.trial_returns, check_exact=True)
    pd.testing.assert_series_equal(on_ray.oos_equity, local.oos_equity, check_exact=True)
    pd.testing.assert_frame_equal(on_ray.oos_trades, local.oos_trades, check_exact=True)


def test_a_worker_that_dies_is_retried_and_the_table_is_complete(bars, tmp_path):
    marker = tmp_path / "died"
    local = sweep(bars, "sma_crossover", GRID, SETTINGS, progress=False, engine="full")

    on_ray = sweep(bars, dying("sma_crossover", marker), GRID, SETTINGS, progress=False,
                   executor=RecordingRay(max_retries=2))  # fmt: skip

    assert marker.exists()  # a worker did die mid-sweep
    pd.testing.assert_frame_equal(on_ray.table, local.table, check_exact=True)


def test_a_chunk_that_always_fails_fails_the_proposal_and_saves_nothing(bars, store):
    strategy = dying("sma_crossover", when_fast=10)
    # Two tasks for two CPUs: fast 5 and 20 together, fast 10 alone (it dies twice).
    executor = RayExecutor(max_retries=1, min_task_cells=1, tasks_per_worker=1)

    with pytest.raises(IncompleteRunError) as failed:
        propose(store, bars, strategy, {"fast": [5, 20, 10], "slow": [40]}, SETTINGS,
                ValidationPolicy(), folds=2, objective="sharpe", actor="ana", executor=executor)  # fmt: skip

    error = failed.value
    assert [f.label for f in error.failures] == ["combinations 3-3 of 3 (fast=10 slow=40)"]
    assert error.failures[0].lost, error.failures[0]  # its worker died, past the retry
    assert "1 of 2 tasks failed" in error.message and "fast=10 slow=40" in error.message
    assert error.exit_code == 75  # lost workers: retry when the cluster is healthy
    assert list_configs(store) == [] and read_events(store).empty


def test_a_chunk_whose_code_raises_is_named_with_its_error(bars):
    def grid_fn(bars, params_list):
        if any(p.slow == 60 for p in params_list):
            raise ZeroDivisionError("no volatility")
        return strategies.get("sma_crossover").grid_fn(bars, params_list)

    broken = dataclasses.replace(strategies.get("sma_crossover"), name="broken", grid_fn=grid_fn)

    with pytest.raises(IncompleteRunError) as failed:
        sweep(bars, broken, GRID, SETTINGS, per="portfolio", progress=False,
              executor=RecordingRay(max_retries=3))  # fmt: skip

    labels = [f.label for f in failed.value.failures]
    assert labels == [
        f"combinations {k}-{k} of 6 (fast={f} slow=60)" for k, f in [(2, 5), (4, 10), (6, 20)]
    ]
    assert all("ZeroDivisionError: no volatility" in f.reason for f in failed.value.failures)
    assert failed.value.exit_code == 1  # not a cluster problem: retrying will not help
    assert "ZeroDivisionError" in str(failed.value.__cause__)


def wb(data_dir: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args, "--json"],
                                catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def two_data_dirs(tmp_path, _sample_store_file) -> tuple[Path, Path]:
    """Two data dirs, each with its own copy of a store holding the sample bars."""
    dirs = tmp_path / "on_ray", tmp_path / "local"
    for path in dirs:
        path.mkdir()
        shutil.copy(_sample_store_file, path / DB_FILE)
    return dirs


def test_wb_sweep_on_ray_prints_the_local_table(two_data_dirs):
    on_ray_dir, _ = two_data_dirs
    args = ["sweep", "--strategy", "sma_crossover", "--symbols", "AAPL,GE", "--start", "2006-01-01",
            "--grid", "fast=5,10", "--grid", "slow=30,60", "--per", "portfolio"]  # fmt: skip

    assert wb(on_ray_dir, *args, "--executor", "ray") == wb(on_ray_dir, *args)


def test_wb_validate_on_ray_proposes_the_same_config(two_data_dirs):
    on_ray_dir, local_dir = two_data_dirs
    args = ["validate", "--strategy", "sma_crossover", "--symbols", "AAPL,GE", "--start", "2006-01-01",
            "--grid", "fast=5,10", "--grid", "slow=30,60", "--folds", "2", "--user", "ana"]  # fmt: skip

    on_ray = wb(on_ray_dir, *args, "--executor", "ray")
    local = wb(local_dir, *args)

    # The config id hashes the params and every figure of the evidence.
    assert on_ray["config_id"] == local["config_id"]
    assert on_ray["verdict"] == local["verdict"]


def test_a_users_own_strategy_runs_on_the_workers(bars, tmp_path, monkeypatch):
    import warnings

    from engine.strategies import plugins
    from tests.strategies.user_strategies import MODULES, forget_user_strategies, write

    # Ray started without WB_STRATEGY_PATH: the executor hands it to the workers itself.
    folder = write({"my_breakout.py": MODULES["my_breakout.py"]}, tmp_path / "mine")
    monkeypatch.setenv(plugins.PATH_VARIABLE, str(folder))
    forget_user_strategies()
    try:
        grid = {"window": [20, 40]}
        local = sweep(bars, "my_breakout", grid, SETTINGS, progress=False, engine="full")
        executor = RecordingRay()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no worker may fail to load it
            on_ray = sweep(bars, "my_breakout", grid, SETTINGS, progress=False, executor=executor)
        pd.testing.assert_frame_equal(on_ray.table, local.table, check_exact=True)
        assert len(executor.tasks) > 1 and local.table["trades"].sum() > 0
    finally:
        forget_user_strategies()
