"""Bars for many symbols at once: wide frames (bars x symbols), one per field.

Everything in the engine is multi-symbol from the first line: a strategy, a backtest and
the live loop all take a :class:`Bars`. A symbol with no bar at a time (not yet listed,
delisted, a ragged panel, a quiet minute) has NaN there.

Daily bars are indexed by tz-naive session date. Intraday bars (1m ... 1h) are indexed by
the bar's start in exchange time, a tz-aware America/New_York timestamp, regular hours
unless ``extended_hours`` says the series holds pre- and post-market bars too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from engine.data import bar_sizes
from engine.data.bar_sizes import EXCHANGE_TZ
from engine.data.sources import SYNTHETIC_SOURCES
from engine.errors import InputError, NotFoundError

if TYPE_CHECKING:
    from engine.data import calendar

FIELDS = ("open", "high", "low", "close", "volume")
LONG_COLUMNS = ["date", "symbol", "open", "high", "low", "close", "volume", "adj_close"]
#: Long intraday rows: ``timestamp`` is the bar's start, tz-aware America/New_York.
INTRADAY_COLUMNS = ["timestamp", "symbol", "open", "high", "low", "close", "volume", "adj_close"]


def adjustment_factors(close: np.ndarray, adj_close: np.ndarray) -> np.ndarray:
    """Each bar's ``adj_close / close``: what scales its prices to adjusted history (and its
    volume by the inverse, so dollar volume is kept); 1 where there is none (no adj_close,
    or no close). The one rule for research's bars and a live feed's window alike."""
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = adj_close / close
    factor[~np.isfinite(factor)] = 1.0
    return factor


@dataclass(frozen=True)
class Bars:
    """OHLCV for many symbols: each field a DataFrame indexed by bar, one column per symbol.

    ``bar_size`` is one of 1m, 5m, 15m, 30m, 1h, 1d; ``extended_hours`` is True only for a
    series that holds pre- and post-market bars; ``sources`` names where the bars came from
    (a synthetic source makes :attr:`synthetic` True, and whatever shows them says so).
    """

    open: pd.DataFrame
    high: pd.DataFrame
    low: pd.DataFrame
    close: pd.DataFrame
    volume: pd.DataFrame
    bar_size: str = bar_sizes.DAILY
    extended_hours: bool = False
    sources: tuple[str, ...] = ()

    def __post_init__(self):
        bar_sizes.check_bar_size(self.bar_size)
        for field in FIELDS[1:]:
            frame = getattr(self, field)
            if not (frame.index.equals(self.open.index) and frame.columns.equals(self.open.columns)):
                raise InputError(f"bars field {field!r} is not aligned with 'open'")
        if self.is_intraday and len(self.index) and getattr(self.index, "tz", None) is None:
            raise InputError(
                f"{self.bar_size} bars need a tz-aware index (exchange time)",
                hint="build them with Bars.from_long, or tz_localize the index to America/New_York",
            )
        if self.extended_hours and not self.is_intraday:
            raise InputError("daily bars have no extended hours")

    # -- what these bars are ---------------------------------------------------------

    @property
    def freq(self) -> str:
        """The pandas/vectorbt frequency of the bar size ("1D", "5min", ...)."""
        return bar_sizes.FREQ[self.bar_size]

    @property
    def is_intraday(self) -> bool:
        return self.bar_size != bar_sizes.DAILY

    @property
    def synthetic(self) -> bool:
        """True when any of these bars was generated rather than traded."""
        return bool(SYNTHETIC_SOURCES.intersection(self.sources))

    def with_frames(self, **frames: pd.DataFrame) -> Bars:
        """These bars with some fields replaced; bar size, hours and sources kept."""
        return dataclasses.replace(self, **frames)

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
        return self.with_frames(**{f: fn(getattr(self, f)) for f in FIELDS})

    # -- slicing ---------------------------------------------------------------------

    def select(self, symbols: list[str]) -> Bars:
        """These symbols only, in this order."""
        # Positions from a dict of the column names: pandas' lookups of string labels (an
        # Index of them, get_indexer, f[list]) cost a live step more than its signals.
        columns = self.open.columns.tolist()
        where = {symbol: k for k, symbol in enumerate(columns)}
        missing = [s for s in symbols if s not in where]
        if missing:
            raise NotFoundError(f"no bars for {', '.join(missing)}")
        if columns == list(symbols):
            # These already: new frames on the same data (copy-on-write: a write copies).
            return self._map(lambda f: f.copy(deep=False))
        positions = [where[s] for s in symbols]
        return self._map(lambda f: f.take(positions, axis=1))

    def between(self, start=None, end=None) -> Bars:
        """Bars dated from ``start`` to ``end``, both inclusive.

        On intraday bars a date (or a tz-naive time) is New York time, and a date as
        ``end`` takes in that whole session.
        """
        if self.is_intraday:
            start, end = _exchange_time(start), _exchange_time(end, end_of_day=True)
        return self._map(lambda f: f.loc[start:end])

    def iloc(self, rows) -> Bars:
        """Rows by position (a slice), e.g. ``bars.iloc[:100]`` for the first 100 bars."""
        return self._map(lambda f: f.iloc[rows])

    def dropna_symbols(self) -> Bars:
        """Without the symbols that have no bar at all in this window."""
        keep = self.close.columns[self.close.notna().any()]
        return self.select(list(keep))

    # -- sessions ----------------------------------------------------------------------

    @property
    def session_dates(self) -> pd.DatetimeIndex:
        """The trading date each bar belongs to (tz-naive); the index itself for daily bars."""
        return exchange_dates(self.index)

    @property
    def session_start(self) -> np.ndarray:
        """True on the first bar of each session in these bars (every bar for daily bars)."""
        dates = self.session_dates
        return np.r_[True, dates[1:] != dates[:-1]] if len(dates) else np.zeros(0, bool)

    @property
    def session_end(self) -> np.ndarray:
        """True on the last bar of each session in these bars: where the overnight gap follows."""
        dates = self.session_dates
        return np.r_[dates[1:] != dates[:-1], True] if len(dates) else np.zeros(0, bool)

    @property
    def session_close(self) -> pd.Series:
        """Each bar's scheduled session close (16:00, or 13:00 on an early close), New York time.

        With the bar's start and :func:`engine.data.bar_sizes.length` this says how many
        minutes are left in the session, e.g. to be flat N minutes before the close.
        """
        from engine.data import calendar

        dates = self.session_dates
        if not len(dates):
            return pd.Series([], index=self.index, dtype=f"datetime64[ns, {EXCHANGE_TZ}]")
        times = calendar.session_times(dates[0], dates[-1])["close"].reindex(dates)
        local = dates + pd.to_timedelta(times.to_numpy(), unit="min")
        return pd.Series(local.tz_localize(EXCHANGE_TZ), index=self.index, name="session_close")

    def annualisation(self) -> calendar.Annualisation:
        """Bars per year at this bar size over the calendar years these bars span."""
        from engine.data import calendar

        if not len(self.index):
            raise InputError("no bars to annualise over")
        dates = self.session_dates
        return calendar.annualisation(self.bar_size, dates[0], dates[-1])

    def resample(self, bar_size: str) -> Bars:
        """These bars in a coarser ``bar_size`` (see :func:`engine.data.resample.resample`)."""
        from engine.data.resample import resample

        long = self.to_long()
        long["adj_close"] = long["close"]  # the prices here are already what they are
        rows = resample(long, bar_size, source_size=self.bar_size)
        return Bars.from_long(rows, adjust=False, bar_size=bar_size,
                              extended_hours=self.extended_hours, sources=self.sources)

    # -- conversion ------------------------------------------------------------------

    @classmethod
    def from_long(
        cls,
        frame: pd.DataFrame,
        *,
        adjust: bool = True,
        bar_size: str = bar_sizes.DAILY,
        extended_hours: bool = False,
        sources: tuple[str, ...] = (),
    ) -> Bars:
        """Wide bars from long rows (date, symbol, open, high, low, close, volume[, adj_close]).

        Intraday rows carry ``timestamp`` (the bar's start, tz-aware) instead of ``date``.
        With ``adjust`` (the default for research), prices are scaled by
        ``adj_close / close`` so that splits and dividends do not look like crashes, and
        volume by the inverse so that dollar volume is kept.
        """
        if frame.empty:
            raise InputError("no bars to build from", hint="ingest bars first: wb ingest --source sample")
        frame = frame.copy()
        if bar_sizes.is_intraday(bar_size):
            frame["date"] = _exchange_timestamps(frame["timestamp"])
        else:
            frame["date"] = pd.to_datetime(frame["date"])
        if adjust and "adj_close" in frame:
            factor = adjustment_factors(frame["close"].to_numpy(dtype=float),
                                        frame["adj_close"].to_numpy(dtype=float))  # fmt: skip
            for col in ("open", "high", "low", "close"):
                frame[col] = frame[col] * factor
            frame["volume"] = frame["volume"] / factor
        # One reshape for every field (a pivot per field sorts the same index five times).
        both = frame.set_index(["date", "symbol"])[list(FIELDS)].unstack("symbol").sort_index()
        wide = {f: both[f] for f in FIELDS}
        index_name = "timestamp" if bar_sizes.is_intraday(bar_size) else "date"
        for f in FIELDS:
            wide[f].columns.name = None
            wide[f].index.name = index_name
        return cls(**wide, bar_size=bar_size, extended_hours=extended_hours,
                   sources=tuple(sorted(set(sources))))

    @classmethod
    def from_arrays(cls, index: pd.DatetimeIndex, symbols: pd.Index, fields: np.ndarray, *,
                    bar_size: str = bar_sizes.DAILY, extended_hours: bool = False,
                    sources: tuple[str, ...] = ()) -> Bars:  # fmt: skip
        """Bars over ``fields`` (open, high, low, close, volume along the first axis, each
        bars x symbols), sharing its memory: a live step's window without copying it.

        The frames are read-only views (writing to one raises instead of changing bars
        that others hold); ``index`` and ``symbols`` are shared by every frame.
        """
        fields = fields.view()
        fields.flags.writeable = False
        frames = {f: pd.DataFrame(fields[i], index=index, columns=symbols, copy=False)
                  for i, f in enumerate(FIELDS)}  # fmt: skip
        return cls(**frames, bar_size=bar_size, extended_hours=extended_hours, sources=sources)

    def to_long(self) -> pd.DataFrame:
        """Long rows (date or timestamp, symbol, open, high, low, close, volume), no empty cells."""
        when = "timestamp" if self.is_intraday else "date"
        parts = [getattr(self, f).stack(future_stack=True).rename(f) for f in FIELDS]
        long = pd.concat(parts, axis=1).dropna(subset=["close"]).reset_index()
        long.columns = [when, "symbol", *FIELDS]
        return long.sort_values(["symbol", when], ignore_index=True)


def exchange_dates(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Each bar's trading date (tz-naive midnight): a daily index as it is, intraday bars'
    New York dates (not their UTC dates, which differ for a post-market bar)."""
    if getattr(index, "tz", None) is None:
        return index
    return index.tz_convert(EXCHANGE_TZ).tz_localize(None).normalize()


def weekday_block_starts(index: pd.DatetimeIndex, anchor: np.datetime64, every: int) -> np.ndarray:
    """True on the first bar of each block of ``every`` weekdays counted from ``anchor``.

    A schedule fixed by the calendar, not by where the data begins (rebalances, retrains):
    on intraday bars it falls on the first bar of a session.
    """
    days = exchange_dates(index).to_numpy().astype("datetime64[D]")
    block = np.busday_count(anchor, days) // every
    return np.r_[True, block[1:] != block[:-1]] if len(block) else np.zeros(0, dtype=bool)


def _exchange_timestamps(values) -> pd.Series:
    """``values`` as tz-aware New York times (tz-naive values are taken to be New York time)."""
    stamps = pd.to_datetime(values)
    if stamps.dt.tz is None:
        return stamps.dt.tz_localize(EXCHANGE_TZ)
    return stamps.dt.tz_convert(EXCHANGE_TZ)


def _exchange_time(value, *, end_of_day: bool = False):
    """A bound for slicing intraday bars: dates and naive times are New York time."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        return stamp.tz_convert(EXCHANGE_TZ)
    if end_of_day and stamp == stamp.normalize():
        stamp = stamp + pd.Timedelta(days=1) - pd.Timedelta(1, unit="ns")
    return stamp.tz_localize(EXCHANGE_TZ)
