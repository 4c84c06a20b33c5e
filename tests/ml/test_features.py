"""Features: what each one means, that none peeks ahead, and that a short live history gives the same."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data.bars import FIELDS, Bars
from engine.ml.features import FEATURE_NAMES, FEATURE_WARMUP, compute_features
from engine.strategies.indicators import atr, rsi


def _of(features: pd.DataFrame, symbol: str) -> pd.DataFrame:
    return features.xs(symbol, level="symbol")


def test_each_feature_means_what_its_name_says(real_bars):
    features = _of(compute_features(real_bars), "GE")
    close = real_bars.close["GE"]
    volume = np.log1p(real_bars.volume["GE"])

    expected = {
        "return_5": np.log(close / close.shift(5)),
        "return_63": np.log(close / close.shift(63)),
        "volatility_21": np.log(close).diff().rolling(21).std(ddof=0),
        "rsi_14": rsi(real_bars.close, 14)["GE"] / 100,
        "atr_14_pct": atr(real_bars.high, real_bars.low, real_bars.close, 14)["GE"] / close,
        "volume_z_21": (volume - volume.rolling(21).mean()) / volume.rolling(21).std(ddof=0),
        "distance_sma_50": close / close.rolling(50).mean() - 1,
    }
    for name, values in expected.items():
        np.testing.assert_allclose(features[name], values, rtol=1e-9, atol=1e-12, err_msg=name)


def test_the_first_complete_row_is_at_the_warmup(real_bars):
    features = _of(compute_features(real_bars), "AAPL")

    assert list(features.columns) == list(FEATURE_NAMES)
    assert features.iloc[FEATURE_WARMUP].notna().all()
    assert features.iloc[FEATURE_WARMUP - 1].isna().any()


def test_changing_later_bars_leaves_earlier_features_alone(real_bars):
    cut = 600
    earlier = np.arange(len(real_bars))[:, None] < cut
    changed = Bars(
        *(
            getattr(real_bars, f).where(
                np.broadcast_to(earlier, (len(real_bars), 3)), getattr(real_bars, f) * 1.7
            )
            for f in FIELDS
        )
    )

    before, after = compute_features(real_bars), compute_features(changed)
    n_symbols = len(real_bars.symbols)

    pd.testing.assert_frame_equal(before.iloc[: cut * n_symbols], after.iloc[: cut * n_symbols])
    assert not before.iloc[cut * n_symbols :].equals(after.iloc[cut * n_symbols :])


def test_a_short_recent_history_gives_the_same_features_bit_for_bit(real_bars):
    # The live loop sees only the last few hundred bars; once past the warm-up its features
    # must be exactly the backtest's, or a model's decision could flip on rounding.
    recent = real_bars.iloc(slice(700, None))

    full = compute_features(real_bars).loc[recent.index[FEATURE_WARMUP] :]
    live = compute_features(recent).loc[recent.index[FEATURE_WARMUP] :]

    assert (full.to_numpy() == live.to_numpy()).all()


def test_a_missing_bar_blanks_only_the_windows_that_hold_it(real_bars):
    close = real_bars.close.copy()
    hole = 400
    close.iloc[hole, 0] = np.nan
    holed = Bars(real_bars.open, real_bars.high, real_bars.low, close, real_bars.volume)

    features = _of(compute_features(holed), real_bars.symbols[0])

    assert features.iloc[hole].isna().all()  # no bar: no features at all
    assert np.isnan(features["distance_sma_20"].iloc[hole + 19])  # the hole is in its window
    assert np.isfinite(features["distance_sma_20"].iloc[hole + 20])  # and then out of it
    assert np.isnan(features["distance_sma_100"].iloc[hole + 99])
