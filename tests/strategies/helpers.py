"""Small hand-built bars for strategy tests, where the signal dates are known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data.bars import Bars

#: A Monday, so that weekly schedules start on the first bar.
START = "2024-01-01"


def make_bars(closes: dict[str, list[float]], *, spread: float = 1.0, start: str = START) -> Bars:
    """Bars whose open is the close and whose high/low are the close +/- ``spread``."""
    close = pd.DataFrame(
        closes, index=pd.bdate_range(start, periods=len(next(iter(closes.values()))))
    )
    close.index.name = "date"
    close = close.astype(float)
    return Bars(
        open=close.copy(),
        high=close + spread,
        low=close - spread,
        close=close,
        volume=close * 0 + 1_000,
    )


def random_walk_bars(
    seed: int, rows: int, symbols: int, listed_from: list[int] | None = None
) -> Bars:
    """Random-walk bars; symbol i has no bars before row ``listed_from[i]`` (a ragged panel)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0003, 0.02, size=(rows, symbols))
    close = pd.DataFrame(
        50 * np.exp(np.cumsum(steps, axis=0)),
        index=pd.bdate_range("2015-01-05", periods=rows),
        columns=[f"S{i}" for i in range(symbols)],
    )
    for i, first in enumerate(listed_from or []):
        close.iloc[:first, i] = np.nan
    wiggle = pd.DataFrame(
        rng.uniform(0, 0.01, size=close.shape), index=close.index, columns=close.columns
    )
    return Bars(
        open=close * (1 - wiggle / 2),
        high=close * (1 + wiggle),
        low=close * (1 - wiggle),
        close=close,
        volume=close * 0 + 1e6,
    )


def rows_where(frame: pd.DataFrame, symbol: str) -> list[int]:
    """Row positions where ``frame[symbol]`` is True."""
    return [int(i) for i in np.flatnonzero(frame[symbol].to_numpy())]
