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
from dataclasses import dataclass, replace
from datetime import date

import pandas as pd

from engine.data import calendar
from engine.data.bar_sizes import DAILY, check_bar_size
from engine.data.bars import FIELDS, Bars
from engine.data.repository import load_bars_both, read_rows
from engine.errors import InputError
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
        self._traded = bars if traded is None else traded

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
        return through(self.bars, bar, self.lookback)

    def traded(self, bar: date | BarClose) -> Bars:
        """:meth:`window` as traded (as the adjusted bars when none were given: parity)."""
        return through(self._traded, bar, self.lookback)

    def latest(self) -> date:
        return self._dates[-1].date()


class StoreFeed:
    """Bars read from the store each step: the last ``lookback`` bars up to the bar.

    Daily bars: a step reads the bars stored since the last step's and extends the window
    it kept, after checking that the store still holds the rows that window was built from
    (a bar added late, removed or ingested again: the window is read whole). The store stays
    the truth: a new process reads the whole window at its first step.
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
            return self.store.transaction(self._read_daily, pd.Timestamp(bar))
        first = sessions_back(bar.session, self.lookback, self.bar_size)
        both = load_bars_both(self.store, self.symbols, first, bar.session, bar_size=self.bar_size)
        return tuple(through(b, bar, self.lookback) for b in both)

    def _read_daily(self, con, bar: pd.Timestamp) -> tuple[Bars, Bars]:
        """The daily window at ``bar``: the window kept from the last step and the bars
        stored since, when the store still holds exactly the rows it was built from; else
        read whole. One snapshot of the store (a transaction): what is compared is what is read."""
        span = pd.Timedelta(days=int(self.lookback * DAYS_PER_BAR) + 10)
        start = bar - span
        kept, self._kept = self._kept, None
        # The kept rows must cover the window's start (and cover no more than a second
        # window's span before it: the count below stays a small read).
        if kept is not None and start - span <= kept.low <= start and kept.high <= bar:
            # One count: the kept rows as they are now, and with the bars stored since.
            seen, sealed = _seen(con, self.symbols, kept.low, kept.high, bar)
            if seen == kept.seen:
                rows = read_rows(Reader(self.store, con), self.symbols,
                                 kept.high + pd.Timedelta(days=1), bar)  # fmt: skip
                both = tuple(_appended(old, rows, adjust, start, self.lookback)
                             for old, adjust in ((kept.adjusted, True), (kept.traded, False)))  # fmt: skip
                if not both[0].close.isna().all().any():  # a symbol with no bar left: read whole
                    self._kept = _Kept(*both, kept.low, bar, sealed)
                    return both
        seen, _ = _seen(con, self.symbols, start, bar, bar)
        both = load_bars_both(Reader(self.store, con), self.symbols, start, bar)
        both = tuple(b.iloc(slice(max(len(b) - self.lookback, 0), None)) for b in both)
        self._kept = _Kept(*both, start, bar, seen)
        return both

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
class _Kept:
    """A daily window kept between steps: built from the rows stored from ``low`` to
    ``high``, of which the store then held ``seen`` (:func:`_seen`)."""

    adjusted: Bars
    traded: Bars
    low: pd.Timestamp
    high: pd.Timestamp
    seen: tuple


def _seen(con, symbols: list[str], low: pd.Timestamp, high: pd.Timestamp,
          until: pd.Timestamp) -> tuple[tuple, tuple]:  # fmt: skip
    """How many daily rows the store holds for ``symbols`` from ``low`` to ``high``, and the
    newest ingest among them (a bar added, removed or ingested again changes it); and the
    same from ``low`` to ``until`` (a later date: what the window extended to it is built
    from), in one statement."""
    count, newest, count_until, newest_until = con.execute(
        "SELECT count(*) FILTER (WHERE date <= $high), max(ingested_at) FILTER (WHERE date <= $high),"
        " count(*), max(ingested_at) FROM bars WHERE symbol IN (SELECT unnest($symbols))"
        " AND date >= $low AND date <= $until",
        {"symbols": list(symbols), "low": low.date(), "high": high.date(), "until": until.date()},
    ).fetchall()[0]
    return (count, newest), (count_until, newest_until)


def _appended(window: Bars, rows: pd.DataFrame, adjust: bool, start, lookback: int) -> Bars:
    """``window`` with the bars of the long ``rows`` after it, from ``start``, the last
    ``lookback`` of them: what a whole read of the store gives (a bar is built from its
    own row alone)."""
    frames = {f: getattr(window, f) for f in FIELDS}
    sources = set(window.sources)
    if len(rows):
        new = Bars.from_long(rows.drop(columns="source"), adjust=adjust)
        sources |= set(rows["source"].unique())
        symbols = window.open.columns  # a symbol without a new bar: NaN there, as read whole
        frames = {f: pd.concat([frames[f], getattr(new, f).reindex(columns=symbols)])
                  for f in FIELDS}  # fmt: skip
    keep = frames["open"].index >= start
    first = max(int(keep.sum()) - lookback, 0)
    frames = {f: frame[keep].iloc[first:] for f, frame in frames.items()}
    return replace(window, **frames, sources=tuple(sorted(sources)))

