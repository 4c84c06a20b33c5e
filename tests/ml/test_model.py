"""The calibrated classifier: it learns an edge, its probabilities mean what they say, and a saved
model comes back only as the exact bytes the config recorded."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.metrics import roc_auc_score

from engine.errors import InputError, OperatorError
from engine.ml.model import (
    ModelSpec,
    SavedModel,
    file_sha256,
    fit_classifier,
    load_model,
    predict_probability,
    save_model,
)


def _problem(seed: int, rows: int = 3000):
    """Rows whose first feature shifts the odds of a win: a learnable, noisy edge."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 5))
    wins = (features[:, 0] + rng.normal(scale=1.5, size=rows) > 0).astype(np.int8)
    return features, wins, np.arange(rows) // 3  # three symbols per bar


@pytest.mark.parametrize("classifier", ["gradient_boosting", "logistic_regression"])
def test_the_classifier_learns_an_edge_with_calibrated_probabilities(classifier):
    features, wins, row_bars = _problem(1)
    spec = ModelSpec(classifier=classifier, boosting_rounds=30, max_depth=2)

    model, skipped = fit_classifier(features, wins, row_bars, spec, horizon=5, embargo=5)
    unseen, unseen_wins, _ = _problem(2)
    probability = predict_probability(model, unseen)

    assert skipped is None
    assert roc_auc_score(unseen_wins, probability) > 0.7
    # Calibrated: among rows given about 70%, about 70% win (within sampling noise).
    for low, high in ((0.2, 0.4), (0.6, 0.8)):
        band = (probability > low) & (probability < high)
        assert band.sum() > 100
        assert abs(unseen_wins[band].mean() - probability[band].mean()) < 0.07


def test_the_same_rows_give_the_same_model():
    features, wins, row_bars = _problem(3)
    spec = ModelSpec(boosting_rounds=20)

    first, _ = fit_classifier(features, wins, row_bars, spec, horizon=5, embargo=0)
    second, _ = fit_classifier(features, wins, row_bars, spec, horizon=5, embargo=0)

    assert (predict_probability(first, features) == predict_probability(second, features)).all()


def test_a_window_without_both_outcomes_is_skipped_with_the_reason():
    features, wins, row_bars = _problem(4)

    model, skipped = fit_classifier(
        features, np.ones_like(wins), row_bars, ModelSpec(), horizon=5, embargo=0
    )

    assert model is None
    assert "0 losing rows" in skipped


def test_a_row_with_a_missing_feature_gets_no_probability():
    features, wins, row_bars = _problem(5)
    model, _ = fit_classifier(
        features, wins, row_bars, ModelSpec(boosting_rounds=10), horizon=1, embargo=0
    )
    rows = features[:4].copy()
    rows[1, 2] = np.nan

    probability = predict_probability(model, rows)

    assert np.isnan(probability[1])
    assert np.isfinite(probability[[0, 2, 3]]).all()


def test_an_unknown_classifier_says_which_there_are():
    with pytest.raises(InputError, match="gradient_boosting, logistic_regression"):
        ModelSpec(classifier="random_forest")


# -- saving and loading ------------------------------------------------------------------------


@pytest.fixture
def saved_model() -> SavedModel:
    features, wins, row_bars = _problem(6, rows=600)
    model, _ = fit_classifier(
        features, wins, row_bars, ModelSpec(boosting_rounds=10), horizon=1, embargo=0
    )
    day = pd.Timestamp("2012-06-29")
    return SavedModel(
        model=model,
        feature_names=("a", "b", "c", "d", "e"),
        plan={"horizon": 1},
        trained_through=day,
        train_start=pd.Timestamp("2011-01-03"),
        train_end=day,
        rows=600,
        symbols=("X", "Y", "Z"),
    )


def test_a_saved_model_is_named_by_its_hash_and_loads_to_the_same_predictions(
    saved_model, tmp_path
):
    path, sha256 = save_model(saved_model, tmp_path / "models")
    loaded = load_model(path, sha256)
    rows = np.random.default_rng(7).normal(size=(20, 5))

    assert path.name == f"{sha256}.joblib" and file_sha256(path) == sha256
    assert (
        predict_probability(loaded.model, rows) == predict_probability(saved_model.model, rows)
    ).all()
    assert loaded.trained_through == saved_model.trained_through
    assert loaded.sklearn_version == sklearn.__version__
    assert [p.name for p in (tmp_path / "models").iterdir()] == [path.name]  # no temp file left


def test_a_changed_model_file_is_refused_before_it_is_unpickled(saved_model, tmp_path):
    path, sha256 = save_model(saved_model, tmp_path)
    with open(path, "ab") as handle:
        handle.write(b"tampered")

    with pytest.raises(OperatorError, match="has changed") as refused:
        load_model(path, sha256)

    assert "never retrained silently" in refused.value.hint


def test_a_missing_model_file_is_an_error_not_a_retrain(tmp_path):
    with pytest.raises(OperatorError, match="is missing"):
        load_model(tmp_path / f"{'0' * 64}.joblib", "0" * 64)


def test_a_model_saved_by_another_scikit_learn_is_refused(saved_model, tmp_path):
    path, sha256 = save_model(replace(saved_model, sklearn_version="0.24.2"), tmp_path)

    with pytest.raises(OperatorError, match="saved by scikit-learn 0.24.2"):
        load_model(path, sha256)
