"""Bars and small, fast ml_classifier params shared by the ML tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.bars import Bars
from engine.data.sample import sample_bars

#: Small models on a one-year window, retrained quarterly: seconds, not minutes.
FAST = {
    "train_bars": 252,
    "retrain_every": 63,
    "horizon": 5,
    "embargo": 5,
    "boosting_rounds": 20,
    "max_depth": 2,
}


@pytest.fixture(scope="session")
def real_bars() -> Bars:
    """Five years of real adjusted daily bars of three symbols (about 1,260 bars)."""
    return sample_bars(["AAPL", "F", "GE"], start="2004-01-01", end="2008-12-31")


def synthetic_bars(seed: int, rows: int, symbols: int, persistence: float) -> Bars:
    """Bars whose daily returns follow an AR(1) with ``persistence`` (0: a random walk).

    With persistence, the past few days' returns tell where the next few are going: an
    edge a classifier should find. Without it, nothing can be predicted.
    """
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0.0, 0.015, size=(rows, symbols))
    returns = np.zeros_like(shocks)
    for t in range(1, rows):
        returns[t] = persistence * returns[t - 1] + shocks[t]
    close = pd.DataFrame(
        40 * np.exp(np.cumsum(returns, axis=0)),
        index=pd.bdate_range("2010-01-04", periods=rows, name="date"),
        columns=[f"S{i}" for i in range(symbols)],
    )
    spread = pd.DataFrame(
        rng.uniform(0.002, 0.02, size=close.shape), index=close.index, columns=close.columns
    )
    volume = pd.DataFrame(
        rng.lognormal(13, 0.3, size=close.shape), index=close.index, columns=close.columns
    )
    return Bars(
        open=close.shift(1).fillna(close),
        high=close * (1 + spread),
        low=close * (1 - spread),
        close=close,
        volume=volume,
    )
