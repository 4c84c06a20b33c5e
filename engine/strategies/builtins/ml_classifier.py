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

Its signal functions are in :mod:`engine.strategies.builtins.signals.ml_classifier`,
imported on the strategy's first use (listing it needs no pandas).
"""

from __future__ import annotations

import re
from typing import Literal

import pydantic

from engine.strategies.base import StrategyParams
from engine.strategies.registry import declare

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


declare(
    "ml_classifier",
    MlClassifierParams,
    "ML: long when a calibrated classifier, retrained walk-forward, gives a win over the next "
    "bars a high probability; out after the horizon or at an ATR stop.",
    warmup=_warmup,
    code="engine.strategies.builtins.signals.ml_classifier",
)
