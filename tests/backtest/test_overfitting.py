"""The deflated Sharpe ratio and the probability of backtest overfitting, by their properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from vectorbt.returns import metrics as vbt_metrics

from engine.backtest.overfitting import (
    deflated_sharpe_of_trials,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    per_bar_sharpe,
    probability_of_backtest_overfitting,
)
from engine.errors import InputError


def noise(seed: int, bars: int = 1000, trials: int = 40) -> pd.DataFrame:
    """Trials with no skill at all: independent zero-mean daily returns."""
    return pd.DataFrame(np.random.default_rng(seed).normal(0, 0.01, (bars, trials)))


def with_one_skilled(seed: int) -> pd.DataFrame:
    trials = noise(seed)
    trials[0] += 0.0025  # about 4 annualised Sharpe on 1% daily volatility: unmistakable
    return trials


def test_the_papers_numerical_example():
    # Bailey & Lopez de Prado (2014), section "A numerical example": 100 trials, the best
    # with an annualised Sharpe of 2.5 over 5 years of daily returns (T=1250), the trials'
    # annualised Sharpe variance 0.5, skew -3, kurtosis 10. Annualised with 250 days:
    # SR0 = sqrt(0.5/250) * ((1-g) Z(1-1/100) + g Z(1-1/(100e))) = 0.1132 per day, and
    # DSR = Z[(0.1581 - 0.1132) sqrt(1249) / sqrt(1 + 3*0.1581 + 9/4*0.1581^2)] = 0.9004.
    assert expected_max_sharpe(100, 0.5 / 250) == pytest.approx(0.1132, abs=1e-4)
    assert deflated_sharpe_ratio(2.5 / 250**0.5, 100, 0.5 / 250, 1250, -3, 10) == pytest.approx(
        0.9004, abs=1e-4
    )


def test_it_agrees_with_vectorbts_implementation():
    for sharpe, trials, variance, n_obs, skew, kurtosis in [
        (0.08, 20, 0.001, 500, -0.5, 5.0),
        (0.02, 300, 0.0004, 2520, 0.2, 3.5),
    ]:
        theirs = vbt_metrics.deflated_sharpe_ratio(
            est_sharpe=np.array([sharpe]),
            var_sharpe=variance,
            nb_trials=trials,
            backtest_horizon=n_obs,
            skew=np.array([skew]),
            kurtosis=np.array([kurtosis]),
        )[0]
        assert deflated_sharpe_ratio(
            sharpe, trials, variance, n_obs, skew, kurtosis
        ) == pytest.approx(theirs)


def test_more_trials_deflate_the_same_sharpe_further():
    values = [deflated_sharpe_ratio(0.08, n, 0.001, 1000) for n in (1, 10, 100, 1000)]
    assert values == sorted(values, reverse=True) and values[0] > 0.99


def test_pure_noise_has_a_low_deflated_sharpe_and_pbo_near_a_coin_flip():
    pbos = [probability_of_backtest_overfitting(noise(seed)) for seed in range(8)]
    # One history's splits are correlated, so single values scatter; their mean does not.
    assert 0.4 <= np.mean(pbos) <= 0.6
    assert all(deflated_sharpe_of_trials(noise(seed)) < 0.9 for seed in range(8))


def test_one_skilled_trial_among_noise_has_low_pbo_and_a_high_deflated_sharpe():
    for seed in range(3):
        trials = with_one_skilled(seed)
        assert probability_of_backtest_overfitting(trials) < 0.1
        assert deflated_sharpe_of_trials(trials) > 0.95
        assert deflated_sharpe_of_trials(trials, selected=0) > 0.95


def test_bad_inputs_are_clear_errors():
    with pytest.raises(InputError, match="even number"):
        probability_of_backtest_overfitting(noise(0), partitions=5)
    with pytest.raises(InputError, match="cannot be cut into 10 blocks"):
        probability_of_backtest_overfitting(noise(0, bars=15))
    with pytest.raises(InputError, match="at least 2 trials"):
        probability_of_backtest_overfitting(noise(0, trials=1))
    gappy = noise(0)
    gappy.iloc[3, 2] = np.nan
    with pytest.raises(InputError, match="missing values"):
        probability_of_backtest_overfitting(gappy)


def test_the_moments_and_ranks_are_scipys():
    from scipy import stats

    trials = noise(7, bars=300, trials=12)
    trials[3] = np.random.default_rng(1).standard_t(3, 300) * 0.01  # fat tails, some skew
    sharpes = per_bar_sharpe(trials.to_numpy())
    chosen = trials[3].to_numpy()
    expected = deflated_sharpe_ratio(
        float(sharpes[3]),
        n_trials=12,
        sharpe_variance=float(np.var(sharpes, ddof=1)),
        n_obs=300,
        skew=float(stats.skew(chosen)),
        kurtosis=float(stats.kurtosis(chosen, fisher=False)),
    )
    assert deflated_sharpe_of_trials(trials, selected=3) == pytest.approx(expected, rel=1e-12)
