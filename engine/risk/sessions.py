"""NYSE sessions for the gate: the same calendar as engine.data.calendar, as plain lists.

The gate runs for every order, so it cannot afford a pandas schedule per question. Each
year's sessions are read once from :mod:`engine.data.calendar` (pandas-market-calendars,
holidays and half days included) and kept as sorted Python lists; every question after
that is a dictionary look-up or a binary search.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from engine.data import calendar
from engine.risk.gate_inputs import as_utc

NEW_YORK = ZoneInfo(calendar.TZ)


@dataclass(frozen=True, slots=True)
class Session:
    """One trading day: its date and its open and close (tz-aware UTC)."""

    day: date
    open: datetime
    close: datetime

    @property
    def is_half_day(self) -> bool:
        return self.close.astimezone(NEW_YORK).hour < 16


@dataclass(frozen=True)
class _Year:
    days: list[date]
    by_day: dict[date, Session]


@lru_cache(maxsize=16)
def _year(year: int) -> _Year:
    sched = calendar.schedule(f"{year}-01-01", f"{year}-12-31")
    sessions = [
        Session(day.date(), opened.to_pydatetime(), closed.to_pydatetime())
        for day, opened, closed in zip(
            sched.index, sched["market_open"], sched["market_close"], strict=True
        )
    ]
    return _Year([s.day for s in sessions], {s.day: s for s in sessions})


def new_york_date(at: datetime) -> date:
    """The New York calendar date of ``at`` (naive times are UTC)."""
    return as_utc(at).astimezone(NEW_YORK).date()


def session_on(day: date) -> Session | None:
    """The session on ``day``, or None when the NYSE is shut (weekend or holiday)."""
    return _year(day.year).by_day.get(day)


def session_at(at: datetime) -> Session | None:
    """The session open at ``at`` (regular hours, half days close early), or None."""
    at = as_utc(at)
    session = session_on(at.astimezone(NEW_YORK).date())
    if session is not None and session.open <= at < session.close:
        return session
    return None


def trade_date(at: datetime) -> date:
    """The session an order sent at ``at`` trades in: today's until its close, else the next."""
    at = as_utc(at)
    today = at.astimezone(NEW_YORK).date()
    session = session_on(today)
    if session is not None and at < session.close:
        return today
    return next_session_day(today)


def next_session_day(after: date) -> date:
    """The first trading date strictly after ``after``."""
    for year in (after.year, after.year + 1):
        days = _year(year).days
        i = bisect.bisect_right(days, after)
        if i < len(days):
            return days[i]
    raise LookupError(f"no NYSE session after {after} in the calendar")


def sessions_until(day: date, until: date) -> int:
    """How many trading dates fall after ``day`` up to and including ``until`` (0 if none)."""
    count = 0
    for year in range(day.year, until.year + 1):
        days = _year(year).days
        count += bisect.bisect_right(days, until) - bisect.bisect_right(days, day)
    return max(count, 0)


def session_days_back(day: date, count: int) -> list[date]:
    """The ``count`` trading dates ending at ``day`` (included when it is a session), oldest first."""
    found: list[date] = []
    year = day.year
    while len(found) < count:
        days = _year(year).days
        end = bisect.bisect_right(days, day) if year == day.year else len(days)
        need = count - len(found)
        found = days[max(0, end - need) : end] + found
        year -= 1
        if year < day.year - 2:  # a week of sessions is never more than two years back
            break
    return found


def week_start(day: date) -> date:
    """The first trading date of the (Monday-to-Friday) week that contains ``day``."""
    monday = day - timedelta(days=day.weekday())
    for offset in range(7):
        candidate = monday + timedelta(days=offset)
        if session_on(candidate) is not None:
            return candidate
    return monday  # a week without sessions: no trading to measure anyway


def closed_reason(at: datetime) -> str:
    """Why the regular session is not open at ``at``, in a trader's words (times in New York)."""
    at = as_utc(at)
    local = at.astimezone(NEW_YORK)
    today = local.date()
    session = session_on(today)
    label = f"{local:%a %Y-%m-%d %H:%M} ET"
    if session is None:
        if today.weekday() >= 5:
            why = "the weekend"
        else:
            why = holiday_name(today) or "a market holiday"
        return f"the NYSE is closed at {label} ({why}); next session {next_session_day(today)}"
    opened = session.open.astimezone(NEW_YORK)
    closed = session.close.astimezone(NEW_YORK)
    if at < session.open:
        return f"the NYSE is not open yet at {label}; it opens at {opened:%H:%M} ET"
    early = " (a half day)" if session.is_half_day else ""
    return f"the NYSE closed at {closed:%H:%M} ET{early}; it is {label}"


@lru_cache(maxsize=64)
def holiday_name(day: date) -> str | None:
    """The name of the NYSE holiday on ``day`` (e.g. "Thanksgiving"), or None."""
    names = calendar.nyse().regular_holidays.holidays(
        start=day.isoformat(), end=day.isoformat(), return_name=True
    )
    if len(names) == 0:
        return None
    # The calendar's rule names carry their validity ("Good Friday 1908+"); a trader needs
    # only the day's name.
    name = str(names.iloc[0])
    return re.sub(r"\s+(\d{4}\+|Starting at \d{4}|Before \d{4}|\d{4}-\d{4})$", "", name)
