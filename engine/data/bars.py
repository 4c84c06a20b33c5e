"""Bars for many symbols at once: wide frames (dates x symbols), one per field.

Everything in the engine is multi-symbol from the first line: a strategy, a backtest and
the live loop all take a :class:`Bars`. A symbol with no bar on a date (not yet listed,
delisted, a ragged panel) has NaN there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.errors import InputError, NotFoundError

FIELDS = ("open", "high", "low", "close", "volume")
LONG_COLUMNS = ["date", "symbol", "open", "high", "low", "close", "volume", "adj_close"]


@dataclass(frozen=True)
class Bars:
    """Daily OHLCV for many symbols: each field a DataFrame indexed by date, one column per symbol."""

    open: pd.DataFrame
    high: pd.DataFrame
    low: pd.DataFrame
    close: pd.DataFrame
    volume: pd.DataFrame
    freq: str = "1D"  # the bar size, passed to every metric that annualises

    def __post_init__(self):
        for field in FIELDS[1:]:
            frame = getattr(self, field)
            if not (frame.index.equals(self.open.index) and frame.columns.equals(self.open.columns)):
                raise InputError(f"bars field {field!r} is not aligned with 'open'")

    # -- shape -----------------------------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        return list(self.open.columns)

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.open.index

    def __len__(self) -> int:
        return len(self.open.index)

    def __getitem__(self, field: str) -> pd.DataFrame:
        if field not in FIELDS:
            raise KeyError(f"bars have no field {field!r}; fields are {', '.join(FIELDS)}")
        return getattr(self, field)

    def _map(self, fn) -> Bars:
        return Bars(*(fn(getattr(self, f)) for f in FIELDS), freq=self.freq)

    # -- slicing ---------------------------------------------------------------------

    def select(self, symbols: list[str]) -> Bars:
        """These symbols only, in this order."""
        missing = [s for s in symbols if s not in self.open.columns]
        if missing:
            raise NotFoundError(f"no bars for {', '.join(missing)}")
        return self._map(lambda f: f[list(symbols)])

    def between(self, start=None, end=None) -> Bars:
        """Bars dated from ``start`` to ``end``, both inclusive."""
        return self._map(lambda f: f.loc[start:end])

    def iloc(self, rows) -> Bars:
        """Rows by position (a slice), e.g. ``bars.iloc[:100]`` for the first 100 bars."""
        return self._map(lambda f: f.iloc[rows])

    def dropna_symbols(self) -> Bars:
        """Without the symbols that have no bar at all in this window."""
        keep = self.close.columns[self.close.notna().any()]
        return self.select(list(keep))

    # -- conversion ------------------------------------------------------------------

    @classmethod
    def from_long(cls, frame: pd.DataFrame, *, adjust: bool = True) -> Bars:
        """Wide bars from long rows (date, symbol, open, high, low, close, volume[, adj_close]).

        With ``adjust`` (the default for research), prices are scaled by
        ``adj_close / close`` so that splits and dividends do not look like crashes, and
        volume by the inverse so that dollar volume is kept.
        """
        if frame.empty:
            raise InputError("no bars to build from", hint="ingest bars first: wb ingest --source sample")
        frame = frame.copy()
        frame["date"] = pd.to_datetime(frame["date"])
        if adjust and "adj_close" in frame:
            factor = (frame["adj_close"] / frame["close"]).replace([np.inf, -np.inf], np.nan)
            factor = factor.fillna(1.0)
            for col in ("open", "high", "low", "close"):
                frame[col] = frame[col] * factor
            frame["volume"] = frame["volume"] / factor
        wide = {
            f: frame.pivot(index="date", columns="symbol", values=f).sort_index()
            for f in FIELDS
        }
        for f in FIELDS:
            wide[f].columns.name = None
            wide[f].index.name = "date"
        return cls(**wide)

    def to_long(self) -> pd.DataFrame:
        """Long rows (date, symbol, open, high, low, close, volume) without empty cells."""
        parts = [getattr(self, f).stack(future_stack=True).rename(f) for f in FIELDS]
        long = pd.concat(parts, axis=1).dropna(subset=["close"]).reset_index()
        long.columns = ["date", "symbol", *FIELDS]
        return long.sort_values(["symbol", "date"], ignore_index=True)
