"""A stored book under stress: reads the book, the crashes' bars and the limits, then shocks it.

:func:`held_book` reads the book through :mod:`engine.live.book_queries` (the positions the
live loop last marked, with their stops); :func:`stress_book` adds what the shocks of
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
from engine.live import book_queries
from engine.live.controls import read_controls
from engine.risk import EquityMark, sessions
from engine.risk.drawdown import period_losses
from engine.risk.stress import EPISODES, Holding, StressBook, StressReport, stress_test

#: Days of returns behind the correlated shock's per-symbol moves (about two years).
RETURNS_LOOKBACK = 504
_NEW_YORK = ZoneInfo("America/New_York")


def held_book(store, book: str | None = None) -> StressBook:
    """The book as the live loop last marked it: positions with marks and stops, cash, equity.

    ``book`` names it (``paper:<account>``, ``alpaca:paper``...); by default the book the
    control room shows (:func:`engine.live.book_queries.book_to_show`). Also reads the
    week's loss so far, for the weekly halts.
    """
    name = book_queries.book_to_show(store, book)
    if name is None:
        raise NotFoundError(
            "no live loop has marked a book yet, so there is no book to stress",
            hint="run the live loop (wb live --mode replay|paper ...) to hold and mark positions",
        )
    held = book_queries.held(store, name)
    if not held.marked:
        raise NotFoundError(
            f"the book {name!r} has no marks yet", hint="let the live loop step at least once"
        )
    holdings = tuple(
        Holding(r.symbol, float(r.qty), float(r.price), None if pd.isna(r.stop_price) else float(r.stop_price))
        for r in held.positions.itertuples()
    )  # fmt: skip
    return StressBook(
        holdings,
        cash=held.cash,
        equity=held.equity,
        name=name,
        as_of=held.as_of,
        source=f"{held.source} (traded prices)",
        week_loss=_week_loss(store, name, held.as_of, held.equity),
    )


def _week_loss(store, book: str, as_of: date, equity: float) -> float:
    """The book's loss so far in the week of the session after ``as_of`` (0 when it starts a week)."""
    curve = book_queries.equity_curve(store, book)
    curve = curve[pd.to_datetime(curve["bar_date"]) <= pd.Timestamp(as_of)].tail(10)
    marks = [
        EquityMark(datetime.combine(pd.Timestamp(d).date(), time(16), _NEW_YORK), float(e))
        for d, e in zip(curve["bar_date"], curve["equity"], strict=True)
    ]
    losses = period_losses(marks, equity, sessions.next_session_day(as_of))
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
