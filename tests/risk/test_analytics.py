"""Portfolio risk: VaR and CVaR against hand-computed values, correlations, exposure, drawdowns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.errors import InputError
from engine.risk import Position
from engine.risk.analytics import (
    correlation_matrix,
    drawdown_curve,
    drawdown_report,
    exposure,
    historical_var,
    parametric_var,
    period_returns,
    portfolio_pnl,
    portfolio_var,
    returns_from_close,
)
from tests.risk.helpers import marks, ny

# Five losses and fifteen small gains: the tail is easy to read off by hand.
PNL = [-10.0, -8.0, -6.0, -4.0, -2.0] + [1.0] * 15
Z95, PDF_Z95 = 1.6448536269514722, 0.10313564037537128  # N(0,1) quantile and density at 95%


@pytest.mark.parametrize(
    "confidence, var, cvar",
    [
        pytest.param(0.95, 10.0, 10.0, id="95-one-outcome"),
        pytest.param(0.90, 8.0, 9.0, id="90-two-outcomes"),
        pytest.param(0.875, 6.0, (10 + 8 + 0.5 * 6) / 2.5, id="2.5-outcomes"),
        pytest.param(0.80, 4.0, (10 + 8 + 6 + 4) / 4, id="80-four-outcomes"),
        pytest.param(0.99, 10.0, 10.0, id="99-fewer-than-one"),
    ],
)
def test_historical_var_and_cvar(confidence, var, cvar):
    shuffled = np.random.default_rng(0).permutation(PNL)
    estimate = historical_var(shuffled, confidence)
    assert estimate.var == pytest.approx(var)
    assert estimate.cvar == pytest.approx(cvar)
    assert estimate.observations == 20


def test_historical_var_uses_overlapping_sums_over_the_horizon():
    # 2-bar sums of [-3, -1, 2, -5, 1, 0] are [-4, 1, -3, -4, 1]: losses 4, 4, 3, -1, -1.
    estimate = historical_var([-3, -1, 2, -5, 1, 0], confidence=0.5, horizon=2)
    assert estimate.observations == 5
    assert estimate.var == 3.0  # k = 2.5: the 3rd worst
    assert estimate.cvar == pytest.approx((4 + 4 + 0.5 * 3) / 2.5)


def test_parametric_var_and_cvar():
    # Mean 1, sample standard deviation sqrt(16 / 3).
    sigma = np.sqrt(16 / 3)
    one_bar = parametric_var([3, -1, 3, -1], 0.95)
    assert one_bar.var == pytest.approx(Z95 * sigma - 1)
    assert one_bar.cvar == pytest.approx(sigma * PDF_Z95 / 0.05 - 1)
    four_bars = parametric_var([3, -1, 3, -1], 0.95, horizon=4)
    assert four_bars.var == pytest.approx(Z95 * sigma * 2 - 4)
    assert one_bar.cvar > one_bar.var


RETURNS = pd.DataFrame(
    {"A": [0.01, -0.02, 0.03, -0.01], "B": [0.0, 0.01, -0.01, 0.02]},
    index=pd.date_range("2024-01-02", periods=4, freq="B"),
)


def test_portfolio_pnl_in_dollars():
    pnl = portfolio_pnl({"A": 1_000, "B": 2_000}, RETURNS)
    assert pnl.tolist() == pytest.approx([10.0, 0.0, 10.0, 30.0])


def test_portfolio_var_methods_agree_with_the_book_pnl():
    holdings = {"A": 1_000, "B": 2_000}
    pnl = portfolio_pnl(holdings, RETURNS)
    # P&L 10, 0, 10, 30: at 75% the tail is the single worst outcome, a gain of 0.
    assert portfolio_var(holdings, RETURNS, 0.75).var == pytest.approx(0.0, abs=1e-9)
    assert portfolio_var(holdings, RETURNS, 0.5).cvar == pytest.approx(-5.0)  # mean of 0 and -10
    # sqrt(w' C w) is the standard deviation of the book's P&L.
    parametric = portfolio_var(holdings, RETURNS, 0.95, method="parametric")
    assert parametric.var == pytest.approx(parametric_var(pnl, 0.95).var)
    assert parametric.cvar == pytest.approx(parametric_var(pnl, 0.95).cvar)


@pytest.mark.parametrize(
    "call, message",
    [
        pytest.param(
            lambda: portfolio_var({"ZZZ": 1}, RETURNS),
            "no returns for held ZZZ",
            id="unknown-symbol",
        ),
        pytest.param(
            lambda: historical_var(PNL, 1.0),
            "confidence 1.0 must be a probability",
            id="confidence",
        ),
        pytest.param(
            lambda: historical_var(PNL, 0.95, horizon=0),
            "horizon 0 must be a whole number",
            id="horizon",
        ),
        pytest.param(
            lambda: historical_var([1.0], 0.95, horizon=5),
            "no P&L to measure VaR on",
            id="too-short",
        ),
        pytest.param(
            lambda: portfolio_var({"A": 1}, RETURNS, method="monte-carlo"),
            "unknown VaR method",
            id="method",
        ),
    ],
)
def test_bad_requests_say_what_to_do(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_returns_from_close():
    close = pd.DataFrame({"A": [100.0, 110.0, 99.0]})
    assert returns_from_close(close)["A"].tolist() == pytest.approx([0.1, -0.1])


def test_correlation_matrix():
    frame = pd.DataFrame({"A": RETURNS["A"], "B": RETURNS["B"], "C": -RETURNS["A"]})
    matrix = correlation_matrix(frame, min_periods=3)
    assert matrix.loc["A", "C"] == pytest.approx(-1.0)
    assert matrix.loc["A", "B"] == pytest.approx(frame["A"].corr(frame["B"]))
    ragged = frame.copy()
    ragged.iloc[0, 1] = np.nan  # B missing a day: pairwise, and too short for min_periods 4
    assert np.isnan(correlation_matrix(ragged, min_periods=4).loc["A", "B"])
    assert correlation_matrix(ragged, ["A", "C"], min_periods=4).loc["A", "C"] == pytest.approx(
        -1.0
    )


def test_correlation_matrix_matches_pairwise_correlation_on_a_ragged_panel():
    # Symbols listed part-way through, one never traded, one that never moves.
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(0, 0.02, (120, 12)) + rng.normal(0, 0.01, (120, 1)))
    for j in range(0, 12, 3):
        frame.iloc[: int(rng.integers(10, 110)), j] = np.nan
    frame[12], frame[13] = np.nan, 0.01
    ours, pairwise = correlation_matrix(frame, min_periods=20), frame.corr(min_periods=20)
    assert np.array_equal(np.isnan(ours.to_numpy()), np.isnan(pairwise.to_numpy()))
    assert np.nanmax(np.abs(ours.to_numpy() - pairwise.to_numpy())) < 1e-12


def test_exposure_by_symbol_and_sector():
    at = ny("2024-03-01 10:00")
    positions = [
        Position("AAPL", 100, 90.0, at, stop_price=95.0),
        Position("MSFT", 50, 200.0, at),
        Position("F", 1_000, 12.0, at),
    ]
    by_symbol, by_sector = exposure(
        positions, {"AAPL": 100.0, "MSFT": 210.0}, 50_000, sectors={"AAPL": "Tech", "MSFT": "Tech"}
    )
    rows = by_symbol.set_index("symbol")
    assert rows.loc["AAPL", "market_value"] == 10_000 and rows.loc["AAPL", "weight"] == 0.2
    assert rows.loc["AAPL", "unrealised_pnl"] == 1_000 and rows.loc["AAPL", "risk_to_stop"] == 500
    assert rows.loc["F", "market_value"] == 12_000 and not rows.loc["F", "priced"]
    sectors = by_sector.set_index("sector")
    assert sectors.loc["Tech", "market_value"] == 20_500 and sectors.loc["Tech", "positions"] == 2
    assert sectors.loc["unknown", "weight"] == pytest.approx(0.24)


EQUITY = marks(
    ("2024-03-01 16:00", 100_000),  # last week's close
    ("2024-03-04 16:00", 110_000),  # the peak
    ("2024-03-05 16:00", 99_000),  # yesterday's close
    ("2024-03-06 11:00", 88_000),  # the trough
    ("2024-03-06 12:00", 93_500),
)


def test_drawdown_report():
    report = drawdown_report(EQUITY, ny("2024-03-06 12:30"))
    assert report.equity == 93_500
    assert report.daily == pytest.approx(1 - 93_500 / 99_000)
    assert report.weekly == pytest.approx(0.065)
    assert report.max_drawdown == pytest.approx(0.2)  # 110,000 -> 88,000
    assert report.current == pytest.approx(0.15)
    assert report.peak_at == pd.Timestamp(ny("2024-03-04 16:00"))
    assert report.trough_at == pd.Timestamp(ny("2024-03-06 11:00"))


def test_drawdown_report_as_of_an_earlier_time_ignores_later_marks():
    report = drawdown_report(EQUITY, ny("2024-03-05 17:00"))
    assert report.equity == 99_000 and report.max_drawdown == pytest.approx(0.1)


def test_drawdown_curve_is_zero_at_new_highs():
    curve = drawdown_curve(pd.Series([100.0, 120.0, 90.0, 130.0]))
    assert curve.tolist() == pytest.approx([0.0, 0.0, 0.25, 0.0])


def test_period_returns():
    daily = period_returns(EQUITY, "D")
    assert daily.tolist() == pytest.approx([0.1, -0.1, 93_500 / 99_000 - 1])
    weekly = period_returns(EQUITY, "W")
    assert weekly.tolist() == pytest.approx([-0.065])
