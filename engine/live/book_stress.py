"""A stored book under stress: reads the book, the crashes' bars and the limits, then shocks it.

:func:`held_book` is the one place that reads the book (the positions the live loop last
marked, with their stops); :func:`stress_book` adds what the shocks of
:mod:`engine.risk.stress` need (each episode's stored bars, recent returns, the limits
in force) and runs them. `wb risk stress` and the control room's Risk page call it.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pandas as pd

from engine.data.bars import Bars
from engine.data.repository import load_bars
from engine.errors import NotFoundError
from engine.live.books import read_controls
from engine.risk import EquityMark, sessions
from engine.risk.drawdown import period_losses
from engine.risk.stress import EPISODES, Holding, StressBook, StressReport, stress_test

#: Days of returns behind the correlated shock's per-symbol moves (about two years).
RETURNS_LOOKBACK = 504
_NEW_YORK = ZoneInfo("America/New_York")
#: The loop's marks of a book: every loop that traded it (a restarted loop carries on).
_MARKS = "equity_snapshots s JOIN heartbeats h USING (loop_id) WHERE h.book = ?"


def held_book(store, book: str | None = None) -> StressBook:
    """The book as the live loop last marked it: positions with marks and stops, cash, equity.

    ``book`` names it (``paper:<account>``, ``alpaca:paper``...); by default the book of
    the newest mark. Also reads the week's loss so far, for the weekly halts.
    """
    names = store.query("SELECT DISTINCT book FROM heartbeats WHERE book IS NOT NULL")["book"]
    if book is None:
        newest = store.query(
            "SELECT h.book FROM equity_snapshots s JOIN heartbeats h USING (loop_id)"
            " WHERE h.book IS NOT NULL ORDER BY s.ts DESC LIMIT 1"
        )
        if newest.empty:
            raise NotFoundError(
                "no live loop has marked a book yet, so there is no book to stress",
                hint="run the live loop (wb live --mode replay|paper ...) to hold and mark positions",
            )
        book = str(newest["book"].iloc[0])
    elif book not in set(names):
        raise NotFoundError(
            f"no book {book!r} in this data dir",
            hint=f"books: {', '.join(sorted(names))}" if len(names) else "no book has traded yet",
        )
    mark = store.query(
        f"SELECT s.loop_id, s.bar_date, s.equity, s.cash FROM {_MARKS} ORDER BY s.ts DESC LIMIT 1",
        [book],
    )
    if mark.empty:
        raise NotFoundError(
            f"the book {book!r} has no marks yet", hint="let the live loop step at least once"
        )
    loop_id, as_of = mark["loop_id"].iloc[0], pd.Timestamp(mark["bar_date"].iloc[0]).date()
    equity, cash = float(mark["equity"].iloc[0]), float(mark["cash"].iloc[0])
    rows = store.query(
        "SELECT symbol, qty, price, stop_price FROM position_snapshots"
        " WHERE loop_id = ? AND bar_date = ? AND qty <> 0 ORDER BY symbol",
        [loop_id, as_of],
    )
    holdings = tuple(
        Holding(r.symbol, float(r.qty), float(r.price), None if pd.isna(r.stop_price) else float(r.stop_price))
        for r in rows.itertuples()
    )  # fmt: skip
    return StressBook(
        holdings,
        cash=cash,
        equity=equity,
        name=book,
        as_of=as_of,
        source=f"{book} as the live loop {loop_id} marked it on {as_of} (traded prices)",
        week_loss=_week_loss(store, book, as_of, equity),
    )


def _week_loss(store, book: str, as_of: date, equity: float) -> float:
    """The book's loss so far in the week of the session after ``as_of`` (0 when it starts a week)."""
    rows = store.query(
        f"SELECT s.bar_date, arg_max(s.equity, s.ts) AS equity FROM {_MARKS}"
        " AND s.bar_date <= ? GROUP BY s.bar_date ORDER BY s.bar_date DESC LIMIT 10",
        [book, as_of],
    )
    marks = [
        EquityMark(datetime.combine(pd.Timestamp(d).date(), time(16), _NEW_YORK), float(e))
        for d, e in zip(rows["bar_date"], rows["equity"], strict=True)
    ]
    losses = period_losses(marks[::-1], equity, sessions.next_session_day(as_of))
    return max(losses.weekly, 0.0)


def stress_book(store, book: str | None = None) -> StressReport:
    """The stored ``book`` (default: the newest marked) under every stress shock, judged by the
    limits in force."""
    held = held_book(store, book)
    limits = read_controls(store).limits
    symbols = held.symbols
    history = {e.name: _bars(store, symbols, e.before, e.sessions[-1]) for e in EPISODES}
    return stress_test(held, limits, history=history, returns=_returns(store, symbols, held.as_of))


def _bars(store, symbols: list[str], start: date, end: date) -> Bars | None:
    """Adjusted bars of those ``symbols`` that have any between ``start`` and ``end``, or None."""
    if not symbols:
        return None
    have = store.query(
        "SELECT DISTINCT symbol FROM bars WHERE symbol IN (SELECT unnest(?)) AND date BETWEEN ? AND ?",
        [symbols, start, end],
    )["symbol"].tolist()
    return load_bars(store, sorted(have), start, end) if have else None


def _returns(store, symbols: list[str], as_of: date | None) -> pd.DataFrame:
    """Daily returns of the symbols' adjusted closes over the last RETURNS_LOOKBACK days to ``as_of``."""
    end = pd.Timestamp(as_of) if as_of else None
    start = end - pd.Timedelta(days=int(RETURNS_LOOKBACK * 1.5)) if end is not None else None
    bars = _bars(store, symbols, start.date(), end.date()) if end is not None else None
    if bars is None:
        return pd.DataFrame()
    return bars.close.pct_change(fill_method=None).iloc[1:].tail(RETURNS_LOOKBACK)
