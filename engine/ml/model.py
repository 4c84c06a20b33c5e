"""The classifier: a scikit-learn pipeline with calibrated probabilities, fitted and saved.

A pipeline is a scaler and a classifier chosen by name (gradient boosting or logistic
regression), wrapped in :class:`~sklearn.calibration.CalibratedClassifierCV` over purged
time blocks, so that "probability 0.6" means about six wins in ten and a threshold on it
means the same thing whichever classifier produced it. Fitting is deterministic: fixed
random state, and one thread (the same bars give the same model on any machine, and two
cores shared with other work are not oversubscribed).

A fitted model is saved with :func:`save_model` as a joblib file named by the sha256 of its
bytes, and loaded with :func:`load_model`, which checks that hash *before* unpickling: a
changed or missing file is a clear error, never a silent retrain. joblib files are
pickles, so only load files whose hash a config recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from engine.errors import InputError, OperatorError
from engine.ml.labels import purged_splits

CLASSIFIERS = ("gradient_boosting", "logistic_regression")
CALIBRATIONS = ("sigmoid", "isotonic")
#: Purged time blocks of the calibration: each block calibrates a model fitted on the others.
CALIBRATION_FOLDS = 3
#: Fewest rows of each class a training window needs, per calibration block.
MIN_ROWS_PER_CLASS = 10
#: Format of the saved bundle; a file of another format is refused.
MODEL_FORMAT = 1
MODEL_SUFFIX = ".joblib"


@dataclass(frozen=True)
class ModelSpec:
    """The choices that decide a fitted model, besides its training rows."""

    classifier: Literal["gradient_boosting", "logistic_regression"] = "gradient_boosting"
    #: Boosting iterations (gradient boosting only).
    boosting_rounds: int = 100
    #: Depth of each tree (gradient boosting only).
    max_depth: int = 3
    #: L2 strength: gradient boosting's l2_regularization; logistic regression's C is 1 / it.
    regularization: float = 1.0
    calibration: Literal["sigmoid", "isotonic"] = "sigmoid"
    random_state: int = 0

    def __post_init__(self):
        if self.classifier not in CLASSIFIERS:
            raise InputError(
                f"unknown classifier {self.classifier!r}",
                hint=f"use one of {', '.join(CLASSIFIERS)}",
            )
        if self.calibration not in CALIBRATIONS:
            raise InputError(
                f"unknown calibration {self.calibration!r}",
                hint=f"use one of {', '.join(CALIBRATIONS)}",
            )


def build_pipeline(spec: ModelSpec):
    """An unfitted pipeline: a standard scaler, then the classifier ``spec`` names."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if spec.classifier == "gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        classifier = HistGradientBoostingClassifier(
            max_iter=spec.boosting_rounds,
            max_depth=spec.max_depth,
            l2_regularization=spec.regularization,
            # Early stopping would hold out a random tenth of a window whose rows are
            # ordered in time, and switch itself on or off with the window's size.
            early_stopping=False,
            random_state=spec.random_state,
        )
    else:
        from sklearn.linear_model import LogisticRegression

        classifier = LogisticRegression(
            C=1.0 / spec.regularization, max_iter=1000, random_state=spec.random_state
        )
    return Pipeline([("scale", StandardScaler()), ("classify", classifier)])


def fit_classifier(
    features: np.ndarray,
    labels: np.ndarray,
    row_bars: np.ndarray,
    spec: ModelSpec,
    *,
    horizon: int,
    embargo: int,
):
    """(the fitted, calibrated model, None) or (None, why it could not be fitted).

    ``features`` are the training rows (no NaN), ``labels`` 0/1, ``row_bars`` each row's
    bar position (for the purged calibration blocks). A window that cannot be fitted --
    too few rows, or one class missing from a calibration block -- is not an error: the
    model is skipped and the bars it would have predicted get no signal.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from threadpoolctl import threadpool_limits

    counts = np.bincount(labels.astype(int), minlength=2)
    needed = MIN_ROWS_PER_CLASS * CALIBRATION_FOLDS
    if counts.min() < needed:
        return None, (
            f"{counts[1]} winning and {counts[0]} losing rows; each needs at least {needed}"
        )
    splits = purged_splits(row_bars, CALIBRATION_FOLDS, horizon, embargo)
    for train, test in splits:
        for part, rows in (("training", train), ("calibration", test)):
            if len(np.unique(labels[rows])) < 2:
                return None, f"a {part} block has only one class"
    model = CalibratedClassifierCV(
        build_pipeline(spec), method=spec.calibration, cv=splits, ensemble=True
    )
    with threadpool_limits(limits=1):
        model.fit(features, labels)
    return model, None


def predict_probability(model, features: np.ndarray) -> np.ndarray:
    """The calibrated probability of a win for each row; NaN for rows with a missing feature."""
    from threadpoolctl import threadpool_limits

    probability = np.full(len(features), np.nan)
    complete = ~np.isnan(features).any(axis=1)
    if complete.any():
        with threadpool_limits(limits=1):
            probability[complete] = model.predict_proba(features[complete])[:, 1]
    return probability


# -- saving and loading ---------------------------------------------------------------------


@dataclass(frozen=True)
class SavedModel:
    """A fitted model with what it was trained on, as saved to (and loaded from) its file."""

    model: Any
    #: The feature columns it expects, in order (engine.ml.features.FEATURE_NAMES when saved).
    feature_names: tuple[str, ...]
    #: The training plan (label, window, model spec) as plain data; see engine.ml.training.
    plan: dict[str, Any]
    #: The last bar of the data it saw: it may give signals from this bar on, never before.
    trained_through: pd.Timestamp
    #: Dates of its first and last training rows, and how many rows there were.
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    rows: int
    symbols: tuple[str, ...]
    sklearn_version: str = ""
    format: int = MODEL_FORMAT
    metadata: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Everything but the fitted model, as plain data (for a config's notes or a report)."""
        described = asdict(self)
        described.pop("model")
        for key in ("trained_through", "train_start", "train_end"):
            described[key] = described[key].isoformat()
        return json.loads(json.dumps(described, default=str))


def file_sha256(path: str | Path) -> str:
    """The sha256 of the file's bytes, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(saved: SavedModel, directory: str | Path) -> tuple[Path, str]:
    """(the file's path, its sha256): ``saved`` written to ``directory/<sha256>.joblib``.

    The name is the content's hash, so a file is never overwritten by another model, and
    saving the same bytes twice gives the same file.
    """
    import joblib
    import sklearn

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not saved.sklearn_version:
        saved = replace(saved, sklearn_version=sklearn.__version__)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".partial")
    os.close(handle)
    try:
        joblib.dump(saved, temporary)
        sha256 = file_sha256(temporary)
        path = directory / f"{sha256}{MODEL_SUFFIX}"
        os.replace(temporary, path)  # atomic: a reader never sees half a model
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path, sha256


def load_model(path: str | Path, sha256: str) -> SavedModel:
    """The model saved at ``path``, once its bytes are shown to hash to ``sha256``.

    Raises OperatorError when the file is missing or its hash differs (it must be restored,
    never replaced by a silent retrain), and when it was saved by another scikit-learn
    version or in another format (its predictions could differ from the evidence's).
    """
    import joblib
    import sklearn

    path = Path(path)
    again = (
        "restore the file from a backup of the data dir; to use a new model, re-run the ML "
        "research notebook and approve the config it proposes (models are never retrained "
        "silently)"
    )
    if not path.is_file():
        raise OperatorError(f"the model file {path} is missing", hint=again)
    actual = file_sha256(path)
    if actual != sha256:
        raise OperatorError(
            f"the model file {path} has changed: its sha256 is {actual[:16]}..., the config "
            f"recorded {sha256[:16]}...",
            hint=again,
        )
    if sha256 in _LOADED:  # the same bytes were unpickled and checked before
        return _LOADED[sha256]
    saved = joblib.load(path)
    if not isinstance(saved, SavedModel) or saved.format != MODEL_FORMAT:
        raise OperatorError(
            f"the model file {path} is not a workbench model of format {MODEL_FORMAT}",
            hint=again,
        )
    if saved.sklearn_version != sklearn.__version__:
        raise OperatorError(
            f"the model file {path} was saved by scikit-learn {saved.sklearn_version}; this "
            f"environment has {sklearn.__version__}, whose predictions may differ",
            hint="install the version it was saved with, or re-run the ML research notebook "
            "to train, validate and approve a model under this one",
        )
    _LOADED[sha256] = saved
    return saved


#: Models already loaded, by the sha256 of their file. The file is still hashed on every
#: load (a millisecond or two), so a file changed under a running loop is caught.
_LOADED: dict[str, SavedModel] = {}
