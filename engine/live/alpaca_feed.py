"""Bars for paper and live trading from Alpaca's market data, asked for right after each close.

:class:`AlpacaFeed` asks Alpaca's REST bars endpoint through the one Alpaca data client
(:class:`~engine.data.sources.alpaca.AlpacaSource`: paging, retries with backoff, clear
errors) when the loop's clock says a bar has closed. The first step of each session reads
the whole lookback, split- and dividend-adjusted as research sees it (a corporate action
takes effect at the open, so the session's first step is when history changes); later
steps of the session ask only for the bars since the last one, as traded (nothing has
adjusted them yet).

A bar that has not arrived is never guessed: the feed asks again every ``poll`` seconds
for at most ``wait``, then gives the window without it (see :mod:`engine.live.feed`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from engine.data import calendar
from engine.data.bar_sizes import DAILY, check_bar_size
from engine.data.bars import Bars
from engine.errors import TemporaryError
from engine.live.bar_window import ROW_FIELDS, BarWindow
from engine.live.clock import BarClose, session_bars
from engine.live.feed import sessions_back
from engine.store.events import utcnow


class HeldBars:
    """The bars a live feed holds for its lookback, as arrays (a :class:`BarWindow`): a
    step's window is a view of them, not wide frames rebuilt from long rows every step.

    A bar seen again replaces the one held (the source corrected it); :meth:`window` gives
    the wide :class:`Bars` a step sees, every symbol a column even when it has no bar yet
    (NaN, never guessed). A window handed out never changes: a later correction of one of
    its bars is written to a new buffer.
    """

    def __init__(self, symbols: list[str], bar_size: str, lookback: int, source: str):
        self.symbols = list(symbols)
        self.bar_size = check_bar_size(bar_size)
        self.lookback = lookback
        self.source = source
        self.when = "date" if self.bar_size == DAILY else "timestamp"
        self._columns = pd.Index(self.symbols)
        self._held = self._nothing()

    def _nothing(self) -> BarWindow:
        tz = None if self.bar_size == DAILY else calendar.TZ
        index = pd.DatetimeIndex([], tz=tz, name=self.when)
        none = np.empty((5, 0, len(self.symbols)))
        return BarWindow(index, self._columns, none, none, frozenset({self.source}),
                         bar_size=self.bar_size)  # fmt: skip

    def reset(self, rows: pd.DataFrame) -> None:
        self._held = self._nothing()
        self.add(rows)

    def add(self, rows: pd.DataFrame) -> None:
        """Hold ``rows`` (long: date or timestamp, symbol, open ... volume, adj_close); a
        symbol not followed is left out."""
        if rows.empty:
            return
        column = self._columns.get_indexer(rows["symbol"])
        ours = column >= 0
        times = pd.DatetimeIndex(rows[self.when], name=self.when)
        if self.bar_size != DAILY:  # naive times are New York's, as Bars.from_long takes them
            times = times.tz_convert(calendar.TZ) if times.tz else times.tz_localize(calendar.TZ)
        fields = np.stack([rows[f].to_numpy(dtype=float) for f in ROW_FIELDS])
        self._held = self._held.with_rows(times[ours], column[ours], fields[:, ours],
                                          frozenset({self.source}), self.lookback)  # fmt: skip

    def arrived(self, bar: BarClose) -> set[str]:
        """The symbols whose ``bar`` is held."""
        return {s for s, held in zip(self.symbols, self._held.arrived(bar.label), strict=True) if held}

    def newest(self) -> pd.Timestamp | None:
        index = self._held.index
        return index[-1] if len(index) else None

    def window(self, bar: BarClose) -> Bars:
        """The last ``lookback`` bars up to ``bar``; NaN where a symbol has none."""
        return self._held.through(bar.label, self.lookback)[0]


def session_start(day: date) -> pd.Timestamp:
    """Midnight in New York at the start of ``day`` (tz-aware): fetches from there take the session in."""
    return pd.Timestamp(day).tz_localize(calendar.TZ)


def as_bar(bar: date | BarClose, bar_size: str) -> BarClose:
    """``bar`` as a :class:`BarClose` (a session date is its daily bar)."""
    if isinstance(bar, BarClose):
        return bar
    if bar_size != DAILY:
        raise TypeError(f"a {bar_size} feed is asked for a bar time, not the date {bar}")
    (daily,) = session_bars(bar, DAILY) or [None]
    if daily is None:
        raise ValueError(f"the NYSE has no session on {bar}")
    return daily


class AlpacaFeed:
    """The loop's bars from Alpaca's REST bars endpoint (see the module docstring).

    ``wait`` bounds how long :meth:`window` waits for a bar that has not arrived; ``poll``
    is how often it asks again meanwhile. ``sleep`` and ``now`` stand in for the wall
    clock in tests.
    """

    def __init__(
        self,
        source,
        symbols: list[str],
        *,
        bar_size: str = DAILY,
        lookback: int = 300,
        wait: timedelta = timedelta(seconds=30),
        poll: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = utcnow,
    ):
        self.source = source
        self.symbols = list(symbols)
        self.bar_size = check_bar_size(bar_size)
        self.lookback = lookback
        self.wait, self.poll = wait, poll
        self._sleep, self._now = sleep, now
        self.held = HeldBars(self.symbols, self.bar_size, lookback, source.name)
        self._session: date | None = None  # the session whose history is held, adjusted
        self._since: pd.Timestamp | None = None  # bars from here on may still change

    def window(self, bar: date | BarClose) -> Bars:
        """The lookback ending at ``bar``, once every symbol's bar is there or ``wait`` is up."""
        bar = as_bar(bar, self.bar_size)
        deadline = self._now() + self.wait
        while True:
            trouble = self._ask(bar, through=True)
            if set(self.symbols) <= self.held.arrived(bar):
                break
            left = (deadline - self._now()).total_seconds()
            if left <= 0:
                if trouble is not None and not self.held.arrived(bar):
                    raise trouble  # nothing came because Alpaca could not be reached: say so
                break
            self._sleep(min(self.poll, left))
        self._since = bar.start
        return self.held.window(bar)

    def history(self, bar: date | BarClose) -> None:
        """Fetch the bars before ``bar`` that the feed lacks (a stream builds ``bar`` itself)."""
        bar = as_bar(bar, self.bar_size)
        trouble = self._ask(bar, through=False)
        if trouble is not None:
            raise trouble
        self._since = bar.start

    def missing(self, bar: date | BarClose) -> list[str]:
        """The symbols whose ``bar`` is not held (after :meth:`window` gave up waiting)."""
        return sorted(set(self.symbols) - self.held.arrived(as_bar(bar, self.bar_size)))

    def latest(self) -> date | None:
        newest = self.held.newest()
        return None if newest is None else newest.date()

    def _ask(self, bar: BarClose, *, through: bool) -> TemporaryError | None:
        """Fetch what ``bar``'s window lacks, ``bar`` itself too when ``through``; gives the
        trouble that stopped it, if any."""
        if through:
            until = bar.close if self.bar_size == DAILY else bar.start
        else:
            until = (session_start(bar.session) if self.bar_size == DAILY else bar.start) - _INSTANT
        try:
            if self._session != bar.session:
                first = sessions_back(bar.session, self.lookback, self.bar_size)
                rows = self.source.bars_between(
                    self.symbols, session_start(first), until, bar_size=self.bar_size
                )
                self.held.reset(rows)
                self._session = bar.session
            else:  # the same session: only its bars, which no corporate action has adjusted
                since = session_start(bar.session)
                if self.bar_size != DAILY and self._since is not None:
                    since = max(since, min(self._since, bar.start))
                if since <= until:
                    self.held.add(self.source.bars_between(
                        self.symbols, since, until, bar_size=self.bar_size, adjust=False
                    ))  # fmt: skip
        except TemporaryError as exc:
            return exc
        return None


#: The instant before a bar starts: fetches up to there leave the bar out.
_INSTANT = pd.Timedelta(microseconds=1)
