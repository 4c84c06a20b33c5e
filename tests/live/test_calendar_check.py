"""The broker's calendar and clock against the NYSE calendar: each disagreement in words."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from engine.brokers.base import Clock
from engine.live.calendar_check import (
    clock_differences,
    session_differences,
    workbench_sessions,
)
from engine.live.clock import MarketClock

WEEK = (date(2024, 7, 1), date(2024, 7, 8))


def test_the_same_calendar_has_nothing_to_say():
    assert session_differences(workbench_sessions(*WEEK), *WEEK) == []


def test_a_missing_session_an_extra_one_and_another_close_are_each_named():
    sessions = workbench_sessions(*WEEK)
    shut = [s for s in sessions if s.day != date(2024, 7, 5)]
    early = [
        replace(s, close=datetime(2024, 7, 2, 17, 0)) if s.day == date(2024, 7, 2) else s
        for s in shut
    ]
    extra = [*early, replace(sessions[0], day=date(2024, 7, 4))]  # Independence Day

    found = session_differences(extra, *WEEK)

    assert found == [
        "2024-07-02: the broker's close is 2024-07-02 13:00 New York time, the NYSE calendar's "
        "2024-07-02 16:00",
        "2024-07-04: a session at the broker, none on the NYSE calendar",
        "2024-07-05: a session on the NYSE calendar, none at the broker",
    ]


def test_a_clock_that_says_shut_during_the_session_is_named():
    at = datetime(2024, 7, 1, 15, 0)  # 11:00 New York, a Monday
    agreeing = Clock(timestamp=at, is_open=True, next_open=datetime(2024, 7, 2, 13, 30),
                     next_close=datetime(2024, 7, 1, 20, 0))  # fmt: skip
    assert clock_differences(agreeing) == []
    (found,) = clock_differences(replace(agreeing, is_open=False))
    assert "the broker says the market is shut, the NYSE calendar open" in found


def test_the_market_clock_steps_by_the_brokers_sessions_where_it_has_them():
    clock = MarketClock(now=lambda: datetime(2024, 7, 1, 22, 0))
    sessions = workbench_sessions(*WEEK)
    clock.follow(
        [
            replace(s, close=datetime(2024, 7, 2, 17, 0)) if s.day == date(2024, 7, 2) else s
            for s in sessions
            if s.day != date(2024, 7, 3)
        ]
    )
    assert clock.due(date(2024, 7, 2)) == datetime(2024, 7, 2, 17, 0) + clock.after_close
    assert clock.next_session(date(2024, 7, 2)) == date(2024, 7, 5)  # the 3rd shut there
    assert clock.next_session(date(2024, 7, 10)) == date(2024, 7, 11)  # beyond: NYSE
