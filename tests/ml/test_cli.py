"""`wb backtest`, `wb sweep` and `wb validate` run ml_classifier like any other strategy."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from engine.cli import cli
from tests.ml.conftest import FAST
from tests.sample_store import store_sample_bars

FAST_ARGS = [arg for key, value in FAST.items() for arg in ("--param", f"{key}={value}")]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A data dir whose store holds AAPL and GE for 2004-2008, inserted directly."""
    path = tmp_path_factory.mktemp("wb-ml")
    return store_sample_bars(path, ["AAPL", "GE"], "2004-01-01", "2008-12-31")


def wb(data_dir: Path, *args: str) -> dict:
    result = CliRunner().invoke(
        cli, ["--data-dir", str(data_dir), *args, "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_wb_backtest_trades_the_out_of_sample_predictions(data_dir):
    out = wb(
        data_dir, "backtest", "--strategy", "ml_classifier", "--symbols", "AAPL,GE", *FAST_ARGS
    )

    trades = pd.DataFrame(out["trade_list"])
    assert out["strategy"] == "ml_classifier" and out["params"]["train_bars"] == 252
    assert out["trades"] == len(trades) > 10
    # Nothing trades before the first model: features' warm-up, a training window, the
    # horizon and the embargo (about 370 bars from January 2004: mid 2005).
    assert pd.to_datetime(trades["entry_date"]).min() > pd.Timestamp("2005-06-01")
    # A trade closed by its signal lasted at least the horizon.
    index = pd.bdate_range("2004-01-01", "2008-12-31")
    by_signal = trades[trades["exit_reason"] == "signal"]
    held = [
        index.get_loc(pd.Timestamp(exit_)) - index.get_loc(pd.Timestamp(entry))
        for entry, exit_ in zip(by_signal["entry_date"], by_signal["exit_date"], strict=True)
    ]
    assert len(held) > 0 and min(held) >= FAST["horizon"]


def test_wb_backtest_with_the_strategys_stop_exits_some_trades_at_it(data_dir):
    out = wb(
        data_dir,
        "backtest",
        "--strategy",
        "ml_classifier",
        "--symbols",
        "AAPL,GE",
        *FAST_ARGS,
        "--param",
        "atr_stop=0.5",
        "--stop",
        "strategy",
    )

    reasons = {trade["exit_reason"] for trade in out["trade_list"]}
    assert {"signal", "stop"} <= reasons


def test_wb_sweep_over_the_entry_threshold(data_dir):
    out = wb(
        data_dir,
        "sweep",
        "--strategy",
        "ml_classifier",
        "--symbols",
        "AAPL,GE",
        "--per",
        "portfolio",
        "--grid",
        "entry_probability=0.5,0.6",
        *(f"--grid={key}={value}" for key, value in FAST.items()),
    )

    table = pd.DataFrame(out["table"])
    assert out["n_combinations"] == 2
    assert sorted(table["entry_probability"]) == [0.5, 0.6]
    # Each threshold traded, and differently: the sweep really varied it.
    by_threshold = table.set_index("entry_probability")
    assert (by_threshold["trades"] > 0).all()
    assert by_threshold.loc[0.5, "total_return"] != by_threshold.loc[0.6, "total_return"]


@pytest.mark.slow
def test_wb_validate_registers_a_config_whose_look_ahead_check_passed(data_dir):
    out = wb(
        data_dir,
        "validate",
        "--strategy",
        "ml_classifier",
        "--symbols",
        "AAPL,GE",
        "--grid",
        "entry_probability=0.55,0.6",
        *(f"--grid={key}={value}" for key, value in FAST.items()),
        "--folds",
        "2",
        "--user",
        "ana",
    )

    evidence = out["evidence"]
    assert out["strategy"] == "ml_classifier"
    assert evidence["lookahead_passed"] is True
    assert evidence["n_trials"] == 2 and len(evidence["folds"]) == 2
    assert out["verdict"] in ("validated", "rejected")
