"""The signals of :mod:`engine.strategies.builtins.ml_classifier` (see it for what it trades on).

Imported on the strategy's first use: the declaration lists it without pandas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine.data.bars import Bars
from engine.errors import InputError
from engine.strategies.base import Signals
from engine.strategies.builtins.ml_classifier import MlClassifierParams
from engine.strategies.indicators import atr
from engine.strategies.registry import implements


@implements("ml_classifier")
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
