"""The broker's calendar and clock against the workbench's NYSE calendar: where they differ.

A broker that keeps its own calendar (Alpaca's GET /v2/calendar and /v2/clock) is asked
at start-up and once a trading day. A disagreement (a session one side has and the
other has not, an open or close at another time, a clock that says open when the
calendar says shut) is an alert for a person: one of the two calendars is wrong, or a
market event (an unscheduled closure) reached one before the other. For when orders go,
the broker's session wins: it is the one that fills them.

Pure: sessions and a clock in, sentences out.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd

from engine.brokers.base import Clock, Session
from engine.data import calendar

#: How far ahead the calendars are compared: the sessions a daily loop will step next.
HORIZON = timedelta(days=30)
#: Times closer than this are the same (the broker's calendar is in minutes).
SAME_TIME = timedelta(seconds=59)


def workbench_sessions(start: date, end: date) -> list[Session]:
    """The NYSE calendar's sessions from ``start`` to ``end``, as a broker's would be given."""
    schedule = calendar.schedule(start, end)
    return [
        Session(day=day.date(), open=_naive(row.market_open), close=_naive(row.market_close))
        for day, row in schedule.iterrows()
    ]


def session_differences(theirs: list[Session], start: date, end: date) -> list[str]:
    """Each way the broker's sessions from ``start`` to ``end`` differ from the NYSE calendar's."""
    ours = {s.day: s for s in workbench_sessions(start, end)}
    broker = {s.day: s for s in theirs if start <= s.day <= end}
    found = []
    for day in sorted(set(ours) | set(broker)):
        mine, other = ours.get(day), broker.get(day)
        if other is None:
            found.append(f"{day}: a session on the NYSE calendar, none at the broker")
        elif mine is None:
            found.append(f"{day}: a session at the broker, none on the NYSE calendar")
        else:
            for what in ("open", "close"):
                a, b = getattr(mine, what), getattr(other, what)
                if abs(a - b) > SAME_TIME:
                    found.append(
                        f"{day}: the broker's {what} is {_ny(b)} New York time, the NYSE "
                        f"calendar's {_ny(a)}"
                    )
    return found


def clock_differences(clock: Clock) -> list[str]:
    """Each way the broker's clock disagrees with the NYSE calendar at the clock's time."""
    found = []
    open_here = calendar.is_open(clock.timestamp)
    if clock.is_open != open_here:
        found.append(
            f"at {_ny(clock.timestamp)} New York time the broker says the market is "
            f"{'open' if clock.is_open else 'shut'}, the NYSE calendar "
            f"{'open' if open_here else 'shut'}"
        )
    ahead = workbench_sessions(_ny_date(clock.timestamp), _ny_date(clock.timestamp) + HORIZON)
    for what, theirs in (("open", clock.next_open), ("close", clock.next_close)):
        times = [getattr(s, what) for s in ahead if getattr(s, what) > clock.timestamp]
        if times and abs(times[0] - theirs) > SAME_TIME:
            found.append(
                f"the broker's next {what} is {_ny(theirs)} New York time, the NYSE "
                f"calendar's {_ny(times[0])}"
            )
    return found


def _naive(stamp: pd.Timestamp) -> datetime:
    return stamp.tz_convert("UTC").tz_localize(None).to_pydatetime()


def _ny(at: datetime) -> str:
    return f"{pd.Timestamp(at).tz_localize('UTC').tz_convert(calendar.TZ):%Y-%m-%d %H:%M}"


def _ny_date(at: datetime) -> date:
    return pd.Timestamp(at).tz_localize("UTC").tz_convert(calendar.TZ).date()
