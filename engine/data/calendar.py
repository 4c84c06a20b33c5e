"""The NYSE calendar: trading sessions, half days, and open/close times."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

import pandas as pd
import pandas_market_calendars as mcal

TZ = "America/New_York"


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
