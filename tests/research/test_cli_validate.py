"""`wb validate` end to end: stored sample bars in, a registered config with its verdict out."""

from __future__ import annotations

import json
import shutil

import pytest

from engine.cli import cli
from engine.cli._common import run_cli
from engine.config.models import StrategyConfig
from engine.research.config_registry import get_config
from engine.store import Store, read_events
from engine.store.db import DB_FILE

VALIDATE = [
    "validate", "--strategy", "sma_crossover", "--symbols", "AAPL,GE,CAT",
    "--grid", "fast=5,10,20", "--grid", "slow=50,100", "--folds", "3", "--user", "ana",
]  # fmt: skip


@pytest.fixture(scope="module")
def ingested_store_file(tmp_path_factory):
    """A store file holding AAPL, GE and CAT 2005-2012, ingested once for this module."""
    data_dir = tmp_path_factory.mktemp("validate-bars")
    code = run_cli(
        cli,
        [
            "--data-dir", str(data_dir), "ingest", "--source", "sample",
            "--symbols", "AAPL,GE,CAT", "--start", "2005-01-01", "--end", "2012-12-31", "--json",
        ],
    )  # fmt: skip
    assert code == 0
    return data_dir / DB_FILE


@pytest.fixture
def wb(data_dir, capsys, ingested_store_file):
    """Run `wb --data-dir <test dir> ARGS...` on a copy of the ingested store.

    Gives back (exit code, stdout, stderr).
    """
    shutil.copy(ingested_store_file, data_dir / DB_FILE)
    capsys.readouterr()

    def run(*args: str) -> tuple[int, str, str]:
        code = run_cli(cli, ["--data-dir", str(data_dir), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_validate_registers_the_config_and_the_same_search_finds_the_same_id(wb, data_dir):
    code, out, err = wb(*VALIDATE, "--json")
    assert code == 0, err
    result = json.loads(out)
    store = Store.open(data_dir)
    record = get_config(store, result["config_id"])
    assert result["status"] == result["verdict"] == record.status
    assert record.status in ("validated", "rejected")
    assert result["universe"] == ["AAPL", "GE", "CAT"]
    assert len(result["evidence"]["folds"]) == 3
    assert result["evidence"]["n_trials"] == 6
    assert StrategyConfig.from_yaml_file(result["yaml"]) == record.config

    code, out, err = wb(*VALIDATE, "--json")
    assert code == 0, err
    assert json.loads(out)["config_id"] == record.config_id
    events = read_events(store, kinds=["config."], subject=record.config_id)
    assert len(events) == 2
    assert set(events["actor"]) == {"ana"}


def test_a_strict_policy_rejects_with_every_reason_and_the_config_cannot_be_approved(wb, tmp_path):
    policy = tmp_path / "strict.yaml"
    policy.write_text("min_oos_sharpe: 50\nmin_oos_trades: 100000\n")
    code, out, err = wb(
        *VALIDATE, "--policy", str(policy), "--max-positions", "2", "--setting", "fraction=0.3"
    )
    assert code == 0, err
    assert "REJECTED" in out
    assert "out-of-sample Sharpe" in out and "is below the minimum 50.00" in out
    assert "fewer than the 100000 needed" in out
    config_id = out.split()[1]
    code, _, err = wb("configs", "approve", config_id, "--reason", "I like it")
    assert code == 2
    assert "it is rejected" in err
    code, out, _ = wb("configs", "show", config_id, "--json")
    settings = json.loads(out)["config"]["settings"]
    assert (settings["max_positions"], settings["fraction"]) == (2, 0.3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--strategy", "sma_crosover"], "did you mean 'sma_crossover'"),
        (["--symbols", "AAPL,ZZZZ"], "no stored bars for ZZZZ"),
        (["--grid", "fats=5,10"], "did you mean 'fast'"),
        (["--setting", "feez=0.01"], "unknown field 'feez': did you mean 'fees'"),
        (["--setting", "max_positions"], "expected KEY=VALUE"),
        (["--objective", "sharp"], "did you mean 'sharpe'"),
    ],
)
def test_bad_input_is_one_clear_error(wb, change, message):
    code, out, err = wb(*VALIDATE, *change)
    assert code == 2, out
    assert message in err


def test_a_misspelled_policy_threshold_is_named(wb, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("min_oos_sharp: 1.0\n")
    code, _, err = wb(*VALIDATE, "--policy", str(policy))
    assert code == 2
    assert "unknown field 'min_oos_sharp': did you mean 'min_oos_sharpe'" in err


@pytest.mark.slow
def test_validate_gives_the_ml_classifier_its_own_evidence(wb, data_dir):
    from engine.ml.model import file_sha256

    small = ["train_bars=252", "boosting_rounds=20", "max_depth=2", "entry_probability=0.55,0.6"]
    grid = [arg for value in small for arg in ("--grid", value)]
    # Four years of the three symbols: the look-ahead check retrains at every trading bar.
    args = ["validate", "--strategy", "ml_classifier", "--symbols", "AAPL,GE,CAT", *grid,
            "--start", "2009-01-01", "--folds", "2", "--user", "ana"]  # fmt: skip

    # One run (it is the slow part): its text, then the evidence registered with the config.
    code, text, err = wb(*args)
    assert code == 0, err
    code, out, err = wb("configs", "show", text.split()[1], "--json")
    assert code == 0, err
    config = json.loads(out)["config"]
    oos, params = config["evidence"]["out_of_sample"], config["params"]
    assert 0.3 < oos["auc"] < 0.7  # out of sample, on real bars: little skill, but scored
    assert oos["precision_at_threshold"] is not None and oos["scored_predictions"] > 500
    # The model the config trades is pinned by its hash, in the params and the provenance.
    assert file_sha256(params["model_file"]) == params["model_sha256"]
    assert config["evidence"]["provenance"]["artifacts"] == {"model": params["model_sha256"]}
    assert "classifier out of sample: AUC" in text
    assert f"artifact model: {params['model_sha256']}" in text
