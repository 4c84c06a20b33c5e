"""The loop's clocks: when each bar closes, a replay's simulated time, and the NYSE's.

A loop acts at each bar close of its bar size during the regular session, a few seconds
after it, when the bar is complete at the source. A daily-bar loop acts once per session,
after the close: it decides then, and its orders wait for the next open. An intraday loop
acts at 9:35, 9:40, ... 16:00 (5-minute bars), 13:00 last on an early close, whose last
bar is short (an hourly loop's 12:30-13:00). Bar times come from the NYSE calendar
(holidays, early closes), in New York time, so DST never enters the arithmetic.

In a replay, "now" is that moment of each replayed bar; in paper and live trading the
loop sleeps until it comes (waking every ``tick`` seconds to beat its heartbeat and apply
the trader's commands).

>>> [f"{b.start:%H:%M}-{b.close:%H:%M}" for b in session_bars("2024-11-29", "1h")]
['09:30-10:30', '10:30-11:30', '11:30-12:30', '12:30-13:00']
>>> next_bar(pd.Timestamp("2024-11-27 16:00", tz="America/New_York"), "5m").close
Timestamp('2024-11-29 09:35:00-0500', tz='America/New_York')
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from engine.backtest.flat import flat_by
from engine.brokers.base import Session
from engine.data import calendar
from engine.data.bar_sizes import DAILY, MINUTES, check_bar_size
from engine.risk import sessions
from engine.store.events import utcnow

#: How long after a bar's close an intraday step acts: long enough for the source to
#: finish the bar (Alpaca emits a minute bar within a second or two of the minute).
INTRADAY_DELAY = timedelta(seconds=5)


@dataclass(frozen=True, order=True)
class BarClose:
    """One bar of one session at one bar size: its start and close (New York time).

    ``last`` marks the session's last bar: orders sent after it wait for the next open.
    Ordered by close, so ``max(bars)`` is the newest.
    """

    close: pd.Timestamp
    start: pd.Timestamp
    session: date
    bar_size: str
    last: bool

    @property
    def label(self) -> pd.Timestamp:
        """The bar's row in :class:`~engine.data.bars.Bars`: its session date (daily) or its start."""
        if self.bar_size == DAILY:
            return pd.Timestamp(self.session)
        return self.start

    def due(self, delay: timedelta) -> datetime:
        """When a step for this bar acts, ``delay`` after its close (naive UTC, as the loop keeps time)."""
        return self._close_utc + delay

    @functools.cached_property
    def _close_utc(self) -> datetime:
        # Converted once: a replay asks it twice a step, and pandas' time zones are slow.
        return self.close.tz_convert("UTC").tz_localize(None).to_pydatetime()

    def __str__(self) -> str:
        if self.bar_size == DAILY:
            return str(self.session)
        return f"{self.start:%Y-%m-%d %H:%M}-{self.close:%H:%M} ({self.bar_size})"


def bars_between(start, end, bar_size: str) -> list[BarClose]:
    """Every bar of ``bar_size`` in the sessions from ``start`` to ``end`` (dates, inclusive), in order."""
    bar_size = check_bar_size(bar_size)
    table = calendar.session_times(pd.Timestamp(start).date(), pd.Timestamp(end).date())
    if table.empty:
        return []
    days = pd.DatetimeIndex(table.index)
    opens, closes = table["open"].to_numpy(), table["close"].to_numpy()
    if bar_size == DAILY:
        starts, ends, per = opens, closes, np.ones(len(days), dtype="int64")
    else:
        size = MINUTES[bar_size]
        per = calendar.bars_in_session(bar_size, opens, closes).astype("int64")
        nth = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
        starts = np.repeat(opens, per) + nth * size
        ends = np.minimum(starts + size, np.repeat(closes, per))  # the last bar may be short
    day = days.repeat(per)
    local_start = (day + pd.to_timedelta(starts, unit="min")).tz_localize(calendar.TZ)
    local_close = (day + pd.to_timedelta(ends, unit="min")).tz_localize(calendar.TZ)
    last = np.r_[day[1:] != day[:-1], True]
    return [
        BarClose(close, opened, session.date(), bar_size, bool(is_last))
        for close, opened, session, is_last in zip(local_close, local_start, day, last, strict=True)
    ]


def session_bars(day, bar_size: str) -> list[BarClose]:
    """The bars of the session on ``day`` at ``bar_size`` (none when the NYSE is shut)."""
    return bars_between(day, day, bar_size)


def next_bar(after, bar_size: str) -> BarClose:
    """The first bar of ``bar_size`` that closes strictly after ``after`` (tz-aware, or naive UTC)."""
    after = _new_york(after)
    day = after.tz_localize(None).normalize()
    for _ in range(4):  # a fortnight at a time: no NYSE closure is longer
        for bar in bars_between(day, day + pd.Timedelta(days=13), bar_size):
            if bar.close > after:
                return bar
        day += pd.Timedelta(days=14)
    raise LookupError(f"no NYSE session in the eight weeks after {after}")


def entry_refusal(bar: BarClose, now, last_bar_entries: str) -> str | None:
    """Why an entry decided on ``bar`` may not be sent at ``now`` (None: it may go).

    An intraday entry is meant for its own session: it fills there when sent while that
    session is open. Decided on the session's last bar it could only fill at the next
    open, through the overnight gap: the config's ``last_bar_entries`` says whether it
    goes (``next_open``) or is refused (``refuse``). Decided on an earlier bar but sent
    after the close (a late step), it is refused: it was not decided for the next
    session. A daily bar's entries are decided after the close for the next open.
    """
    if bar.bar_size == DAILY:
        return None
    executes = sessions.trade_date(_new_york(now).to_pydatetime())
    if executes == bar.session:
        return None
    at_open = f"would fill at the open of {executes:%a %Y-%m-%d}"
    if not bar.last:
        return (
            f"the step for the {bar} bar ran after the session closed: its entries {at_open}, "
            "a session they were not decided for"
        )
    if last_bar_entries == "next_open":
        return None
    return (
        f"an entry signalled on the session's last bar ({bar}) {at_open}, through the "
        "overnight gap; the config refuses it (last_bar_entries: refuse)"
    )


@functools.lru_cache(maxsize=64)
def flat_bar(session: date, bar_size: str, minutes_before_close: int = 0) -> BarClose | None:
    """The bar of ``session`` at whose close a flat-by-close book sells out (None: no bar
    ends ``minutes_before_close`` before the close, so the session takes no entry): the
    backtest's rule (:func:`engine.backtest.flat.flat_by`) on the calendar's bars."""
    bars = session_bars(session, bar_size)
    if not bars:
        return None
    ends = [b.close for b in bars]
    flat, _ = flat_by(ends, [bars[-1].close] * len(bars), [b.last for b in bars],
                      minutes_before_close)  # fmt: skip
    return next((b for b, at in zip(bars, flat, strict=True) if at), None)


def flat_due(bar: BarClose, minutes_before_close: int = 0) -> bool:
    """True when a flat-by-close book is to be flat at ``bar``'s close: it is the session's
    flat bar or a later one. An entry decided then would fill after the flat bar, which
    the backtest never does, so it takes none either."""
    flat = flat_bar(bar.session, bar.bar_size, minutes_before_close)
    return flat is None or bar.close >= flat.close


def _new_york(at) -> pd.Timestamp:
    at = pd.Timestamp(at)
    return (at.tz_localize("UTC") if at.tzinfo is None else at).tz_convert(calendar.TZ)


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

    def __init__(self, *, delay: timedelta = INTRADAY_DELAY):
        self._now = datetime(1970, 1, 1)
        self.delay = delay  # after an intraday bar's close, as in paper and live trading

    def follow(self, sessions: list[Session]) -> None:
        """Nothing to follow: a replay steps the sessions of its stored bars."""

    def at(self, day: date) -> datetime:
        """Move the clock to just after ``day``'s close; gives that moment."""
        self._now = session_close(day) + self.AFTER_CLOSE
        return self._now

    def at_bar(self, bar: BarClose) -> datetime:
        """Move the clock to when the step for ``bar`` acts, just after its close; gives that moment."""
        self._now = bar.due(self.AFTER_CLOSE if bar.bar_size == DAILY else self.delay)
        return self._now

    def now(self) -> datetime:
        return self._now


class MarketClock:
    """The wall clock, with the NYSE calendar: when the next step is due, and sleeping until it.

    ``after_close`` is how long after the close the day's bar is expected in the store
    (the data refresh job runs then). Where the broker keeps its own calendar, its
    sessions (:meth:`follow`) time the daily steps: it is the one that fills the orders.
    An intraday loop (``bar_size`` 1m ... 1h) steps ``delay`` after each bar's close
    instead, when its feed has the bar.
    """

    def __init__(
        self,
        *,
        after_close: timedelta = timedelta(minutes=20),
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = utcnow,
        bar_size: str = DAILY,
        delay: timedelta = INTRADAY_DELAY,
    ):
        self.after_close = after_close
        self._sleep = sleep
        self._now = now
        self.bar_size = check_bar_size(bar_size)
        self.delay = delay
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

    def sleep(self, seconds: float) -> None:
        """Sleep on this clock (a feed waiting for a late bar)."""
        self._sleep(seconds)

    def at(self, day: date) -> datetime:
        return self.now()

    def at_bar(self, bar: BarClose) -> datetime:
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

    def bar_due(self, bar: BarClose) -> datetime:
        """When the step for ``bar`` is due (naive UTC)."""
        if bar.bar_size == DAILY:
            return self.due(bar.session)
        return bar.due(self.delay)

    def next_bar(self, after: date | BarClose | None) -> BarClose:
        """The next bar to step: daily, the first session not done after ``after`` (a bar or
        a session date; as :meth:`next_session`);
        intraday, the first bar after ``after`` whose step is not yet past due.

        An intraday loop never steps a bar whose moment has gone (it was down, or a step
        ran long): the next bar's window holds what it missed, and its orders could only
        be sent late. A daily loop catches up on the sessions it missed, as it always has.
        """
        if self.bar_size == DAILY:
            day = after.session if isinstance(after, BarClose) else after
            return session_bars(self.next_session(day), DAILY)[0]
        floor = pd.Timestamp(self.now() - self.delay) - pd.Timedelta(microseconds=1)
        if after is not None:
            floor = max(floor, after.close.tz_convert("UTC").tz_localize(None))
        return next_bar(floor, self.bar_size)

    def wait_until(self, when: datetime, *, tick: float, on_tick: Callable[[], None]) -> None:
        """Sleep until ``when``, calling ``on_tick`` at least every ``tick`` seconds."""
        while True:
            left = (when - self.now()).total_seconds()
            if left <= 0:
                return
            self._sleep(min(left, tick))
            on_tick()
