"""Clocks for the scheduler: the real one, and one that tests (or a replay) move by hand."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that stands still until it is set or advanced.

    >>> clock = FakeClock(datetime(2024, 11, 27, 16, 0, tzinfo=ZoneInfo("America/New_York")))  # doctest: +SKIP
    >>> clock.advance(minutes=30)                                                              # doctest: +SKIP
    """

    def __init__(self, start: datetime):
        self._now = _aware(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = _aware(when)

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``; gives back the new time."""
        with self._lock:
            self._now += timedelta(**delta)
            return self._now


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError(
            "give the clock a timezone-aware time, e.g. tzinfo=ZoneInfo('America/New_York')"
        )
    return when
