"""Walk-forward training: every model learns only from the past, on a schedule fixed by the calendar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.bars import FIELDS, Bars
from engine.errors import InputError
from engine.ml import training
from engine.ml.model import ModelSpec
from engine.ml.training import (
    TrainingPlan,
    retrain_days,
    train_final_model,
    walk_forward_predictions,
)

PLAN = TrainingPlan(
    horizon=5,
    embargo=3,
    train_bars=252,
    retrain_every=63,
    model=ModelSpec(boosting_rounds=20, max_depth=2),
)


def test_retrain_days_are_fixed_by_the_calendar_not_by_where_the_data_starts():
    index = pd.bdate_range("2011-01-03", "2013-12-31")

    full = index[retrain_days(index, 21)]
    later = index[200:][retrain_days(index[200:], 21)]

    assert set(later[1:]) == {day for day in full if day > index[200]}
    assert 11 <= len(full[full.year == 2012]) <= 13  # about monthly


def test_every_model_learns_only_from_labels_known_before_it_predicts(real_bars):
    predictions = walk_forward_predictions(real_bars, PLAN)
    position = {day: i for i, day in enumerate(real_bars.index)}

    assert len(predictions.folds) >= 10
    for fold in predictions.folds:
        last_label_known = position[fold.train_end] + PLAN.horizon
        assert last_label_known + PLAN.embargo < position[fold.predict_start]
        assert position[fold.train_end] - position[fold.train_start] + 1 == PLAN.train_bars
    # The folds tile the predicted bars: each starts the bar after the last one ended.
    for before, after in zip(predictions.folds, predictions.folds[1:], strict=False):
        assert position[after.predict_start] == position[before.predict_end] + 1
    assert predictions.folds[-1].predict_end == real_bars.index[-1]


def test_nothing_is_predicted_before_the_first_model(real_bars):
    predictions = walk_forward_predictions(real_bars, PLAN)
    first = real_bars.index.get_loc(predictions.folds[0].predict_start)

    assert predictions.probability.iloc[:first].isna().all().all()
    assert predictions.probability.iloc[first:].notna().mean().mean() > 0.95
    assert first >= PLAN.first_model_bar


def test_a_probability_stays_put_when_the_future_is_rewritten(real_bars):
    cut = 900
    earlier = np.arange(len(real_bars))[:, None] < cut
    rewritten = Bars(
        *(
            getattr(real_bars, f).where(
                np.broadcast_to(earlier, real_bars.close.shape), getattr(real_bars, f)[::-1].values
            )
            for f in FIELDS
        )
    )

    before = walk_forward_predictions(real_bars, PLAN).probability
    after = walk_forward_predictions(rewritten, PLAN).probability

    pd.testing.assert_frame_equal(before.iloc[:cut], after.iloc[:cut])
    assert not before.iloc[cut:].equals(after.iloc[cut:])


def test_a_recent_history_long_enough_for_the_window_gives_the_backtests_probabilities(real_bars):
    # The live loop computes on a recent history of `warmup` bars; the bars it trades on
    # must get the probabilities the backtest gave them.
    recent = real_bars.iloc(slice(len(real_bars) - PLAN.warmup - 60, None))

    full = walk_forward_predictions(real_bars, PLAN).probability.iloc[-60:]
    live = walk_forward_predictions(recent, PLAN).probability.iloc[-60:]

    pd.testing.assert_frame_equal(full, live)


def test_each_window_is_fitted_once_however_often_it_is_asked_for(real_bars, monkeypatch):
    training.clear_model_cache()
    fitted = []
    real_fit = training.fit_classifier
    monkeypatch.setattr(
        training, "fit_classifier", lambda *a, **k: fitted.append(1) or real_fit(*a, **k)
    )

    first = walk_forward_predictions(real_bars, PLAN)
    n_models = len(fitted)
    again = walk_forward_predictions(real_bars.iloc(slice(0, 1100)), PLAN)

    assert n_models == len(first.folds)
    assert len(fitted) == n_models  # the shorter history's windows were all fitted already
    pd.testing.assert_frame_equal(again.probability, first.probability.iloc[:1100])


def test_the_model_to_trade_is_trained_on_the_latest_window(real_bars):
    saved = train_final_model(real_bars, PLAN)
    end = len(real_bars) - 1

    assert saved.trained_through == real_bars.index[-1]
    assert saved.train_end == real_bars.index[end - PLAN.horizon - PLAN.embargo]
    assert saved.rows == PLAN.train_bars * len(real_bars.symbols)
    assert saved.plan == PLAN.to_dict()


def test_too_short_a_history_for_a_model_says_how_much_is_needed(real_bars):
    with pytest.raises(InputError, match=f"at least {PLAN.first_model_bar} bars"):
        train_final_model(real_bars.iloc(slice(0, 300)), PLAN)
