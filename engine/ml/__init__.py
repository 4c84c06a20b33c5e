"""Machine learning for strategies: features, labels, calibrated models, walk-forward training.

    >>> from engine.ml import compute_features, TrainingPlan, walk_forward_predictions
    >>> predictions = walk_forward_predictions(bars, TrainingPlan(train_bars=252))  # doctest: +SKIP
    >>> predictions.probability.tail()                                              # doctest: +SKIP

The strategy that trades these predictions is ``ml_classifier``
(:mod:`engine.strategies.builtins.ml_classifier`); use it like any other strategy in
``wb backtest``, ``wb sweep`` and ``wb validate``.
:func:`engine.research.ml_evidence.propose_ml` proposes a config that pins a saved model for
the live loop (research sits above this package: nothing here imports it). scikit-learn is
imported on first use, not here.
"""

from engine.ml.features import FEATURE_NAMES, FEATURE_WARMUP, compute_features
from engine.ml.labels import forward_return_labels, forward_returns, purged_splits
from engine.ml.model import ModelSpec, SavedModel, file_sha256, load_model, save_model
from engine.ml.training import (
    TrainingFold,
    TrainingPlan,
    WalkForwardPredictions,
    clear_model_cache,
    retrain_days,
    train_final_model,
    walk_forward_predictions,
)

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_WARMUP",
    "ModelSpec",
    "SavedModel",
    "TrainingFold",
    "TrainingPlan",
    "WalkForwardPredictions",
    "clear_model_cache",
    "compute_features",
    "file_sha256",
    "forward_return_labels",
    "forward_returns",
    "load_model",
    "purged_splits",
    "retrain_days",
    "save_model",
    "train_final_model",
    "walk_forward_predictions",
]
