"""Overfitting guards: how likely is a sweep's winner to be luck?

- :func:`deflated_sharpe_ratio` (Bailey & Lopez de Prado, 2014): the probability that the
  true Sharpe ratio of the selected strategy is above the Sharpe the best of ``n_trials``
  worthless strategies would show by chance, allowing for skewed, fat-tailed returns and a
  short record.
- :func:`probability_of_backtest_overfitting` (Bailey, Borwein, Lopez de Prado & Zhu,
  2015): combinatorially symmetric cross-validation. Split the history into blocks; for
  every way of choosing half of them as "in sample", pick the best trial there and see
  where it ranks on the other half. PBO is the share of splits where it ranks in the
  bottom half: 0.5 means the selection adds nothing, near 0 means it carries over.

Sharpe ratios here are per bar (not annualised), as the formulas require.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from statistics import NormalDist

import numpy as np
import pandas as pd

from engine.errors import InputError

EULER_MASCHERONI = 0.5772156649015329
#: The standard normal distribution (the standard library's: scipy.stats takes a second to
#: import, for two functions a walk-forward's evidence needs).
NORMAL = NormalDist()


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """The Sharpe ratio the best of ``n_trials`` zero-skill trials shows on average (per bar).

    ``sharpe_variance`` is the variance of the trials' Sharpe ratios. With one trial
    nothing was selected, so the benchmark is 0.
    """
    if n_trials < 1:
        raise InputError(f"n_trials must be at least 1, not {n_trials}")
    if n_trials == 1:
        return 0.0
    gamma = EULER_MASCHERONI
    z = (1 - gamma) * NORMAL.inv_cdf(1 - 1 / n_trials) + gamma * NORMAL.inv_cdf(
        1 - 1 / (n_trials * math.e)
    )
    return math.sqrt(max(sharpe_variance, 0.0)) * z


def deflated_sharpe_ratio(
    sharpe: float,
    n_trials: int,
    sharpe_variance: float,
    n_obs: int,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """The probability (0-1) that the selected strategy's true Sharpe beats luck across ``n_trials``.

    ``sharpe`` is the selected strategy's per-bar Sharpe ratio over ``n_obs`` returns whose
    ``skew`` and ``kurtosis`` (not excess: a normal distribution has 3) are given;
    ``sharpe_variance`` is the variance of the per-bar Sharpe ratios of all trials.

    >>> round(deflated_sharpe_ratio(2.5 / 250**0.5, 100, 0.5 / 250, 1250, -3, 10), 4)
    0.9004
    """
    if n_obs < 2:
        raise InputError(f"the deflated Sharpe needs at least 2 returns, got {n_obs}")
    if not math.isfinite(sharpe):
        return float("nan")
    benchmark = expected_max_sharpe(n_trials, sharpe_variance)
    spread = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if spread <= 0:
        return float("nan")  # the moments are too extreme for the normal approximation
    z = (sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(spread)
    return float(NORMAL.cdf(z))


def per_bar_sharpe(returns: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Each column's mean return over its standard deviation (ddof=1); 0 for a flat column."""
    values = np.asarray(returns, dtype=float)
    mean = values.mean(axis=0)
    std = values.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, mean / std, 0.0)


def deflated_sharpe_of_trials(
    trial_returns: pd.DataFrame, selected=None, n_trials: int | None = None
) -> float:
    """The deflated Sharpe of one trial of a sweep, given all trials' per-bar returns.

    ``selected`` is the chosen trial: its column label, or its params as a dict (e.g. a
    walk-forward's ``result.params``, matched against the columns' level names). None
    takes the trial with the best Sharpe, which is what selecting by Sharpe over the full
    history would pick. ``n_trials`` is how many combinations were tried in all, e.g. a
    family's trial ledger (default: the columns); the spread of the Sharpe ratios is
    estimated from the columns given.
    """
    _check_trials(trial_returns, min_trials=1)
    if n_trials is None:
        n_trials = trial_returns.shape[1]
    if n_trials < trial_returns.shape[1]:
        raise InputError(
            f"n_trials={n_trials} is fewer than the {trial_returns.shape[1]} trials given",
            hint="count every combination tried, these included",
        )
    sharpes = per_bar_sharpe(trial_returns)
    if selected is None:
        position = int(np.argmax(sharpes))
    else:
        if isinstance(selected, Mapping):
            selected = tuple(selected[name] for name in trial_returns.columns.names)
        try:
            position = trial_returns.columns.get_loc(selected)
        except KeyError:
            raise InputError(
                f"no trial {selected!r} among the trial returns",
                hint="pass one of the columns of trial_returns, or None for the best",
            ) from None
    chosen = trial_returns.iloc[:, position].to_numpy(dtype=float)
    variance = float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0
    deviation = chosen - chosen.mean()
    spread = np.mean(deviation**2)  # the population moments, as the paper's formula takes them
    flat = spread == 0
    return deflated_sharpe_ratio(
        float(sharpes[position]),
        n_trials=n_trials,
        sharpe_variance=variance,
        n_obs=len(chosen),
        skew=0.0 if flat else float(np.mean(deviation**3) / spread**1.5),
        kurtosis=3.0 if flat else float(np.mean(deviation**4) / spread**2),
    )


def probability_of_backtest_overfitting(trial_returns: pd.DataFrame, partitions: int = 10) -> float:
    """The probability (0-1) that the in-sample best trial ranks below the median out of sample.

    ``trial_returns`` holds per-bar returns, one column per trial (parameter combination),
    over the same bars. The bars are cut into ``partitions`` (an even number) blocks of
    equal length (a remainder at the start is dropped); each of the C(partitions,
    partitions/2) halvings is one in-sample/out-of-sample split, and trials are ranked by
    Sharpe ratio.
    """
    _check_trials(trial_returns, min_trials=2)
    if partitions < 2 or partitions % 2:
        raise InputError(
            f"partitions must be an even number of at least 2, not {partitions}",
            hint="the default of 10 gives 252 splits",
        )
    values = trial_returns.to_numpy(dtype=float)
    block = len(values) // partitions
    if block < 2:
        raise InputError(
            f"{len(values)} bars cannot be cut into {partitions} blocks of at least 2 bars",
            hint="use fewer partitions or a longer history",
        )
    values = values[len(values) - block * partitions :].reshape(partitions, block, -1)
    # Per block and trial: count, sum and sum of squares, so that the Sharpe of any union
    # of blocks is a few additions instead of a pass over the returns.
    sums = values.sum(axis=1)
    squares = (values**2).sum(axis=1)

    n_trials = values.shape[2]
    below = 0
    splits = list(itertools.combinations(range(partitions), partitions // 2))
    for train in splits:
        test = [b for b in range(partitions) if b not in train]
        in_sample = _sharpe_of_blocks(sums[list(train)], squares[list(train)], block)
        out_sample = _sharpe_of_blocks(sums[test], squares[test], block)
        chosen = int(np.argmax(in_sample))
        # 1 = worst out of sample; tied trials share their average rank.
        score = out_sample[chosen]
        rank = np.sum(out_sample < score) + (np.sum(out_sample == score) + 1) / 2
        relative = rank / (n_trials + 1)
        if relative <= 0.5:  # logit(relative) <= 0
            below += 1
    return below / len(splits)


def _sharpe_of_blocks(sums: np.ndarray, squares: np.ndarray, block: int) -> np.ndarray:
    count = block * len(sums)
    total, total_sq = sums.sum(axis=0), squares.sum(axis=0)
    mean = total / count
    variance = np.maximum(total_sq - count * mean**2, 0.0) / (count - 1)
    std = np.sqrt(variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, mean / std, 0.0)


def _check_trials(trial_returns: pd.DataFrame, *, min_trials: int) -> None:
    if not isinstance(trial_returns, pd.DataFrame):
        raise InputError("trial returns must be a DataFrame: bars x trials")
    if trial_returns.shape[1] < min_trials:
        raise InputError(
            f"need at least {min_trials} trials, got {trial_returns.shape[1]}",
            hint="sweep more than one parameter combination",
        )
    if trial_returns.isna().to_numpy().any():
        raise InputError(
            "trial returns have missing values",
            hint="give every trial a return on every bar (0 when flat)",
        )
