"""Where a step's bars come from: held in memory (a replay) or read from the store (paper, live).

Every feed answers one question for the loop, ``window(bar) -> Bars``: the lookback of
bars ending at ``bar`` (adjusted history: what the strategies decide on) (a session date for daily bars, or a
:class:`~engine.live.clock.BarClose` at any bar size). A step at the close of bar B sees
bars up to and including B, never later: the same history a backtest's signal at B was
computed from. A bar that has not come is never filled in: the window then ends at an
earlier bar (the step skips, with an alert), and a symbol whose bar alone is missing has
NaN in that row (:func:`missing_symbols` names them). A feed that holds the bars as
traded too answers ``traded(bar)``: the same window in traded prices, which the money
path uses (fills, marks, stops, order prices; :func:`traded_window`).

Feeds of live market data (Alpaca's REST API, its stream) are in
:mod:`engine.live.alpaca_feed` and :mod:`engine.live.bar_stream`; daily paper trading on
Yahoo's bars reads the store that the data refresh job fills (:class:`StoreFeed`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from engine.data import calendar
from engine.data.bar_sizes import DAILY, check_bar_size
from engine.data.bars import Bars
from engine.data.repository import load_bars_both, no_stored_bars, read_daily_arrays
from engine.errors import InputError
from engine.live.bar_window import BarWindow
from engine.live.clock import BarClose, bars_between
from engine.risk import sessions as nyse
from engine.store.reading import Reader

#: Calendar days of history read for a year of daily bars, with room for holidays.
DAYS_PER_BAR = 1.5


def label_of(bar: date | BarClose) -> pd.Timestamp:
    """The row of ``bar`` in a :class:`Bars` index: a session date, or an intraday bar's start."""
    return bar.label if isinstance(bar, BarClose) else pd.Timestamp(bar)


def ends_at(bars: Bars, bar: date | BarClose) -> bool:
    """True when ``bars`` reach ``bar``: its row is the last one (for at least one symbol)."""
    return len(bars) > 0 and bars.index[-1] == label_of(bar)


def missing_symbols(bars: Bars, bar: date | BarClose) -> list[str]:
    """The symbols of ``bars`` with no bar at ``bar`` (all of them when the row is not there)."""
    if not ends_at(bars, bar):
        return list(bars.symbols)
    last = bars.close.iloc[-1]
    return [s for s in bars.symbols if pd.isna(last[s])]


def through(bars: Bars, bar: date | BarClose, lookback: int | None) -> Bars:
    """The last ``lookback`` bars of ``bars`` up to and including ``bar`` (None: all of them)."""
    stop = bars.index.searchsorted(label_of(bar), side="right")
    start = 0 if lookback is None else max(stop - lookback, 0)
    return bars.iloc(slice(start, stop))


def sessions_back(session: date, lookback: int, bar_size: str) -> date:
    """The first session of a lookback of ``lookback`` bars ending in ``session`` (with room
    for early closes and a missing session)."""
    per = 1 if bar_size == DAILY else int(calendar.bars_in_session(bar_size, 570, 960))
    days = nyse.session_days_back(session, math.ceil(lookback / per) + 2)
    return days[0]


def traded_window(feed, bar: date | BarClose, window: Bars | None = None) -> Bars:
    """``feed``'s bars up to ``bar`` as traded, when it can say; else its ``window`` (given,
    or read)."""
    traded = getattr(feed, "traded", None)
    if traded is not None:
        return traded(bar)
    return feed.window(bar) if window is None else window


class FrameFeed:
    """Bars already in memory; each step sees them up to its bar.

    ``lookback`` is how many bars a step sees (None: every bar since the first, which is
    what a parity replay needs: its backtest computed each signal from the first bar).
    ``traded`` are the same bars as traded, for the money path (None: trade ``bars``).
    """

    def __init__(self, bars: Bars, *, lookback: int | None = None, traded: Bars | None = None):
        if len(bars) == 0:
            raise InputError("no bars to replay", hint="ingest bars for the configs' universes")
        self.bars = bars
        self.lookback = lookback
        self._dates = bars.index
        #: The bars as arrays: a step's window is a view of them, not a slice of ten frames.
        self._held = BarWindow.of(bars, bars if traded is None else traded)
        #: The last window handed out, (bar, (adjusted, traded)): a step asks for both.
        self._last: tuple[date | BarClose, tuple[Bars, Bars]] | None = None

    def sessions(self, start=None, end=None) -> list[date]:
        """The bar dates from ``start`` to ``end`` (inclusive) that a replay steps through."""
        index = self._dates
        if start is not None:
            index = index[index >= pd.Timestamp(start)]
        if end is not None:
            index = index[index <= pd.Timestamp(end)]
        return [d.date() for d in index]

    def bar_closes(self, start=None, end=None) -> list[BarClose]:
        """The calendar's bars from ``start`` to ``end`` (session dates, inclusive; by default
        the sessions these bars span): the bar times a replay steps, as paper trading would."""
        dates = self.bars.session_dates
        return bars_between(start or dates[0], end or dates[-1], self.bars.bar_size)

    def window(self, bar: date | BarClose) -> Bars:
        """The bars a step at ``bar``'s close sees."""
        return self._both(bar)[0]

    def traded(self, bar: date | BarClose) -> Bars:
        """:meth:`window` as traded (as the adjusted bars when none were given: parity)."""
        return self._both(bar)[1]

    def _both(self, bar: date | BarClose) -> tuple[Bars, Bars]:
        # The bars never change, so the window of the bar asked for last is the same bars.
        if self._last is None or self._last[0] != bar:
            self._last = (bar, self._held.through(label_of(bar), self.lookback))
        return self._last[1]

    def latest(self) -> date:
        return self._dates[-1].date()


class StoreFeed:
    """Bars read from the store each step: the last ``lookback`` bars up to the bar.

    Daily bars: the window is kept as arrays (:class:`BarWindow`), and a step extends it
    by the rows stored since, read in one statement with what tells whether the rows under
    the window changed (a bar of its symbols ingested since among the days it holds: late,
    corrected, or a history re-adjusted after a split; or a row removed: the window is read
    whole). The kept window is a cache, never the truth: the version it is checked against
    (the newest ingest, the row count) is written by every writer of bars in the same
    transaction as the bars, and a new process reads the whole window at its first step.
    """

    def __init__(self, store, symbols: list[str], *, lookback: int = 300, bar_size: str = DAILY):
        self.store = store
        self.symbols = list(symbols)
        self.lookback = lookback
        self.bar_size = check_bar_size(bar_size)
        #: The last window's bar and its bars as traded, read with it, for :meth:`traded`.
        self._read_with: tuple[date | BarClose, Bars] | None = None
        #: The last daily window read, which the next step extends by the bars stored since.
        self._kept: _Kept | None = None
        #: Each symbol's column: the rows read since are placed by name without pandas.
        self._positions = {symbol: k for k, symbol in enumerate(self.symbols)}

    def window(self, bar: date | BarClose) -> Bars:
        adjusted, traded = self._read(bar)
        # Kept for the step's traded prices only when the bar is there (a stale window's
        # step goes no further; a later ask then reads the bar that came since).
        self._read_with = (bar, traded) if ends_at(adjusted, bar) else None
        return adjusted

    def traded(self, bar: date | BarClose) -> Bars:
        """:meth:`window` as traded: from the same read when it asks for the window just read
        (a step reads its bars once), else read now. Used once: a later ask reads again, so
        a bar that arrived since is seen."""
        read_with, self._read_with = self._read_with, None
        if read_with is not None and read_with[0] == bar:
            return read_with[1]
        return self._read(bar)[1]

    def _read(self, bar: date | BarClose) -> tuple[Bars, Bars]:
        """The window at ``bar``, adjusted and as traded."""
        if not isinstance(bar, BarClose):
            return self._read_daily(pd.Timestamp(bar))
        first = sessions_back(bar.session, self.lookback, self.bar_size)
        both = load_bars_both(self.store, self.symbols, first, bar.session, bar_size=self.bar_size)
        return tuple(through(b, bar, self.lookback) for b in both)

    def _read_daily(self, bar: pd.Timestamp) -> tuple[Bars, Bars]:
        """The daily window at ``bar``: the window kept from the last read extended by the
        bars stored after it, when the store has changed none of the rows it was built
        from; else read whole."""
        start = bar - pd.Timedelta(days=int(self.lookback * DAYS_PER_BAR) + 10)
        kept, self._kept = self._kept, None
        if kept is not None and kept.low <= start and kept.bar <= bar:
            # One statement, so one snapshot: what is compared is what is read.
            with self.store.connect() as con:
                since = _stored_since(con, kept, start, bar)
            dates, column, rows, sources = self._ours(since)
            held = kept.window.index[-1].to_datetime64()
            # A bar of ours stored or changed among the dates held, or a row removed: read whole.
            if since.seal.rows == kept.seal.rows + since.added and not (dates <= held).any():
                window = kept.window.appended(dates, column, rows, sources, start, bar, self.lookback)
                if not window.empty_columns(bar, self.lookback):  # a symbol with no bar left
                    self._kept = _Kept(window, kept.low, bar, since.read, since.seal)
                    return window.through(bar, self.lookback)
        window, seal = self.store.transaction(self._read_whole, start, bar)
        self._kept = _Kept(window, start, bar, np.datetime64(bar.date(), "us"), seal)
        return window.through(bar, self.lookback)

    def _read_whole(self, con, start: pd.Timestamp, bar: pd.Timestamp) -> tuple[BarWindow, _Seal]:
        """The window from ``start`` to ``bar`` read whole, and the store's :class:`_Seal` then."""
        rows, newest, latest = con.execute("SELECT count(*), max(ingested_at), max(date) FROM bars").fetchone()
        dates, column, fields, sources = read_daily_arrays(con, self.symbols, start, bar)
        missing = sorted(set(self.symbols) - {self.symbols[k] for k in np.unique(column)})
        if missing:
            raise no_stored_bars(Reader(self.store, con), missing, start, bar)
        window = BarWindow.from_rows(self.symbols, dates, column, fields, sources, bar_size=DAILY,
                                     spare=self.lookback)  # fmt: skip
        window = window.appended(*_NO_ROWS, start, bar, self.lookback)  # the last lookback bars
        return window, _Seal(rows, newest, None if latest is None else np.datetime64(latest, "us"))

    def _ours(self, since: _Since) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """The rows of ``since`` of this feed's symbols: dates, each one's symbol's position,
        the fields (:func:`read_daily_arrays`' shape), and the sources per date."""
        where = self._positions
        column = np.fromiter((where.get(s, -1) for s in since.symbol), dtype=np.intp,
                             count=len(since.symbol))  # fmt: skip
        ours = column >= 0
        dates = since.dates[ours]
        sources: dict = {}
        for day, source in set(zip(dates.tolist(), since.source[ours].tolist(), strict=True)):
            sources.setdefault(pd.Timestamp(day), set()).add(source)
        return dates, column[ours], since.rows[:, ours], {d: frozenset(s) for d, s in sources.items()}

    def latest(self) -> date | None:
        """The newest stored bar date over the symbols (None: no bars)."""
        if self.bar_size == DAILY:
            value = self.store.scalar(
                "SELECT max(date) FROM bars WHERE symbol IN (SELECT unnest(?))", [self.symbols]
            )
        else:
            value = self.store.scalar(
                "SELECT max(ts) FROM intraday_bars WHERE symbol IN (SELECT unnest(?)) "
                "AND bar_size = ?",
                [self.symbols, self.bar_size],
            )
            value = None if value is None else nyse.new_york_date(pd.Timestamp(value))
        return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


@dataclass(frozen=True)
class _Seal:
    """What the store's daily bars were when a window was read: how many rows, the newest
    ingest and the latest date among them."""

    rows: int
    newest: datetime | None
    latest: np.datetime64 | None


@dataclass(frozen=True)
class _Kept:
    """A daily window kept between reads: read from ``low`` on for a step at ``bar``; it
    holds every row of its symbols dated up to ``read`` that the store held as ``seal`` says
    (and maybe some after: read ahead)."""

    window: BarWindow
    low: pd.Timestamp
    bar: pd.Timestamp
    read: np.datetime64
    seal: _Seal


@dataclass(frozen=True)
class _Since:
    """The daily rows (of every symbol) ingested since a window was read, dated from its
    start on, and those stored before but dated after what it read (read ahead to
    ``read``): their dates, symbols, sources and fields (open ... adj_close x rows); how many
    rows were ingested since in all (``added``), and the store's seal now."""

    dates: np.ndarray
    symbol: np.ndarray
    source: np.ndarray
    rows: np.ndarray
    added: int
    read: np.datetime64
    seal: _Seal


#: No rows stored since (:meth:`BarWindow.appended` of them only trims).
_NO_ROWS = (np.array([], dtype="datetime64[us]"), np.array([], dtype=np.intp), np.empty((6, 0)), {})
_ROW = "date, symbol, open, high, low, close, volume, adj_close, source"


#: Calendar days of stored bars read past a step's bar when they are there (a replay of
#: stored days): the column blocks a read loads cost more than the rows, so one read serves
#: a month of steps.
READ_AHEAD_DAYS = 45


def _stored_since(con, kept: _Kept, start: pd.Timestamp, until: pd.Timestamp) -> _Since:
    """The rows ingested after ``kept`` was read (those dated from ``start`` on kept); when
    the store then held rows after what it read and ``until`` is past it, the rows stored
    before and dated from there through ``until`` and :data:`READ_AHEAD_DAYS` more; and how
    many rows the store holds now. One statement.

    Each part skips what it cannot hold by DuckDB's per-row-group minimum and maximum (the
    newest ingest, the dates), so a step reads the rows of its new bar and little else,
    and never counts or scans the kept window's span. Over every symbol: a filter on 500
    names costs more than the rows of the others.
    """
    seal = kept.seal
    params = {"newest": seal.newest or datetime.min}
    before, read = "", kept.read
    until = np.datetime64(until.date(), "us")
    if seal.latest is not None and seal.latest > kept.read and until > kept.read:
        read = until + np.timedelta64(READ_AHEAD_DAYS, "D")
        before = (f" UNION ALL SELECT 0, {_ROW}, NULL, NULL FROM bars WHERE date > $high"
                  " AND date <= $ahead AND ingested_at <= $newest")  # fmt: skip
        params |= {"high": pd.Timestamp(kept.read).date(), "ahead": pd.Timestamp(read).date()}
    found = con.execute(
        f"SELECT 0 AS part, {_ROW}, ingested_at, NULL::BIGINT AS total FROM bars"
        f" WHERE ingested_at > $newest{before} UNION ALL SELECT 1, NULL, NULL, NULL, NULL,"
        " NULL, NULL, NULL, NULL, NULL, NULL, count(*) FROM bars",
        params,
    ).fetchnumpy()
    part = np.asarray(found["part"])
    total = int(found["total"][int(np.flatnonzero(part == 1)[0])])
    dates = np.ma.getdata(found["date"]).astype("datetime64[us]")
    ingested = found["ingested_at"]
    since = ~np.ma.getmaskarray(ingested)  # the rows ingested since, of any date
    added, newest, latest = int(since.sum()), seal.newest, seal.latest
    if added:  # the newest ingest and latest date now: the old ones, or those of the rows since
        newest = max(newest or datetime.min, np.ma.getdata(ingested)[since].max().astype(datetime))
        latest = max(dates[since].max(), latest) if latest is not None else dates[since].max()
    if not before and (seal.latest is None or seal.latest <= kept.read):
        # Nothing was stored after what the window read: every row since is in this read.
        read = max(read, latest) if latest is not None else read
    ours = (part == 0) & (dates >= np.datetime64(start.date(), "us"))
    dates = dates[ours]
    fields = np.stack([np.ma.getdata(found[f])[ours].astype(float)
                       for f in ("open", "high", "low", "close", "volume", "adj_close")])  # fmt: skip
    return _Since(dates, np.ma.getdata(found["symbol"])[ours], np.ma.getdata(found["source"])[ours],
                  fields, added, read, _Seal(total, newest, latest))  # fmt: skip
