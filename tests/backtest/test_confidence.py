"""Bootstrap intervals and trade-order Monte Carlo: seeded, and centred where they should be."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest.confidence import (
    max_drawdowns,
    out_of_sample_confidence,
    sharpe_ratios,
    stationary_bootstrap,
)
from engine.research.validation import ValidationPolicy, evaluate
from tests.config.factories import make_evidence


def _run(seed=1, drift=0.0006, n=2520):
    rng = np.random.default_rng(seed)
    returns = rng.normal(drift, 0.01, n)
    equity = pd.Series(100_000 * np.cumprod(1 + returns))
    trades = pd.DataFrame({"pnl": rng.normal(150, 1_000, 200), "status": "closed"})
    return returns, equity, trades


def test_the_same_inputs_and_seed_give_the_same_intervals():
    _, equity, trades = _run()
    first = out_of_sample_confidence(equity, trades, init_cash=100_000, bars_per_year=252)
    again = out_of_sample_confidence(equity, trades, init_cash=100_000, bars_per_year=252)
    other = out_of_sample_confidence(equity, trades, init_cash=100_000, bars_per_year=252, seed=7)

    assert first.summary() == again.summary()
    assert first.summary() != other.summary()


def test_the_sharpe_interval_is_centred_on_the_estimate_and_as_wide_as_theory_says():
    returns, equity, trades = _run()
    spread = out_of_sample_confidence(equity, trades, init_cash=100_000, bars_per_year=252)
    point = float(sharpe_ratios(returns[None, :], 252)[0])
    summary = spread.summary()["sharpe"]

    assert summary["median"] == pytest.approx(point, abs=0.1)
    # Ten years of iid daily returns: the annual Sharpe's standard error is about 1/sqrt(10).
    assert summary["p95"] - summary["p05"] == pytest.approx(2 * 1.645 / np.sqrt(10), rel=0.25)


def test_blocks_keep_consecutive_bars_together():
    rng = np.random.default_rng(0)
    positions = stationary_bootstrap(5_000, 20, mean_block=10, rng=rng)
    continued = (np.diff(positions, axis=1) == 1) | (np.diff(positions, axis=1) == -4_999)

    # A new block starts with probability 1/10, so nine in ten steps follow on.
    assert continued.mean() == pytest.approx(0.9, abs=0.01)


def test_a_losing_streak_reshuffled_is_less_deep_than_all_losses_in_a_row():
    trades = pd.DataFrame({"pnl": [-1_000.0] * 10 + [1_500.0] * 10, "status": "closed"})
    equity = pd.Series(np.linspace(100_000, 105_000, 50))

    spread = out_of_sample_confidence(equity, trades, init_cash=100_000, bars_per_year=252)
    in_a_row = float(max_drawdowns(np.array([100_000 + np.cumsum(trades["pnl"])]), 100_000)[0])

    assert in_a_row == pytest.approx(0.10)
    assert spread.summary()["reshuffled_drawdown"]["p95"] <= in_a_row
    assert spread.summary()["reshuffled_drawdown"]["p05"] < in_a_row / 2


def test_a_policy_can_require_the_sharpes_5th_percentile_above_zero():
    _, equity, trades = _run(drift=0.0001)  # a Sharpe near 0.16: not confidently positive
    spread = out_of_sample_confidence(equity, trades, init_cash=100_000, bars_per_year=252)
    from engine.config.models import Confidence

    evidence = make_evidence(
        confidence=Confidence(
            method=spread.method, resamples=spread.resamples, seed=spread.seed, **spread.summary()
        )  # fmt: skip
    )

    assert evaluate(evidence, ValidationPolicy()).validated  # off by default
    verdict = evaluate(evidence, ValidationPolicy(min_sharpe_p05=0.0))
    assert not verdict.validated
    assert "5th percentile (bootstrap)" in verdict.reasons[0]
