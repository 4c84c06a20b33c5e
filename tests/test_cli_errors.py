"""Hostile input at the command line: each gets the one line that says what went wrong and what to do."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from engine.cli import cli
from engine.cli._common import run_cli

ROOT = Path(__file__).resolve().parents[1]


def wb(data_dir, *args) -> tuple[int, str]:
    """(exit code, stderr) of `wb --data-dir DATA_DIR ARGS` run in this process."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = run_cli(cli, ["--data-dir", str(data_dir), *args])
    return code, err.getvalue()


@pytest.fixture
def empty_file(tmp_path) -> Path:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    return path


def test_an_empty_jobs_file_says_what_a_jobs_file_needs(data_dir, empty_file):
    code, err = wb(data_dir, "jobs", "list", "--jobs-file", str(empty_file))
    assert code == 2 and "Traceback" not in err
    assert (
        f"error: {empty_file} must hold a mapping of `field: value` lines, but it is empty" in err
    )
    assert "what to do: a jobs file needs `jobs:` followed by a list of jobs" in err
    assert "configs show" not in err


def test_an_empty_policy_file_says_what_a_policy_needs(data_dir, empty_file):
    code, err = wb(
        data_dir, "validate", "--strategy", "sma_crossover", "--symbols", "AAPL",
        "--grid", "fast=5", "--grid", "slow=50", "--policy", str(empty_file),
    )  # fmt: skip
    assert code == 2
    assert "what to do: a policy file sets validation thresholds" in err
    assert "min_oos_sharpe: 0.5" in err and "leave out --policy" in err
    assert "configs show" not in err


def test_an_empty_parameters_file_says_what_it_needs(data_dir, empty_file):
    notebook = ROOT / "notebooks" / "strategy_research.ipynb"
    code, err = wb(data_dir, "research", "run", str(notebook), "-f", str(empty_file))
    assert code == 2
    assert "a parameters file maps each parameter to its value" in err
    assert "configs show" not in err
    assert not (data_dir / "runs").exists()


@pytest.mark.parametrize("seconds", ["-5", "0"])
def test_a_stale_after_that_is_not_positive_is_refused(data_dir, seconds):
    code, err = wb(data_dir, "loop-status", "--stale-after", seconds)
    assert code == 2
    assert f"Invalid value for '--stale-after': {float(seconds)} is not in the range x>0" in err
