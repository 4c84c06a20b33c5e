"""Indicator details a signal depends on: ties, flat markets, gaps and holes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.strategies.indicators import above, crossed_above, rsi, sma, true_range


def frame(*columns):
    return pd.DataFrame({f"S{i}": values for i, values in enumerate(columns)}, dtype=float)


def test_rounding_noise_is_a_tie_not_a_cross():
    # 0.1 + 0.2 is 0.30000000000000004 in floating point; as prices, they are equal.
    assert 0.1 + 0.2 > 0.3
    assert not above(0.1 + 0.2, 0.3)
    fast = frame([0.3, 0.1 + 0.2, 0.4])
    slow = frame([0.3, 0.3, 0.3])
    assert crossed_above(fast, slow)["S0"].tolist() == [False, False, True]


def test_a_cross_against_a_level_needs_the_bar_before():
    level = 30.0
    values = frame([np.nan, 40.0, 20.0, 35.0])
    # Row 1 is above the level but there is no bar before it to cross from.
    assert crossed_above(values, level)["S0"].tolist() == [False, False, False, True]


def test_rsi_is_50_in_a_flat_market_and_bounded():
    closes = frame([10, 10, 10, 10, 11, 12, 13, 12, 11])
    strength = rsi(closes, 3)["S0"]
    assert strength.iloc[:3].isna().all()  # three changes need four closes
    assert strength.iloc[3] == 50
    assert strength.iloc[6] == 100
    assert strength.iloc[8] == pytest.approx(100 / 3)  # +1, -1, -1: one part gain in three


def test_true_range_includes_the_overnight_gap():
    high, low, close = frame([11, 15]), frame([9, 13]), frame([10, 14])
    # Bar 1 ranges 13-15 but opened above a close of 10: its true range is 15 - 10.
    assert true_range(high, low, close)["S0"].tolist() == [2.0, 5.0]


def test_an_average_across_a_missing_bar_is_missing():
    closes = frame([1, 2, np.nan, 4, 5, 6])
    assert sma(closes, 2)["S0"].isna().tolist() == [True, False, True, True, False, False]
