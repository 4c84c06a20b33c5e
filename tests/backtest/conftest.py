"""Hand-built bars and a scripted strategy whose signals the test spells out bar by bar."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.data.bars import Bars
from engine.data.sample import sample_bars
from engine.strategies.base import Signals, Strategy, StrategyParams

START = "2024-01-01"  # a Monday


def ohlc_bars(prices: dict[str, list[tuple[float, float, float, float]]]) -> Bars:
    """Bars from (open, high, low, close) tuples per symbol, on business days from START."""
    n_bars = len(next(iter(prices.values())))
    index = pd.bdate_range(START, periods=n_bars, name="date")
    fields = {}
    for position, name in enumerate(("open", "high", "low", "close")):
        fields[name] = pd.DataFrame(
            {symbol: [bar[position] for bar in bars] for symbol, bars in prices.items()},
            index=index,
            dtype=float,
        )
    fields["volume"] = fields["close"] * 0 + 1_000
    return Bars(**fields)


class NoParams(StrategyParams):
    """A scripted strategy has nothing to tune."""


def scripted(
    entries: dict[str, list[int]],
    exits: dict[str, list[int]] | None = None,
    stop_distance: dict[str, float] | None = None,
) -> Strategy:
    """A strategy that signals an entry/exit on the given bar positions of each symbol.

    ``stop_distance`` is a constant price distance per symbol (NaN for symbols left out).
    """

    def signal_fn(bars: Bars, params: NoParams) -> Signals:
        def frame(rows: dict[str, list[int]]) -> pd.DataFrame:
            out = pd.DataFrame(False, index=bars.index, columns=bars.close.columns)
            for symbol, positions in rows.items():
                out.iloc[positions, out.columns.get_loc(symbol)] = True
            return out

        stop = None
        if stop_distance is not None:
            stop = pd.DataFrame(float("nan"), index=bars.index, columns=bars.close.columns)
            for symbol, distance in stop_distance.items():
                stop[symbol] = distance
        return Signals(entries=frame(entries), exits=frame(exits or {}), stop_distance=stop)

    return Strategy(name="scripted", params=NoParams, signal_fn=signal_fn, summary="scripted")


@pytest.fixture(scope="session")
def real_bars() -> Bars:
    """Four years of real adjusted daily bars for three symbols (about 1,000 bars)."""
    return sample_bars(["AAPL", "F", "GE"], start="2005-01-01", end="2008-12-31")


@pytest.fixture(scope="session")
def intraday_bars() -> Bars:
    """SYNTHETIC 5-minute bars of three symbols over eight weeks (a holiday, an early close)."""
    from engine.data.sources import SyntheticSource
    from tests.conftest import INTRADAY_SAMPLE

    sample = INTRADAY_SAMPLE
    rows = SyntheticSource().fetch(sample["symbols"], sample["start"], sample["end"],
                                   bar_size=sample["bar_size"])  # fmt: skip
    return Bars.from_long(rows, bar_size=sample["bar_size"], sources=(SyntheticSource.name,))
