"""Position sizing: the seeds' formula, its scale-downs and its cap, in shares a trader can buy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.errors import InputError
from engine.risk import RiskLimits, position_size, size_entry
from engine.risk.sizing import correlation_factor, correlation_to_book, volatility_scale


def test_losing_the_stop_distance_loses_risk_per_trade_of_equity():
    qty = position_size(100_000, 0.01, entry_price=50.0, stop_distance=2.0)
    assert qty == 500  # 500 shares x $2 to the stop = $1,000 = 1% of $100,000


@pytest.mark.parametrize(
    "rho, factor",
    [
        pytest.param(0.0, 1.0, id="uncorrelated"),
        pytest.param(-0.6, 1.0, id="hedge-never-scales-up"),
        pytest.param(0.75, 0.5, id="three-quarters"),  # sqrt(1 + 0.5625) - 0.75 = 1.25 - 0.75
        pytest.param(1.0, math.sqrt(2) - 1, id="identical"),
        pytest.param(float("nan"), 1.0, id="unknown"),
    ],
)
def test_correlation_factor(rho, factor):
    assert correlation_factor(rho) == pytest.approx(factor)


def test_correlation_factor_adds_the_variance_of_an_uncorrelated_position():
    # Book (risk 1) + s x candidate at correlation rho adds as much variance as 1 uncorrelated.
    for rho in (0.1, 0.5, 0.9):
        s = correlation_factor(rho)
        assert 1 + s * s + 2 * s * rho == pytest.approx(2.0)


@pytest.mark.parametrize(
    "kwargs, qty",
    [
        pytest.param({"correlation_to_book": 0.75}, 250, id="correlated-halves"),
        pytest.param({"volatility_scale": 0.5}, 250, id="twice-as-wild-halves"),
        pytest.param({"volatility_scale": 2.0}, 500, id="calm-never-scales-up"),
        pytest.param({"correlation_to_book": 0.75, "volatility_scale": 0.5}, 125, id="both"),
        pytest.param({"cap_pct": 0.2}, 400, id="capped"),  # 20% of $100,000 / $50
        pytest.param({"cap_pct": 0.2, "volatility_scale": 0.5}, 250, id="under-cap"),
    ],
)
def test_scale_downs_and_cap(kwargs, qty):
    assert position_size(100_000, 0.01, 50.0, 2.0, **kwargs) == qty


def test_whole_shares_unless_fractional():
    assert position_size(10_000, 0.01, 20.0, 3.0) == 33  # 33.33 rounded down
    assert position_size(10_000, 0.01, 20.0, 3.0, fractional=True) == pytest.approx(33.333333)
    assert position_size(1_000, 0.005, 20.0, 6.0) == 0  # 0.83 of a share: nothing to buy


def test_no_equity_no_position():
    assert position_size(0, 0.01, 50.0, 2.0) == 0
    assert position_size(-500, 0.01, 50.0, 2.0) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(
            (100_000, 0.01, 50.0, 0.0),
            "stop_distance must be a positive price distance",
            id="no-stop",
        ),
        pytest.param(
            (100_000, 0.01, 50.0, float("nan")), "stop_distance must be a positive", id="nan-stop"
        ),
        pytest.param((100_000, 0.01, -5.0, 2.0), "entry_price must be a positive", id="bad-price"),
        pytest.param((100_000, 0.5, 50.0, 2.0), "risk_per_trade 0.5 is not a fraction", id="risk"),
    ],
)
def test_bad_inputs_are_refused(args, message):
    with pytest.raises(InputError, match=message):
        position_size(*args)


def test_size_entry_uses_the_accounts_limits():
    limits = RiskLimits(risk_per_trade=0.005, max_position_pct=0.1)
    assert size_entry(limits, 100_000, 50.0, 2.0) == 200  # 0.5% -> 250, capped at 10% -> 200
    assert size_entry(limits, 100_000, 50.0, 4.0) == 125


def _returns(seed: int, n: int = 120) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(0, 0.01, n))


def test_correlation_to_book():
    a, b = _returns(1), _returns(2)
    returns = pd.DataFrame({"A": a, "B": b, "TWIN": 2 * a, "MIRROR": -a})
    assert correlation_to_book(returns, "TWIN", {"A": 10_000}) == pytest.approx(1.0)
    assert correlation_to_book(returns, "MIRROR", {"A": 10_000}) == pytest.approx(-1.0)
    assert correlation_to_book(returns, "A", {}) == 0.0
    assert (
        correlation_to_book(returns, "A", {"A": 10_000}) == 0.0
    )  # the candidate itself is not the book
    assert correlation_to_book(returns.iloc[:10], "TWIN", {"A": 1}) == 0.0  # too little history
    mixed = correlation_to_book(returns, "TWIN", {"A": 10_000, "B": 10_000})
    assert 0.5 < mixed < 0.9  # half the book is the same stock


def test_volatility_scale_shrinks_when_recent_moves_are_wilder():
    calm = np.tile([0.01, -0.01], 126)
    wild = np.concatenate([calm[:-20], np.tile([0.03, -0.03], 10)])
    close = lambda r: pd.Series(100 * np.cumprod(1 + r))  # noqa: E731
    assert volatility_scale(close(calm)) == pytest.approx(1.0, rel=0.05)
    assert 0.3 < volatility_scale(close(wild)) < 0.6
    assert volatility_scale(close(calm[:10])) == 1.0  # too short to tell
