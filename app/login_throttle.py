"""Growing delays after failed logins, by source and by user name, that never lock the trader out.

A lockout by user name lets anyone who can reach the page keep the trader out, forever.
Delays instead: after a few failures from a source, that source waits before its next
try (1 s, then 2, 4, ... up to 5 minutes); after a few failures for a user name, every
source that has itself failed waits too, counted from its own last failure (1 s, 2, ...
up to a minute). A source with no failures of its own is never held back by the name's
count, so the trader typing the right password gets in while someone else guesses, and a
trader who mistyped waits at most a minute. A throttled try is refused before the password is
hashed: guessing costs the guesser time, not the server work.

Failures are forgotten after ``WINDOW_S`` seconds without another, and on a successful
login from that source. The throttle lives in the control room's process (one Streamlit
server serves every session); a restart forgets it.

>>> throttle = LoginThrottle(clock=lambda: 0.0)
>>> for _ in range(3):
...     throttle.failed("10.0.0.9", "tina")
>>> throttle.check("10.0.0.9", "tina").wait_s, throttle.check("10.0.0.7", "tina").allowed
(1.0, True)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Failures allowed before delays start, from one source and for one user name.
FREE_FAILURES = {"source": 3, "user": 5}
#: The first delay, doubled after each further failure, and the longest.
FIRST_DELAY_S = 1.0
LONGEST_DELAY_S = {"source": 300.0, "user": 60.0}
#: Failures older than this (with none since) are forgotten.
WINDOW_S = 15 * 60.0
#: Sources and names remembered at most; the stalest are forgotten first.
MAX_TRACKED = 10_000


@dataclass(frozen=True)
class Decision:
    """Whether a login may be tried now; if not, how long to wait and whose failures cause it."""

    allowed: bool
    wait_s: float = 0.0
    by: str | None = None  # "source" or "user"
    first: bool = False  # the first refusal since the failure that set this wait


def delay_after(failures: int, kind: str) -> float:
    """Seconds to wait after ``failures`` recent failures of a source or a user name."""
    extra = failures - FREE_FAILURES[kind]
    if extra < 0:
        return 0.0
    return min(FIRST_DELAY_S * 2.0 ** min(extra, 30), LONGEST_DELAY_S[kind])


class LoginThrottle:
    """Failed logins by source and by user name, and the delays they impose (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._refused: dict[tuple[str, str], int] = {}

    def check(self, source: str, name: str) -> Decision:
        """May ``source`` try to log in as ``name`` now? (see the module docstring)."""
        now = self._clock()
        with self._lock:
            source_key, user_key = ("source", source), ("user", name)
            own = self._recent(source_key, now)
            if not own:  # a clean source is never held back, whatever the name's count
                return Decision(True)
            waits = [
                (own[-1] + delay_after(len(own), "source") - now, source_key),
                # The name's count sets how long after its own last failure a source waits:
                # many sources guessing one name each slow down, and none waits for the others.
                (own[-1] + delay_after(len(self._recent(user_key, now)), "user") - now, user_key),
            ]
            wait, key = max(waits)
            if wait <= 0:
                return Decision(True)
            self._refused[key] = self._refused.get(key, 0) + 1
            return Decision(False, wait, key[0], first=self._refused[key] == 1)

    def failed(self, source: str, name: str) -> None:
        """Count a failed login of ``source`` as ``name``."""
        now = self._clock()
        with self._lock:
            for key in (("source", source), ("user", name)):
                self._failures[key] = [*self._recent(key, now), now]
                self._refused.pop(key, None)
            if len(self._failures) > MAX_TRACKED:
                self._forget_stalest()

    def succeeded(self, source: str) -> None:
        """A login from ``source`` succeeded: its failures are forgotten (the name's are kept)."""
        with self._lock:
            self._failures.pop(("source", source), None)
            self._refused.pop(("source", source), None)

    def failures(self, source: str, name: str) -> tuple[int, int]:
        """(recent failures from ``source``, recent failures for ``name``)."""
        now = self._clock()
        with self._lock:
            return len(self._recent(("source", source), now)), len(
                self._recent(("user", name), now)
            )

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        return [t for t in self._failures.get(key, ()) if now - t < WINDOW_S]

    def _forget_stalest(self) -> None:
        by_last = sorted(
            self._failures, key=lambda k: self._failures[k][-1] if self._failures[k] else 0
        )
        for key in by_last[: len(by_last) - MAX_TRACKED]:
            self._failures.pop(key, None)
            self._refused.pop(key, None)
