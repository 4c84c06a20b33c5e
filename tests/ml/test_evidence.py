"""Evidence: the classifier's out-of-sample skill, and a proposal that pins the model it trades."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import strategies
from engine.backtest.settings import BacktestSettings
from engine.config.models import StrategyConfig
from engine.errors import InputError, OperatorError
from engine.ml.model import file_sha256
from engine.research.config_registry import get_config
from engine.research.ml_evidence import classifier_report, propose_ml
from engine.research.validation import ValidationPolicy
from tests.ml.conftest import FAST, synthetic_bars


@pytest.mark.parametrize("classifier", ["gradient_boosting", "logistic_regression"])
def test_the_models_find_a_planted_edge_out_of_sample(classifier):
    bars = synthetic_bars(seed=3, rows=900, symbols=6, persistence=0.5)

    report = classifier_report(bars, {**FAST, "classifier": classifier})

    assert report.auc > 0.55
    assert report.precision > report.base_rate + 0.05


def test_on_a_random_walk_there_is_no_skill_to_report():
    # A leak of future labels into training would show here as skill where none can exist.
    bars = synthetic_bars(seed=5, rows=900, symbols=6, persistence=0.0)

    report = classifier_report(bars, {**FAST, "classifier": "gradient_boosting"})

    assert 0.42 < report.auc < 0.58


def test_the_report_scores_the_bars_the_strategy_would_have_entered_on(real_bars):
    report = classifier_report(real_bars, FAST, start="2006-01-01")
    entries = strategies.compute_signals("ml_classifier", real_bars, FAST).entries
    # The last `horizon` bars have no label yet, so they cannot be scored.
    scorable = entries.loc["2006-01-01":].iloc[: -FAST["horizon"]]

    assert report.signals == int(scorable.to_numpy().sum())
    assert report.reliability["rows"].sum() == report.scored
    assert report.metrics()["precision_at_threshold"] == report.precision


def test_a_pinned_model_has_no_out_of_sample_to_score(real_bars):
    with pytest.raises(InputError, match="cannot be scored out of sample"):
        classifier_report(real_bars, {**FAST, "model_file": "/m.joblib", "model_sha256": "0" * 64})


@pytest.fixture(scope="module")
def proposal(tmp_path_factory, real_bars):
    """An ML proposal registered in a fresh store, and that store."""
    from engine.store import Store

    store = Store.open(tmp_path_factory.mktemp("ml-proposal"))
    grid = {**{key: [value] for key, value in FAST.items()}, "entry_probability": [0.55, 0.6]}
    config, verdict, report = propose_ml(
        store,
        real_bars,
        grid,
        BacktestSettings(),
        ValidationPolicy(),
        folds=2,
        objective="sharpe",
        actor="ana",
    )
    return store, config, verdict, report


@pytest.mark.slow
def test_a_proposal_pins_the_saved_model_by_path_and_hash(proposal):
    store, config, verdict, report = proposal
    model_file = Path(config.params["model_file"])

    assert model_file.parent == store.data_dir / "models"
    assert model_file.name == f"{config.params['model_sha256']}.joblib"
    assert file_sha256(model_file) == config.params["model_sha256"]
    stored = get_config(store, config.config_id)
    assert stored.status == verdict.status
    assert stored.config.params["model_sha256"] == config.params["model_sha256"]
    assert StrategyConfig.from_yaml(config.to_yaml()).config_id == config.config_id


@pytest.mark.slow
def test_a_proposals_evidence_carries_the_classifiers_skill_and_a_passed_look_ahead(proposal):
    _, config, _, report = proposal
    evidence = config.evidence

    assert evidence.lookahead_passed
    assert evidence.out_of_sample["auc"] == pytest.approx(report.auc)
    assert evidence.out_of_sample["precision_at_threshold"] == report.precision
    assert evidence.out_of_sample["trades"] > 0  # the backtest of trading the predictions
    assert config.params["entry_probability"] == report.entry_probability


@pytest.mark.slow
def test_the_proposed_config_trades_only_after_its_training_and_stops_without_its_file(
    proposal, real_bars
):
    _, config, _, _ = proposal

    signals = strategies.compute_signals("ml_classifier", real_bars, config.params)
    assert not signals.entries.iloc[:-1].to_numpy().any()  # it has seen every earlier bar

    model_file = Path(config.params["model_file"])
    moved = model_file.with_suffix(".moved")
    model_file.rename(moved)
    try:
        with pytest.raises(OperatorError, match="is missing"):
            strategies.compute_signals("ml_classifier", real_bars, config.params)
    finally:
        moved.rename(model_file)


def test_a_grid_cannot_pin_a_model(real_bars, store):
    with pytest.raises(InputError, match="a proposal trains its own model"):
        propose_ml(
            store,
            real_bars,
            {"model_sha256": ["0" * 64]},
            BacktestSettings(),
            ValidationPolicy(),
            folds=2,
            objective="sharpe",
            actor="ana",
        )
    assert store.scalar("SELECT count(*) FROM configs") == 0
