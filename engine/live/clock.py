"""The loop's clocks: a replay's simulated one, and the NYSE's for paper and live trading.

A daily-bar loop acts once per session, after the close, when the day's bar is final: it
decides then, and its orders wait for the next open. In a replay, "now" is that moment of
each replayed session; in paper and live trading the loop sleeps until it comes (waking
every ``tick`` seconds to beat its heartbeat and apply the trader's commands).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from engine.brokers.base import Session
from engine.data import calendar
from engine.risk import sessions
from engine.store.events import utcnow


def session_close(day: date) -> datetime:
    """The close of the session on ``day`` (naive UTC; 16:00 New York if the NYSE was shut)."""
    session = sessions.session_on(day)  # a year's sessions read once, then looked up
    if session is None:
        local = pd.Timestamp(day) + pd.Timedelta(hours=16)
        return local.tz_localize(calendar.TZ).tz_convert("UTC").tz_localize(None).to_pydatetime()
    return session.close.astimezone(UTC).replace(tzinfo=None)


class ReplayClock:
    """Simulated time: just after the close of the session being replayed."""

    #: How long after the close the loop acts: the bar is final then.
    AFTER_CLOSE = timedelta(minutes=1)

    def __init__(self):
        self._now = datetime(1970, 1, 1)

    def follow(self, sessions: list[Session]) -> None:
        """Nothing to follow: a replay steps the sessions of its stored bars."""

    def at(self, day: date) -> datetime:
        """Move the clock to just after ``day``'s close; gives that moment."""
        self._now = session_close(day) + self.AFTER_CLOSE
        return self._now

    def now(self) -> datetime:
        return self._now


class MarketClock:
    """The wall clock, with the NYSE calendar: when the next step is due, and sleeping until it.

    ``after_close`` is how long after the close the day's bar is expected in the store
    (the data refresh job runs then). Where the broker keeps its own calendar, its
    sessions (:meth:`follow`) time the steps: it is the one that fills the orders.
    """

    def __init__(
        self,
        *,
        after_close: timedelta = timedelta(minutes=20),
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = utcnow,
    ):
        self.after_close = after_close
        self._sleep = sleep
        self._now = now
        self._broker: dict[date, Session] = {}

    def follow(self, sessions: list[Session]) -> None:
        """Time the steps by the broker's ``sessions`` over the days they cover."""
        if sessions:
            first, last = sessions[0].day, sessions[-1].day
            covered = {d: s for d, s in self._broker.items() if not first <= d <= last}
            self._broker = {**covered, **{s.day: s for s in sessions}}
            self._covers = (min(self._broker), max(self._broker))

    def now(self) -> datetime:
        return self._now()

    def at(self, day: date) -> datetime:
        return self.now()

    def due(self, day: date) -> datetime:
        """When the step for the session on ``day`` is due (naive UTC)."""
        session = self._broker.get(day)
        return (session.close if session else session_close(day)) + self.after_close

    def next_session(self, after: date | None) -> date:
        """The first session whose step is not done: after ``after``, and already closed or today."""
        today = pd.Timestamp(self.now()).tz_localize("UTC").tz_convert(calendar.TZ).date()
        if after is None:
            if self._trades_on(today):
                return today
            after = today
        following = self._broker_after(after)
        return following or calendar.next_session(after).date()

    def _trades_on(self, day: date) -> bool:
        if self._broker and self._covers[0] <= day <= self._covers[1]:
            return day in self._broker
        return calendar.is_trading_day(day)

    def _broker_after(self, day: date) -> date | None:
        """The broker's first session after ``day``, when its calendar covers that stretch."""
        if not self._broker or not self._covers[0] <= day < self._covers[1]:
            return None
        return min((d for d in self._broker if d > day), default=None)

    def wait_until(self, when: datetime, *, tick: float, on_tick: Callable[[], None]) -> None:
        """Sleep until ``when``, calling ``on_tick`` at least every ``tick`` seconds."""
        while True:
            left = (when - self.now()).total_seconds()
            if left <= 0:
                return
            self._sleep(min(left, tick))
            on_tick()
