"""Walk-forward training: a model per period, each trained only on labels known before it.

On each retrain day (the first bar of every block of ``retrain_every`` weekdays counted
from Monday 2000-01-03, so the days do not depend on where the data starts) a model is
fitted on the pooled rows of every symbol over the ``train_bars`` bars that end
``horizon + embargo`` bars before the day (see :mod:`engine.ml.labels`), and it predicts
every bar from that day until the next retrain day. The probabilities are therefore out
of sample everywhere, and a bar's probability is the same whether or not later bars
exist: the look-ahead check holds by construction.

Fitting is deterministic, and fitted models are kept in memory under the hash of exactly
what they were fitted on (rows, labels, plan). A sweep over the entry threshold, the
look-ahead check's truncated histories, and the folds of a walk-forward reuse them instead
of fitting the same window again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from engine.data.bars import Bars, weekday_block_starts
from engine.errors import InputError
from engine.ml.features import FEATURE_NAMES, FEATURE_WARMUP, compute_features, feature_cube
from engine.ml.labels import forward_return_labels, last_training_bar
from engine.ml.model import ModelSpec, SavedModel, fit_classifier, predict_probability

#: A Monday; blocks of ``retrain_every`` weekdays are counted from it (as momentum_rotation's
#: rebalances are), so a backtest and the live loop retrain on the same days.
RETRAIN_ANCHOR = np.datetime64("2000-01-03")
#: Fitted models kept in memory (a few hundred KB each).
CACHE_SIZE = 256


@dataclass(frozen=True)
class TrainingPlan:
    """What is learned, from which window, how often: everything that decides the models."""

    #: Bars ahead the label looks; a training row's label must be known before the model is used.
    horizon: int = 5
    #: A row is a win when its return over ``horizon`` bars is above this fraction.
    min_return: float = 0.0
    #: Bars dropped between the last training label and the first bar predicted.
    embargo: int = 5
    #: Bars (dates) of the rolling training window.
    train_bars: int = 504
    #: Weekdays between retrains.
    retrain_every: int = 63
    model: ModelSpec = field(default_factory=ModelSpec)

    def __post_init__(self):
        if self.horizon < 1 or self.embargo < 0 or self.train_bars < 1 or self.retrain_every < 1:
            raise InputError(
                f"invalid training plan: horizon={self.horizon}, embargo={self.embargo}, "
                f"train_bars={self.train_bars}, retrain_every={self.retrain_every}",
                hint="horizon, train_bars and retrain_every must be at least 1, embargo at least 0",
            )

    @classmethod
    def from_params(cls, params: Any) -> TrainingPlan:
        """The plan of an ``ml_classifier`` params set (or anything with the same fields)."""

        def same_named(record: type, *, besides: str = "") -> dict[str, Any]:
            """The params' values of ``record``'s fields (all but ``besides``)."""
            return {f.name: getattr(params, f.name) for f in fields(record) if f.name != besides}

        return cls(**same_named(cls, besides="model"), model=ModelSpec(**same_named(ModelSpec)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def first_model_bar(self) -> int:
        """The earliest bar position whose model can have a full window of complete features."""
        return FEATURE_WARMUP + self.train_bars + self.horizon + self.embargo

    @property
    def warmup(self) -> int:
        """Bars before the first bar that is sure to have a model (a retrain day may wait)."""
        return self.first_model_bar + self.retrain_every


@dataclass(frozen=True)
class TrainingFold:
    """One model of a walk-forward: the bars it predicted and the window it learned from."""

    predict_start: pd.Timestamp
    predict_end: pd.Timestamp
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    rows: int
    #: Share of winning rows in its training window.
    win_rate: float
    #: Why no model was fitted (then its bars get no probability), or None.
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("predict_start", "predict_end", "train_start", "train_end"):
            out[key] = out[key].date().isoformat()
        return out


@dataclass(frozen=True)
class WalkForwardPredictions:
    """Out-of-sample probabilities of a win (dates x symbols) and the folds that made them."""

    probability: pd.DataFrame
    folds: list[TrainingFold]


def retrain_days(index: pd.DatetimeIndex, every: int) -> np.ndarray:
    """True on the first bar of each block of ``every`` weekdays counted from RETRAIN_ANCHOR."""
    return weekday_block_starts(index, RETRAIN_ANCHOR, every)


def walk_forward_predictions(
    bars: Bars, plan: TrainingPlan, *, progress: bool | None = None
) -> WalkForwardPredictions:
    """The out-of-sample probability of every bar and symbol, by models retrained on schedule.

    A bar before the first model (see :attr:`TrainingPlan.first_model_bar`), with a missing
    feature, or in a period whose window could not be fitted has NaN. ``progress`` shows a
    bar while models are fitted (None: only in a terminal or notebook).
    """
    n_bars, n_symbols = bars.close.shape
    cube = feature_cube(compute_features(bars), n_symbols)
    labels = forward_return_labels(bars.close, plan.horizon, plan.min_return).to_numpy()
    starts = [
        int(p)
        for p in np.flatnonzero(retrain_days(bars.index, plan.retrain_every))
        if p >= plan.first_model_bar
    ]
    probability = np.full((n_bars, n_symbols), np.nan)
    folds: list[TrainingFold] = []
    stops = [*starts[1:], n_bars]
    schedule = tqdm(
        list(zip(starts, stops, strict=True)),
        desc="ml_classifier: walk-forward models",
        unit="model",
        disable=None if progress is None else not progress,
        leave=False,
    )
    for start, stop in schedule:
        last = last_training_bar(start, plan.horizon, plan.embargo)
        first = last - plan.train_bars + 1
        model, fold = _fold_model(bars, cube, labels, first, last, plan)
        folds.append(
            TrainingFold(
                predict_start=bars.index[start],
                predict_end=bars.index[stop - 1],
                **fold,
            )
        )
        if model is not None:
            rows = cube[start:stop].reshape(-1, cube.shape[2])
            probability[start:stop] = predict_probability(model, rows).reshape(-1, n_symbols)
    frame = pd.DataFrame(probability, index=bars.index, columns=bars.close.columns)
    return WalkForwardPredictions(probability=frame, folds=folds)


def train_final_model(bars: Bars, plan: TrainingPlan) -> SavedModel:
    """The model to trade after ``bars``: trained as a retrain on the bar after the last would be.

    Its window ends ``horizon + embargo`` bars before the end, like every walk-forward
    model's, and it may give signals from the last bar of ``bars`` on.
    """
    n_bars, n_symbols = bars.close.shape
    if n_bars < plan.first_model_bar:
        raise InputError(
            f"training needs at least {plan.first_model_bar} bars (features' warm-up "
            f"{FEATURE_WARMUP} + train_bars {plan.train_bars} + horizon {plan.horizon} + "
            f"embargo {plan.embargo}); the data has {n_bars}",
            hint="load a longer history, or choose a shorter train_bars",
        )
    cube = feature_cube(compute_features(bars), n_symbols)
    labels = forward_return_labels(bars.close, plan.horizon, plan.min_return).to_numpy()
    last = last_training_bar(n_bars, plan.horizon, plan.embargo)
    model, fold = _fold_model(bars, cube, labels, last - plan.train_bars + 1, last, plan)
    if model is None:
        raise InputError(
            f"no model could be trained on {fold['train_start']:%Y-%m-%d}.."
            f"{fold['train_end']:%Y-%m-%d}: {fold['skipped']}",
            hint="use a longer train_bars, more symbols, or a min_return that leaves both "
            "winning and losing rows",
        )
    return SavedModel(
        model=model,
        feature_names=FEATURE_NAMES,
        plan=plan.to_dict(),
        trained_through=bars.index[-1],
        train_start=fold["train_start"],
        train_end=fold["train_end"],
        rows=fold["rows"],
        symbols=tuple(bars.symbols),
    )


# -- one window ------------------------------------------------------------------------------


def _fold_model(bars, cube, labels, first: int, last: int, plan: TrainingPlan):
    """(the model fitted on bars first..last, or None; the fold's description)."""
    window = slice(first, last + 1)
    features = cube[window].reshape(-1, cube.shape[2])
    targets = labels[window].reshape(-1)
    row_bars = np.repeat(np.arange(last + 1 - first), cube.shape[1])
    usable = ~np.isnan(features).any(axis=1) & ~np.isnan(targets)
    features, targets, row_bars = features[usable], targets[usable], row_bars[usable]
    description = {
        "train_start": bars.index[first],
        "train_end": bars.index[last],
        "rows": int(len(targets)),
        "win_rate": float(targets.mean()) if len(targets) else float("nan"),
        "skipped": None,
    }
    model, why = _cached_fit(features, targets.astype(np.int8), row_bars, plan)
    description["skipped"] = why
    return model, description


_MODELS: OrderedDict[str, tuple[Any, str | None]] = OrderedDict()
_MODELS_LOCK = threading.Lock()  # the control room and the loop may share a process


def _cached_fit(features, targets, row_bars, plan: TrainingPlan):
    """fit_classifier, remembered under the hash of exactly what it is fitted on."""
    digest = hashlib.sha256()
    for part in (features, targets, row_bars):
        digest.update(np.ascontiguousarray(part).tobytes())
        digest.update(str(part.shape).encode())
    digest.update(json.dumps(plan.to_dict(), sort_keys=True).encode())
    key = digest.hexdigest()
    with _MODELS_LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    result = fit_classifier(
        features, targets, row_bars, plan.model, horizon=plan.horizon, embargo=plan.embargo
    )
    with _MODELS_LOCK:
        _MODELS[key] = result
        while len(_MODELS) > CACHE_SIZE:
            _MODELS.popitem(last=False)
    return result


def clear_model_cache() -> None:
    """Forget the fitted models kept in memory (the next call fits them again)."""
    with _MODELS_LOCK:
        _MODELS.clear()
