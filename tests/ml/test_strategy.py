"""The ml_classifier strategy: same contract as every strategy, walk-forward or on a pinned model."""

from __future__ import annotations

import numpy as np
import pytest

from engine import strategies
from engine.errors import InputError, OperatorError
from engine.ml.model import save_model
from engine.ml.training import TrainingPlan, train_final_model
from engine.strategies import StrategyError
from engine.strategies.builtins.signals.ml_classifier import _horizon_exits, win_probability
from engine.strategies.indicators import atr
from tests.ml.conftest import FAST


@pytest.fixture(scope="module")
def walked(real_bars):
    """The strategy's params, win probabilities and signals on the real bars."""
    params = strategies.make_params("ml_classifier", FAST)
    return (
        params,
        win_probability(real_bars, params),
        strategies.compute_signals("ml_classifier", real_bars, params),
    )


@pytest.mark.parametrize("classifier", ["gradient_boosting", "logistic_regression"])
def test_the_look_ahead_check_passes(real_bars, classifier):
    result = strategies.check_lookahead(
        "ml_classifier", real_bars, {**FAST, "classifier": classifier}, points=6
    )

    assert result.passed, result.violations
    assert result.trading_bars > 0  # cut after every bar it trades, and at 6 more points
    warmup = strategies.check_warmup("ml_classifier", real_bars, {**FAST, "classifier": classifier})
    assert warmup.passed, warmup.violations


def test_it_enters_where_the_probability_is_above_the_threshold(walked):
    params, probability, signals = walked

    assert signals.entries.sum().sum() > 20
    assert (signals.entries == (probability > params.entry_probability)).all().all()


def test_a_higher_threshold_only_removes_entries(real_bars, walked):
    _, _, signals = walked
    stricter = strategies.compute_signals(
        "ml_classifier", real_bars, {**FAST, "entry_probability": 0.6}
    )

    assert (stricter.entries <= signals.entries).all().all()
    assert stricter.entries.sum().sum() < signals.entries.sum().sum()


def test_it_exits_a_horizon_after_the_last_entry_signal():
    entries = np.array([0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0], dtype=bool)[:, None]

    exits = _horizon_exits(entries, horizon=3)[:, 0]

    # Out 3 bars after the entry at 1; the entries at 5 and 6 hold until 3 bars after 6.
    assert np.flatnonzero(exits).tolist() == [4, 9]


def test_every_exit_is_a_horizon_after_an_entry_with_none_between(walked):
    params, _, signals = walked
    entries, exits = signals.entries.to_numpy(), signals.exits.to_numpy()

    for row, col in np.argwhere(exits):
        assert entries[row - params.horizon, col]
        assert not entries[row - params.horizon + 1 : row + 1, col].any()


def test_the_stop_is_atr_stop_atrs_below(real_bars, walked):
    params, _, signals = walked
    expected = params.atr_stop * atr(real_bars.high, real_bars.low, real_bars.close, 14)

    np.testing.assert_allclose(signals.stop_distance, expected)


def test_its_history_needs_cover_the_features_the_window_and_a_retrain(real_bars):
    params = strategies.make_params("ml_classifier", FAST)
    needed = strategies.get("ml_classifier").warmup(params) + 1

    with pytest.raises(InputError, match=f"needs at least {needed} bars"):
        strategies.compute_signals("ml_classifier", real_bars.iloc(slice(0, needed - 1)), params)


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"classifier": "random_forest"}, "classifier="),
        ({"model_file": "/tmp/model.joblib"}, "model_file and model_sha256 go together"),
        ({"model_file": "/tmp/m.joblib", "model_sha256": "abc"}, "64 lower-case hex digits"),
        ({"horizon": 0}, "horizon=0"),
        ({"entry_probability": 1.5}, "entry_probability=1.5"),
        ({"entry_probabilty": 0.6}, "did you mean 'entry_probability'"),
    ],
)
def test_bad_params_are_refused_with_what_to_do(values, says):
    with pytest.raises(InputError, match="ml_classifier") as refused:
        strategies.make_params("ml_classifier", values)

    assert says in str(refused.value)


# -- pinned: one saved model, never retrained ------------------------------------------------


@pytest.fixture
def pinned(real_bars, tmp_path):
    """Params pinning a model trained on the bars up to the end of 2007, and those bars' end."""
    history = real_bars.between(end="2007-12-31")
    params = strategies.make_params("ml_classifier", FAST)
    path, sha256 = save_model(
        train_final_model(history, TrainingPlan.from_params(params)), tmp_path
    )
    values = {**FAST, "model_file": str(path), "model_sha256": sha256}
    return values, history.index[-1]


def test_a_pinned_model_signals_only_from_the_last_bar_it_trained_on(real_bars, pinned):
    values, trained_through = pinned

    probability = win_probability(real_bars, strategies.make_params("ml_classifier", values))
    signals = strategies.compute_signals("ml_classifier", real_bars, values)

    assert probability.loc[: trained_through - np.timedelta64(1, "D")].isna().all().all()
    assert probability.loc[trained_through:].notna().all().all()
    assert not signals.entries.loc[: trained_through - np.timedelta64(1, "D")].any().any()
    assert signals.entries.loc[trained_through:].any().any()
    assert strategies.check_lookahead("ml_classifier", real_bars, values, points=4).passed


def test_a_live_step_on_a_short_history_gives_the_backtests_signal(real_bars, pinned):
    values, _ = pinned
    warmup = strategies.get("ml_classifier").warmup(strategies.make_params("ml_classifier", values))
    recent = real_bars.iloc(slice(len(real_bars) - warmup - 1, None))

    full = strategies.compute_signals("ml_classifier", real_bars, values)
    live = strategies.compute_signals("ml_classifier", recent, values)

    assert (live.entries.iloc[-1] == full.entries.iloc[-1]).all()
    np.testing.assert_array_equal(
        win_probability(recent, strategies.make_params("ml_classifier", values)).iloc[-1],
        win_probability(real_bars, strategies.make_params("ml_classifier", values)).iloc[-1],
    )


def test_a_changed_model_file_stops_the_strategy(real_bars, pinned):
    values, _ = pinned
    with open(values["model_file"], "ab") as handle:
        handle.write(b"\0")

    # Not bad input: a person must restore the file or approve a new model.
    with pytest.raises(OperatorError, match="has changed") as refused:
        strategies.compute_signals("ml_classifier", real_bars, values)

    assert "never retrained silently" in refused.value.hint


def test_a_pinned_model_refuses_params_it_was_not_trained_with(real_bars, pinned):
    values, _ = pinned

    with pytest.raises(StrategyError, match=r"trained with horizon=5 \(params say 10\)"):
        strategies.compute_signals("ml_classifier", real_bars, {**values, "horizon": 10})
