"""ML strategy timings: training time per walk-forward fold, prediction time per live step.

50 synthetic symbols (the ML tests' bars, returns with a little persistence so there is
something to learn), default ``ml_classifier`` params: a 504-bar rolling window (about
25,000 pooled rows per model), retrained every 63 weekdays, each model calibrated over 3
purged blocks (so 3 fits per fold). A live step is what the loop does each bar with an
approved config: the pinned model's file hashed and checked, features on the recent
history, one prediction per symbol, the signals checked by the guard.

    .venv/bin/python benchmarks/ml.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save  # noqa: E402
from engine import strategies  # noqa: E402
from engine.data.bars import Bars  # noqa: E402
from engine.ml.features import FEATURE_NAMES, compute_features  # noqa: E402
from engine.ml.model import predict_probability, save_model  # noqa: E402
from engine.ml.training import (  # noqa: E402
    TrainingPlan,
    clear_model_cache,
    train_final_model,
    walk_forward_predictions,
)
from tests.ml.conftest import synthetic_bars  # noqa: E402  (the ML tests' AR(1) bars)

SYMBOLS = 50
FOLDS = 4  # retrain periods timed per classifier (4 or 5, as the calendar falls)
LIVE_STEPS = 30


def training_per_fold(bars: Bars, classifier: str) -> dict:
    params = strategies.make_params("ml_classifier", {"classifier": classifier})
    plan = TrainingPlan.from_params(params)
    # Just long enough for FOLDS retrains after the first full window.
    history = bars.iloc(slice(0, plan.first_model_bar + FOLDS * plan.retrain_every))
    clear_model_cache()
    start = time.perf_counter()
    predictions = walk_forward_predictions(history, plan, progress=False)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    walk_forward_predictions(history, plan, progress=False)
    cached = time.perf_counter() - start
    folds = len(predictions.folds)
    return {
        f"{classifier}: folds timed": folds,
        f"{classifier}: rows per training window": predictions.folds[-1].rows,
        f"{classifier}: training time per fold (s)": round(cold / folds, 3),
        f"{classifier}: per fold when the model is cached, e.g. a threshold sweep (s)": round(
            cached / folds, 4
        ),
    }


def live_step(bars: Bars) -> dict:
    params = strategies.make_params("ml_classifier", {})
    saved = train_final_model(bars.iloc(slice(0, 1200)), TrainingPlan.from_params(params))
    with tempfile.TemporaryDirectory() as directory:
        path, sha256 = save_model(saved, directory)
        pinned = {"model_file": str(path), "model_sha256": sha256}
        warmup = strategies.get("ml_classifier").warmup(
            strategies.make_params("ml_classifier", pinned)
        )
        history = warmup + 21  # what a loop would load: the warm-up and a month more
        steps, predictions = [], []
        for end in range(1300, 1300 + LIVE_STEPS):
            recent = bars.iloc(slice(end - history, end))
            start = time.perf_counter()
            strategies.compute_signals("ml_classifier", recent, pinned)
            steps.append(time.perf_counter() - start)
            rows = compute_features(recent).to_numpy()[-SYMBOLS:]
            start = time.perf_counter()
            predict_probability(saved.model, rows)
            predictions.append(time.perf_counter() - start)
        size_kib = path.stat().st_size / 1024
    return {
        "live step: bars of history per step": history,
        "live step: model file size (KiB)": round(size_kib, 1),
        "live step: signals for 50 symbols, median (ms)": round(1000 * np.median(steps), 1),
        "live step: signals for 50 symbols, max (ms)": round(1000 * np.max(steps), 1),
        "live step: of which the model's prediction for 50 rows, median (ms)": round(
            1000 * np.median(predictions), 2
        ),
    }


def main() -> None:
    bars = synthetic_bars(seed=0, rows=1400, symbols=SYMBOLS, persistence=0.1)
    figures = {"symbols": SYMBOLS, "features": len(FEATURE_NAMES)}
    for classifier in ("gradient_boosting", "logistic_regression"):
        figures.update(training_per_fold(bars, classifier))
    figures.update(live_step(bars))
    save("ml", figures)


if __name__ == "__main__":
    main()
