"""How good the classifier is out of sample, and a proposal that trades a saved, pinned model.

    >>> report = classifier_report(bars, params)                               # doctest: +SKIP
    >>> report.auc, report.precision, report.base_rate                         # doctest: +SKIP
    (0.54, 0.58, 0.53)
    >>> config, verdict, report = propose_ml(store, bars, {"entry_probability": [0.55, 0.6]},
    ...     BacktestSettings(), ValidationPolicy(), folds=3, objective="sharpe",
    ...     actor="ana")                                                       # doctest: +SKIP

Every probability scored here comes from a model trained only on bars before it (see
:mod:`engine.ml.training`), so the AUC and the precision are out of sample. The precision
is the share of wins among the bars whose probability is above the entry threshold: what
an entry signal has been worth, against the base rate of wins among all bars scored.

:func:`ml_evidence` is the strategy's evidence hook: every proposal of ``ml_classifier``
(``wb validate``, the notebooks, :func:`propose_ml`) walks it forward like any other
strategy (its backtest metrics are those of trading the out-of-sample predictions), and the
hook adds the classifier's figures to the evidence, trains the model to trade on the latest
window, saves it next to the store as ``models/<sha256>.joblib``, and pins that file and its
hash in the config's params: the live loop trades exactly that model and never retrains it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.data.bars import Bars
from engine.errors import InputError
from engine.ml.labels import forward_return_labels
from engine.ml.model import save_model
from engine.ml.training import (
    TrainingFold,
    TrainingPlan,
    train_final_model,
    walk_forward_predictions,
)
from engine.research.propose import (
    EvidenceAddition,
    EvidenceHook,
    build_proposal,
    judge,
    register_evidence_hook,
)
from engine.strategies import get, make_params

STRATEGY = "ml_classifier"
MODELS_DIR = "models"


@dataclass(frozen=True)
class ClassifierReport:
    """Out-of-sample quality of the classifier's probabilities over a span of bars."""

    #: Area under the ROC curve: 0.5 is no skill (None when only one class was seen).
    auc: float | None
    #: Share of wins among the bars above the entry threshold (None when there were none).
    precision: float | None
    #: Share of wins among every bar scored: what precision must beat.
    base_rate: float | None
    #: Bars x symbols with both a probability and a known label.
    scored: int
    #: Of those, how many were above the entry threshold.
    signals: int
    entry_probability: float
    folds: list[TrainingFold]
    #: Scored bars in bins of probability: how many, the mean probability given, and the
    #: share that won. Calibrated probabilities have the two close in every bin.
    reliability: pd.DataFrame

    def metrics(self) -> dict[str, float | None]:
        """The figures as a config's evidence keeps them (added to its out-of-sample metrics)."""
        return {
            "auc": self.auc,
            "precision_at_threshold": self.precision,
            "base_rate": self.base_rate,
            "scored_predictions": float(self.scored),
            "signals_above_threshold": float(self.signals),
        }


def classifier_report(bars: Bars, params: Any, start=None, end=None) -> ClassifierReport:
    """The out-of-sample AUC and precision of ``params``'s walk-forward models on ``bars``.

    ``params`` are ``ml_classifier`` params (a model or a dict); only bars from ``start``
    to ``end`` (inclusive; None: all) are scored, e.g. the walk-forward's test windows.
    """
    from sklearn.metrics import roc_auc_score

    params = make_params(get(STRATEGY), params)
    if params.pinned:
        raise InputError(
            "a pinned model cannot be scored out of sample on the bars it was trained on",
            hint="score the walk-forward params (leave model_file and model_sha256 unset)",
        )
    plan = TrainingPlan.from_params(params)
    predictions = walk_forward_predictions(bars, plan)
    labels = forward_return_labels(bars.close, plan.horizon, plan.min_return)
    span = slice(
        None if start is None else pd.Timestamp(start), None if end is None else pd.Timestamp(end)
    )
    probability = predictions.probability.loc[span].to_numpy()
    wins = labels.loc[span].to_numpy()
    scored = ~np.isnan(probability) & ~np.isnan(wins)
    probability, wins = probability[scored], wins[scored]
    above = probability > params.entry_probability
    return ClassifierReport(
        auc=float(roc_auc_score(wins, probability)) if len(np.unique(wins)) == 2 else None,
        precision=float(wins[above].mean()) if above.any() else None,
        base_rate=float(wins.mean()) if len(wins) else None,
        scored=int(scored.sum()),
        signals=int(above.sum()),
        entry_probability=params.entry_probability,
        folds=predictions.folds,
        reliability=reliability_table(probability, wins),
    )


def reliability_table(probability: np.ndarray, wins: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Rows (bars) binned by probability (equal-width bins over 0..1, empty ones left out):
    ``rows``, ``mean_probability`` and ``win_rate`` per bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "probability": probability, "win": wins})
    grouped = frame.groupby("bin").agg(
        rows=("win", "size"), mean_probability=("probability", "mean"), win_rate=("win", "mean")
    )
    labels = [f"{edges[i]:.1f}-{edges[i + 1]:.1f}" for i in grouped.index]
    return grouped.set_index(pd.Index(labels, name="probability"))


def propose_ml(store, bars: Bars, grid: Mapping[str, Sequence[Any]], settings, policy, **how):
    """(the config, the policy's verdict, the classifier report): an ML proposal, registered.

    :func:`engine.research.propose.propose` for ``ml_classifier`` over ``grid`` (``wb
    validate --strategy ml_classifier`` is the same, and ``how`` the same options),
    returning the classifier's report too: its evidence hook (:func:`ml_evidence`) adds the
    out-of-sample AUC and precision and pins the model trained on the latest window, saved
    in ``models_dir`` (default ``<data dir>/models``).
    """
    proposal = build_proposal(store, bars, STRATEGY, grid, settings, policy, **how)
    verdict = judge(store, proposal.config, policy, how["actor"])
    return proposal.config, verdict, proposal.addition.report


def ml_evidence(context):
    """The classifier's part of a proposal's evidence (an :class:`EvidenceAddition`).

    Scores the chosen params' walk-forward models over the out-of-sample windows, trains the
    model to trade on the latest window, saves it as ``models/<sha256>.joblib`` and pins its
    path and hash in the params the config trades.
    """
    params = context.params
    first_test = context.folds[0].test_start if context.folds else None
    bars = context.bars
    report = classifier_report(bars, params, start=first_test, end=bars.index[-1])
    saved = train_final_model(bars, TrainingPlan.from_params(params))
    if context.models_dir is not None:
        directory = context.models_dir
    elif context.store is not None:
        directory = context.store.data_dir / MODELS_DIR
    else:
        raise InputError(
            "the ML proposal needs somewhere to save its model",
            hint="pass a store or models_dir",
        )
    path, sha256 = save_model(saved, directory)

    warnings = []
    if report.auc is None:
        warnings.append("out-of-sample AUC not computed: only one class among the scored bars")
    if report.precision is None:
        warnings.append(
            f"precision not computed: no out-of-sample probability was above "
            f"{params.entry_probability}"
        )
    return EvidenceAddition(
        params={**params.model_dump(), "model_file": str(path.resolve()), "model_sha256": sha256},
        out_of_sample=report.metrics(),
        warnings=warnings,
        notes=(
            f"model {sha256[:12]}: {params.classifier}, trained on {saved.train_start:%Y-%m-%d}.."
            f"{saved.train_end:%Y-%m-%d} ({saved.rows} rows), trades from "
            f"{saved.trained_through:%Y-%m-%d}"
        ),
        artifacts={"model": sha256},
        report=report,
    )


def _check_grid_is_not_pinned(grid: Mapping[str, Sequence[Any]]) -> None:
    pinned = [name for name in ("model_file", "model_sha256") if name in grid]
    if pinned:
        raise InputError(
            f"the grid sets {', '.join(pinned)}: a proposal trains its own model",
            hint="leave model_file and model_sha256 out of the grid; propose_ml pins the model "
            "it trains",
        )


def _register() -> None:
    register_evidence_hook(
        STRATEGY, EvidenceHook(add=ml_evidence, check_grid=_check_grid_is_not_pinned)
    )


_register()
