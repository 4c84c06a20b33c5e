"""The NYSE calendar: trading sessions, half days, open/close times, and bars per year."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import numpy as np
import pandas as pd
import pandas_market_calendars as mcal

from engine.data.bar_sizes import DAILY, EXCHANGE_TZ, MINUTES, check_bar_size
from engine.errors import InputError

TZ = EXCHANGE_TZ


@lru_cache(maxsize=1)
def nyse():
    return mcal.get_calendar("NYSE")


@lru_cache(maxsize=64)
def _schedule(start: str, end: str) -> pd.DataFrame:
    return nyse().schedule(start_date=start, end_date=end)


def schedule(start, end) -> pd.DataFrame:
    """Sessions from ``start`` to ``end`` with ``market_open``/``market_close`` in UTC."""
    return _schedule(str(pd.Timestamp(start).date()), str(pd.Timestamp(end).date()))


def sessions(start, end) -> pd.DatetimeIndex:
    """Trading dates (tz-naive midnight) from ``start`` to ``end`` inclusive."""
    return pd.DatetimeIndex(schedule(start, end).index).normalize()


def is_trading_day(day: date | str | pd.Timestamp) -> bool:
    day = pd.Timestamp(day).normalize()
    return not schedule(day, day).empty


def session_bounds(day) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The (open, close) of the session on ``day`` in UTC, or None when the market is shut."""
    day = pd.Timestamp(day).normalize()
    sched = schedule(day, day)
    if sched.empty:
        return None
    row = sched.iloc[0]
    return row["market_open"], row["market_close"]


def is_open(at: datetime | pd.Timestamp) -> bool:
    """True when the regular session is open at ``at`` (a tz-aware time, or naive UTC)."""
    at = pd.Timestamp(at)
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    bounds = session_bounds(at.tz_convert(TZ).date())
    return bounds is not None and bounds[0] <= at < bounds[1]


def is_half_day(day) -> bool:
    """True on early-close sessions (the close is before 16:00 New York time)."""
    bounds = session_bounds(day)
    if bounds is None:
        return False
    close_ny = bounds[1].tz_convert(TZ)
    return (close_ny.hour, close_ny.minute) < (16, 0)


def next_session(after) -> pd.Timestamp:
    """The first trading date strictly after ``after``."""
    after = pd.Timestamp(after).normalize()
    found = sessions(after + pd.Timedelta(days=1), after + pd.Timedelta(days=14))
    return found[0]


# -- intraday: session times, bar grids and annualisation ------------------------------

#: Columns of :func:`session_times`, in minutes after midnight New York time.
SESSION_COLUMNS = ("pre", "open", "close", "post")


@lru_cache(maxsize=8)
def _session_times_for_years(first_year: int, last_year: int) -> pd.DataFrame:
    sched = nyse().schedule(
        start_date=f"{first_year}-01-01", end_date=f"{last_year}-12-31", start="pre", end="post"
    )
    days = pd.DatetimeIndex(sched.index).normalize()
    table = {}
    for name, column in zip(SESSION_COLUMNS, ("pre", "market_open", "market_close", "post"),
                            strict=True):
        local = pd.DatetimeIndex(sched[column]).tz_convert(TZ).tz_localize(None)
        table[name] = ((local - days) // pd.Timedelta(minutes=1)).astype("int64")
    return pd.DataFrame(table, index=pd.DatetimeIndex(days, name="session"))


def session_times(start, end) -> pd.DataFrame:
    """Sessions from ``start`` to ``end`` (dates, inclusive): pre, open, close, post per date.

    Each is minutes after midnight New York time (open 570 is 9:30, close 960 is 16:00,
    780 on an early close; pre 240 and post 1200 bound extended hours), so DST never
    enters the arithmetic. Indexed by tz-naive session date.
    """
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if start.tzinfo is not None or end.tzinfo is not None:
        start, end = (t.tz_convert(TZ).tz_localize(None).normalize() for t in (start, end))
    table = _session_times_for_years(start.year, max(end.year, start.year))
    return table.loc[start:end]


def bars_in_session(bar_size: str, open_minute, close_minute):
    """Bars of ``bar_size`` between open and close (minutes); the last one may be short."""
    if bar_size == DAILY:
        return np.ones_like(np.asarray(open_minute))
    size = MINUTES[bar_size]
    return -((np.asarray(open_minute) - np.asarray(close_minute)) // size)  # ceil division


@dataclass(frozen=True)
class Annualisation:
    """Bars in a year at one bar size, counted on the NYSE calendar with early closes.

    ``bars_per_year`` = bars in every session of the counted calendar years / years, so
    an early close (13:00) counts its 42 five-minute bars, not 78.
    """

    bar_size: str
    bars_per_session: int  # a full regular session
    bars_per_early_close: int  # a session that closes at 13:00
    sessions_per_year: float
    early_closes_per_year: float
    bars_per_year: float
    first_year: int
    last_year: int

    def describe(self) -> str:
        years = (f"{self.first_year}" if self.first_year == self.last_year
                 else f"{self.first_year}-{self.last_year}")
        if self.bar_size == "1d":
            return (f"1d bars: {self.sessions_per_year:.1f} sessions a year "
                    f"(NYSE calendar {years})")
        return (
            f"{self.bar_size} bars: {self.bars_per_session} per session, "
            f"{self.bars_per_early_close} on an early close; {self.sessions_per_year:.1f} "
            f"sessions a year of which {self.early_closes_per_year:.1f} early closes: "
            f"{self.bars_per_year:,.0f} bars a year (NYSE calendar {years})"
        )


def annualisation(bar_size: str, start, end) -> Annualisation:
    """Bars per year at ``bar_size`` over the whole calendar years from ``start`` to ``end``."""
    bar_size = check_bar_size(bar_size)
    first, last = pd.Timestamp(start).year, pd.Timestamp(end).year
    if last < first:
        raise InputError(f"annualisation from {start} to {end}: the range is backwards",
                         hint="give the earlier date first")
    table = session_times(f"{first}-01-01", f"{last}-12-31")
    years = last - first + 1
    bars = bars_in_session(bar_size, table["open"], table["close"])
    early = table["close"] < 16 * 60
    return Annualisation(
        bar_size=bar_size,
        bars_per_session=int(bars_in_session(bar_size, 570, 960)),
        bars_per_early_close=int(bars_in_session(bar_size, 570, 780)),
        sessions_per_year=len(table) / years,
        early_closes_per_year=float(early.sum()) / years,
        bars_per_year=float(bars.sum()) / years,
        first_year=first,
        last_year=last,
    )
