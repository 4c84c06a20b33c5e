"""ML classifier: long when a calibrated model gives a win over the next bars a high probability.

A scikit-learn classifier (gradient boosting or logistic regression, calibrated) learns,
from the features of :mod:`engine.ml.features`, whether the close ``horizon`` bars ahead
will be above today's by more than ``min_return``. The strategy enters when that
probability is above ``entry_probability`` and exits ``horizon`` bars after the last
entry signal (a fresh signal while held extends the trade), or at the protective stop of
``atr_stop`` ATRs (with the backtest's ``stop="strategy"``).

It runs in one of two modes, both pure functions of the bars and the params:

- **walk-forward** (no ``model_file``): models are retrained on a fixed schedule inside
  the signal function, each only on labels known before the bars it predicts (purged, with
  an embargo; see :mod:`engine.ml.training`). Every signal is out of sample; this is what
  ``wb backtest``, ``wb sweep``, ``wb validate`` and the research notebook run.
- **pinned** (``model_file`` and ``model_sha256``): one saved model, checked against its
  hash when loaded and never retrained, gives signals from the last bar it was trained on
  onwards (none before: it has seen them). This is what a config proposed by
  :func:`engine.research.ml_evidence.propose_ml` trades in the live loop.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pydantic

from engine.data.bars import Bars
from engine.errors import InputError
from engine.strategies.base import Signals, StrategyParams
from engine.strategies.indicators import atr
from engine.strategies.registry import register

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class MlClassifierParams(StrategyParams):
    """The label, the model, its training schedule, the entry threshold and the stop."""

    horizon: int = pydantic.Field(
        5, ge=1, le=63, description="Bars ahead the model predicts, and bars a trade is held."
    )
    min_return: float = pydantic.Field(
        0.0,
        ge=-0.5,
        le=0.5,
        description="A bar counts as a win when its return over `horizon` bars is above this.",
    )
    entry_probability: float = pydantic.Field(
        0.55, gt=0, lt=1, description="Enter when the calibrated probability of a win is above it."
    )
    classifier: Literal["gradient_boosting", "logistic_regression"] = pydantic.Field(
        "gradient_boosting", description="The model: gradient boosting or logistic regression."
    )
    boosting_rounds: int = pydantic.Field(
        100, ge=1, le=2000, description="Boosting iterations (gradient boosting)."
    )
    max_depth: int = pydantic.Field(3, ge=1, le=12, description="Tree depth (gradient boosting).")
    regularization: float = pydantic.Field(
        1.0, gt=0, description="L2 strength (boosting's l2_regularization; logistic C = 1 / it)."
    )
    calibration: Literal["sigmoid", "isotonic"] = pydantic.Field(
        "sigmoid", description="How probabilities are calibrated (isotonic wants more rows)."
    )
    train_bars: int = pydantic.Field(
        504, ge=63, description="Bars in each model's rolling training window."
    )
    retrain_every: int = pydantic.Field(63, ge=1, description="Weekdays between retrains.")
    embargo: int = pydantic.Field(
        5, ge=0, description="Bars kept between the last training label and the first prediction."
    )
    atr_window: int = pydantic.Field(14, ge=1, description="Bars in the stop's ATR.")
    atr_stop: float = pydantic.Field(2.0, gt=0, description="Stop distance below entry, in ATRs.")
    random_state: int = pydantic.Field(0, ge=0, description="Seed of the model's randomness.")
    model_file: str | None = pydantic.Field(
        None, description="A saved model to trade instead of retraining (pinned mode)."
    )
    model_sha256: str | None = pydantic.Field(
        None, description="The sha256 the model file must have; checked on every load."
    )

    @pydantic.model_validator(mode="after")
    def _pinned_model_has_its_hash(self):
        if (self.model_file is None) != (self.model_sha256 is None):
            raise ValueError(
                "model_file and model_sha256 go together: give both to trade a saved model, "
                "or neither to retrain walk-forward"
            )
        if self.model_sha256 is not None and not _SHA256.match(self.model_sha256):
            raise ValueError("model_sha256 must be 64 lower-case hex digits (a sha256)")
        return self

    @property
    def pinned(self) -> bool:
        """Whether it trades one saved model rather than retraining walk-forward."""
        return self.model_file is not None


def _warmup(params: MlClassifierParams) -> int:
    from engine.ml.features import FEATURE_WARMUP
    from engine.ml.training import TrainingPlan

    if params.pinned:
        return FEATURE_WARMUP
    return TrainingPlan.from_params(params).warmup


@register(
    "ml_classifier",
    MlClassifierParams,
    "ML: long when a calibrated classifier, retrained walk-forward, gives a win over the next "
    "bars a high probability; out after the horizon or at an ATR stop.",
    warmup=_warmup,
)
def ml_classifier(bars: Bars, params: MlClassifierParams) -> Signals:
    """Entries where the probability of a win is above ``entry_probability``; exits ``horizon``
    bars after the last entry signal."""
    probability = win_probability(bars, params)
    entries = (probability > params.entry_probability).to_numpy()  # NaN: no entry
    exits = _horizon_exits(entries, params.horizon)
    stop_distance = params.atr_stop * atr(bars.high, bars.low, bars.close, params.atr_window)
    return Signals(
        entries=pd.DataFrame(entries, index=bars.index, columns=bars.close.columns),
        exits=pd.DataFrame(exits, index=bars.index, columns=bars.close.columns),
        stop_distance=stop_distance,
    )


def win_probability(bars: Bars, params: MlClassifierParams) -> pd.DataFrame:
    """The out-of-sample probability of a win for each bar and symbol (NaN where none)."""
    from engine.ml.training import TrainingPlan, walk_forward_predictions

    if params.pinned:
        return _pinned_probability(bars, params)
    return walk_forward_predictions(bars, TrainingPlan.from_params(params)).probability


def _pinned_probability(bars: Bars, params: MlClassifierParams) -> pd.DataFrame:
    from engine.ml.features import FEATURE_NAMES, compute_features
    from engine.ml.model import load_model, predict_probability
    from engine.ml.training import TrainingPlan

    saved = load_model(Path(params.model_file), params.model_sha256)
    expected = TrainingPlan.from_params(params).to_dict()
    changed = [
        f"{key}={saved.plan[key]!r} (params say {expected[key]!r})"
        for key in expected
        if saved.plan.get(key) != expected[key]
    ]
    if changed:
        raise InputError(
            f"the model file was trained with {', '.join(changed)}",
            hint="trade the model with the params recorded in its config; to change them, "
            "train and propose a new config",
        )
    if tuple(saved.feature_names) != FEATURE_NAMES:
        raise InputError(
            f"the model file expects the features {', '.join(saved.feature_names)}; this "
            f"engine computes {', '.join(FEATURE_NAMES)}",
            hint="re-run the ML research notebook to train and propose a model on the "
            "current features",
        )
    rows = compute_features(bars).to_numpy(dtype=float)
    probability = predict_probability(saved.model, rows).reshape(bars.close.shape)
    # The model has seen every bar before the last it trained on: it gives no signal there.
    probability[bars.index < saved.trained_through] = np.nan
    return pd.DataFrame(probability, index=bars.index, columns=bars.close.columns)


def _horizon_exits(entries: np.ndarray, horizon: int) -> np.ndarray:
    """True ``horizon`` bars after an entry signal with no entry signal since."""
    signalled = np.zeros_like(entries)
    signalled[horizon:] = entries[:-horizon]
    since = np.zeros_like(entries)
    for lag in range(horizon):  # entries in the last `horizon` bars, this one included
        since[lag:] |= entries[: len(entries) - lag]
    return signalled & ~since
