"""Where a step's bars come from: held in memory (a replay) or read from the store (paper, live).

A step at the close of day D sees bars up to and including D, never later: the same
history a backtest's signal at D was computed from.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from engine.data.bars import Bars
from engine.data.repository import load_bars
from engine.errors import InputError

#: Calendar days of history read for a year of daily bars, with room for holidays.
DAYS_PER_BAR = 1.5


class FrameFeed:
    """Bars already in memory; each step sees them up to its day.

    ``lookback`` is how many bars a step sees (None: every bar since the first, which is
    what a parity replay needs: its backtest computed each signal from the first bar).
    """

    def __init__(self, bars: Bars, *, lookback: int | None = None):
        if len(bars) == 0:
            raise InputError("no bars to replay", hint="ingest bars for the configs' universes")
        self.bars = bars
        self.lookback = lookback
        self._dates = bars.index

    def sessions(self, start=None, end=None) -> list[date]:
        """The bar dates from ``start`` to ``end`` (inclusive) that a replay steps through."""
        index = self._dates
        if start is not None:
            index = index[index >= pd.Timestamp(start)]
        if end is not None:
            index = index[index <= pd.Timestamp(end)]
        return [d.date() for d in index]

    def window(self, day: date) -> Bars:
        """The bars a step at ``day``'s close sees."""
        stop = self._dates.searchsorted(pd.Timestamp(day), side="right")
        start = 0 if self.lookback is None else max(stop - self.lookback, 0)
        return self.bars.iloc(slice(start, stop))

    def latest(self) -> date:
        return self._dates[-1].date()


class StoreFeed:
    """Bars read from the store each step: the last ``lookback`` bars up to the day."""

    def __init__(self, store, symbols: list[str], *, lookback: int = 300):
        self.store = store
        self.symbols = list(symbols)
        self.lookback = lookback

    def window(self, day: date) -> Bars:
        start = pd.Timestamp(day) - pd.Timedelta(days=int(self.lookback * DAYS_PER_BAR) + 10)
        bars = load_bars(self.store, self.symbols, start, day)
        return bars.iloc(slice(max(len(bars) - self.lookback, 0), None))

    def latest(self) -> date | None:
        """The newest stored bar date over the symbols (None: no bars)."""
        value = self.store.scalar(
            "SELECT max(date) FROM bars WHERE symbol IN (SELECT unnest(?))", [self.symbols]
        )
        return None if value is None or pd.isna(value) else pd.Timestamp(value).date()
