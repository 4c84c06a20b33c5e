"""Users' own strategies: a folder named by WB_STRATEGY_PATH, and a package's entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest

from engine import strategies
from engine.data.sample import sample_bars
from engine.errors import NotFoundError
from engine.strategies import StrategyError, plugins
from tests.strategies.user_strategies import (
    MODULES,
    PACKAGE,
    PACKAGE_ORIGIN,
    PROBLEMS,
    forget_user_strategies,
    write,
)


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    """A strategy folder and an installed package, visible to this process."""
    folder = write(MODULES, tmp_path / "my_strategies")
    site = write(PACKAGE, tmp_path / "site")
    monkeypatch.setenv(plugins.PATH_VARIABLE, str(folder))
    monkeypatch.syspath_prepend(str(site))
    forget_user_strategies()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", plugins.UserStrategyWarning)
        yield folder
    forget_user_strategies()


def test_they_join_the_builtins_and_say_where_they_came_from(user_folder):
    names = strategies.names()
    assert {"my_breakout", "peeking", "sloppy", "acme_momentum", "sma_crossover"} <= set(names)
    assert strategies.origin("my_breakout") == str(user_folder / "my_breakout.py")
    assert strategies.origin("acme_momentum") == PACKAGE_ORIGIN
    assert strategies.origin("sma_crossover") == "built-in"


def test_a_broken_module_is_one_problem_naming_its_file_and_line(user_folder):
    strategies.names()
    problems = {p.source: p for p in strategies.load_problems()}
    for name, (line, error) in PROBLEMS.items():
        problem = problems[str(user_folder / name)]
        assert (problem.line, problem.error) == (line, error)
    # A strategy that is not there says which modules failed to load.
    with pytest.raises(NotFoundError) as missing:
        strategies.get("half_written")
    assert f"{user_folder / 'broken.py'}, line 4: NameError" in missing.value.hint


def test_a_broken_module_warns_once_and_the_builtins_still_work(user_folder):
    with pytest.warns(plugins.UserStrategyWarning, match=r"broken\.py, line 4"):
        strategies.names()
    bars = sample_bars(["AAPL"], start="2010-01-01", end="2011-12-31")
    assert strategies.compute_signals("sma_crossover", bars).entries.to_numpy().any()


def test_they_run_under_the_guard_and_the_lookahead_check(user_folder):
    bars = sample_bars(["AAPL", "GE"], start="2008-01-01", end="2011-12-31")
    signals = strategies.compute_signals("my_breakout", bars, {"window": 30})
    assert signals.entries.shape == bars.close.shape and signals.entries.to_numpy().any()
    assert strategies.check_lookahead("my_breakout", bars, {"window": 30}).passed

    with pytest.raises(StrategyError, match="'sloppy': entries has shape"):
        strategies.compute_signals("sloppy", bars)
    peeking = strategies.check_lookahead("peeking", bars)
    assert not peeking.passed


def test_a_folder_added_later_is_loaded_on_the_next_lookup(user_folder, tmp_path, monkeypatch):
    strategies.names()
    later = write({"late_idea.py": MODULES["my_breakout.py"].replace("my_breakout", "late_idea")},
                  tmp_path / "later")  # fmt: skip
    monkeypatch.setenv(plugins.PATH_VARIABLE, os.pathsep.join([str(user_folder), str(later)]))
    assert strategies.origin("late_idea") == str(later / "late_idea.py")


def _wb(*args, env, cwd):
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_wb_lists_them_and_backtests_one(tmp_path):
    folder = write(MODULES, tmp_path / "my_strategies")
    site = write(PACKAGE, tmp_path / "site")
    env = {k: v for k, v in os.environ.items() if k != plugins.PATH_VARIABLE}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    data = ["--data-dir", str(tmp_path / "data")]

    listed = _wb(*data, "--strategy-path", str(folder), "strategies", env=env, cwd=tmp_path)
    assert listed.returncode == 2, listed.stderr  # a module failed to load: scripts notice
    assert f"my_breakout: Long above the prior high.\n    from {folder / 'my_breakout.py'}" in (
        listed.stdout
    )
    assert f"acme_momentum: Long while the trailing return is positive.\n    from {PACKAGE_ORIGIN}" in (
        listed.stdout
    )
    assert "sma_crossover: Trend following" in listed.stdout
    errors = [line for line in listed.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: could not load {folder / 'broken.py'}, line 4: NameError: name "
        "'undefined_name' is not defined",
        f"error: could not load {folder / 'unfinished.py'}, line 1: SyntaxError: expected ':'",
    ]

    as_json = _wb("strategies", "--json", env={**env, plugins.PATH_VARIABLE: str(folder)},
                  cwd=tmp_path)  # fmt: skip
    listing = json.loads(as_json.stdout)
    origins = {row["name"]: row["origin"] for row in listing["strategies"]}
    assert origins["my_breakout"] == str(folder / "my_breakout.py")
    assert len(listing["load_problems"]) == 2

    assert _wb(*data, "ingest", "--source", "sample", "--symbols", "AAPL", env=env,
               cwd=tmp_path).returncode == 0  # fmt: skip
    backtest = _wb(
        *data, "--strategy-path", str(folder), "backtest", "--strategy", "my_breakout",
        "--symbols", "AAPL", "--param", "window=30", "--json", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert backtest.returncode == 0, backtest.stderr
    result = json.loads(backtest.stdout)
    assert result["strategy"] == "my_breakout" and result["trades"] > 0
    assert "warning: strategies not loaded:" in backtest.stderr  # said once, in one line


@pytest.mark.slow
def test_a_notebook_run_by_wb_loads_them_too(tmp_path):
    import nbformat

    folder = write({"my_breakout.py": MODULES["my_breakout.py"]}, tmp_path / "mine")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "trading-workbench", "language": "python",
                                       "display_name": "x"}  # fmt: skip
    notebook.cells = [nbformat.v4.new_code_cell(
        "from engine import strategies\nprint(strategies.origin('my_breakout'))"
    )]  # fmt: skip
    nbformat.write(notebook, str(tmp_path / "uses_mine.ipynb"))
    env = {k: v for k, v in os.environ.items() if k != plugins.PATH_VARIABLE}

    run = _wb("--data-dir", str(tmp_path / "data"), "--strategy-path", str(folder), "research",
              "run", str(tmp_path / "uses_mine.ipynb"), "--json", env=env, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    executed = nbformat.read(json.loads(run.stdout)["output_path"], as_version=4)
    assert executed.cells[-1].outputs[0]["text"].strip() == str(folder / "my_breakout.py")
