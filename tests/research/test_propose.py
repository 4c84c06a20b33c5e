"""propose(): walk-forward + guards + policy on real bars, written down as a registered config."""

from __future__ import annotations

import pytest

from engine.backtest.settings import BacktestSettings
from engine.data.sample import sample_bars
from engine.research.config_registry import get_config
from engine.research.propose import propose
from engine.research.validation import ValidationPolicy
from engine.strategies import registry as strategy_registry
from engine.strategies.base import Signals, StrategyParams

SYMBOLS = ["AAPL", "GE", "CAT"]
GRID = {"fast": [5, 10, 20], "slow": [50, 100]}


@pytest.fixture(scope="module")
def bars():
    return sample_bars(SYMBOLS, start="2005-01-01", end="2012-12-31")


def test_a_proposal_carries_the_walk_forward_evidence_and_is_registered(store, bars):
    config, verdict = propose(
        store, bars, "sma_crossover", GRID, BacktestSettings(), ValidationPolicy(),
        folds=3, objective="sharpe", actor="ana",
    )  # fmt: skip
    evidence = config.evidence
    assert config.universe == bars.symbols  # the order the book was traded in
    assert len(evidence.folds) == 3
    # What would trade next is what the most recent in-sample window chose.
    assert config.params == evidence.folds[-1].params
    assert (config.params["fast"], config.params["slow"]) in {
        (f, s) for f in GRID["fast"] for s in GRID["slow"]
    }
    assert evidence.n_trials == 6
    assert (evidence.data_start, evidence.data_end) == (bars.index[0].date(), bars.index[-1].date())
    assert 0.0 <= evidence.deflated_sharpe <= 1.0
    assert 0.0 <= evidence.pbo <= 1.0
    assert evidence.lookahead_passed
    assert evidence.out_of_sample["trades"] > 0
    folds = evidence.folds
    assert all(a.test_end < b.test_start for a, b in zip(folds, folds[1:], strict=False))

    record = get_config(store, config.config_id)
    assert record.status == verdict.status
    assert record.config == config


def test_a_single_combination_cannot_show_overfitting_odds_and_is_rejected(store, bars):
    config, verdict = propose(
        store, bars, "sma_crossover", {"fast": [10], "slow": [50]}, BacktestSettings(),
        ValidationPolicy(), folds=3, objective="sharpe", actor="ana",
    )  # fmt: skip
    assert config.evidence.pbo is None
    assert any(
        "probability of backtest overfitting not computed" in w for w in config.evidence.warnings
    )
    assert verdict.status == "rejected"
    assert any("overfitting could not be computed" in r for r in verdict.reasons)


class _Peek(StrategyParams):
    window: int = 5


def _buys_before_up_days(bars, params: _Peek) -> Signals:
    tomorrow_up = bars.close.shift(-1) > bars.close  # reads the next bar: look-ahead
    return Signals(entries=tomorrow_up.fillna(False), exits=(~tomorrow_up).fillna(False))


@pytest.fixture
def peeking_strategy():
    name = "test_peeks_at_tomorrow"
    strategy_registry.register(name, _Peek, "Buys the day before an up day (cheats).")(
        _buys_before_up_days
    )
    yield name
    strategy_registry._STRATEGIES.pop(name, None)


def test_a_strategy_that_peeks_at_the_future_is_rejected_however_good_it_looks(
    store, bars, peeking_strategy
):
    config, verdict = propose(
        store, bars, peeking_strategy, {"window": [3, 5]}, BacktestSettings(),
        ValidationPolicy(), folds=3, objective="sharpe", actor="ana",
    )  # fmt: skip
    assert config.evidence.out_of_sample["sharpe"] > 2  # what a cheat looks like
    assert not config.evidence.lookahead_passed
    assert config.evidence.deflated_sharpe is not None  # found in a one-parameter grid
    assert verdict.status == "rejected"
    assert any(r.startswith("look-ahead check failed") for r in verdict.reasons)
    assert get_config(store, config.config_id).status == "rejected"
