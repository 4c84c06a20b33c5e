"""Earnings dates: from Yahoo Finance (yfinance) or a CSV, kept in the store's ``earnings_dates``.

This module owns the table (migration 0015). The risk gate's earnings blackout
(:mod:`engine.risk.earnings`) reads the dates through :func:`known_dates`; `wb earnings
refresh` (the ``refresh-earnings`` job) and `wb earnings import FILE` write them.

- **Yahoo**: ``Ticker.get_earnings_dates`` gives a frame indexed by each report's time in
  New York (past quarters and the next one or two); its date is the report's date,
  whether it comes before the open or after the close. Stockholder meetings (the
  ``Event Type`` some yfinance versions add) are left out. A refresh replaces Yahoo's
  dates of a symbol from the oldest date it returned on, so a moved date does not linger.
- **CSV**: a header ``symbol,date`` (more columns are ignored), dates as YYYY-MM-DD. An
  import checks every line first and writes all of it or nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from engine.data._csv import read_text_csv, refuse_bad_lines
from engine.data.sources.yahoo import is_network_failure
from engine.errors import InputError
from engine.store.events import append_event, utcnow

YAHOO = "yahoo"
NEW_YORK = "America/New_York"
#: How many reports to ask Yahoo for: the next ones and about two years back.
YAHOO_LIMIT = 12
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,14}$")
_CSV_HINT = "write a header symbol,date and one report per line, e.g. AAPL,2024-05-02"

#: Fetches one symbol's yfinance earnings frame (injectable: tests replay recorded frames).
Fetch = Callable[[str], "pd.DataFrame | None"]


# -- reading the sources ----------------------------------------------------------------


def dates_from_yfinance(frame: pd.DataFrame | None) -> list[date]:
    """The New York dates of the reports in a ``get_earnings_dates`` frame, sorted, meetings left out."""
    if frame is None or len(frame) == 0:
        return []
    if "Earnings Date" in frame.columns:
        frame = frame.set_index("Earnings Date")
    if "Event Type" in frame.columns:
        frame = frame[frame["Event Type"].astype(str) != "Meeting"]
    times = pd.DatetimeIndex(pd.to_datetime(frame.index))
    local = times.tz_convert(NEW_YORK) if times.tz is not None else times
    return sorted({t.date() for t in local if not pd.isna(t)})


def _yfinance_dates(symbol: str) -> pd.DataFrame | None:
    """One symbol's earnings frame from Yahoo (the network edge)."""
    import yfinance as yf

    yf.config.debug.hide_exceptions = False  # raise, so a network failure can be told apart
    return yf.Ticker(symbol).get_earnings_dates(limit=YAHOO_LIMIT)


def read_csv_dates(path: str | Path) -> pd.DataFrame:
    """The ``symbol, date`` rows of an earnings CSV, checked; InputError names the bad lines."""
    path = Path(path)
    rows = read_text_csv(path, what="earnings", hint=_CSV_HINT)
    missing = [c for c in ("symbol", "date") if c not in rows.columns]
    if missing:
        raise InputError(f"{path.name} lacks the column(s) {', '.join(missing)}", hint=_CSV_HINT)
    if rows.empty:
        raise InputError(f"{path.name} has a header but no earnings dates", hint=_CSV_HINT)
    symbols = rows["symbol"].str.strip().str.upper()
    days = pd.to_datetime(rows["date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    problems = []
    for i in rows.index:  # line i + 2: the header is line 1
        if not _SYMBOL.match(symbols[i]):
            problems.append(f"line {i + 2}: symbol {rows['symbol'][i]!r} is not a ticker")
        if pd.isna(days[i]):
            problems.append(f"line {i + 2}: date {rows['date'][i]!r} is not YYYY-MM-DD")
    refuse_bad_lines(path, problems, hint=_CSV_HINT)
    found = pd.DataFrame({"symbol": symbols, "date": days.dt.date})
    return found.drop_duplicates().sort_values(["symbol", "date"], ignore_index=True)


# -- the store --------------------------------------------------------------------------


def import_csv(store, path: str | Path, *, actor: str) -> pd.DataFrame:
    """Adds an earnings CSV's dates to the store (all or nothing); gives the rows imported."""
    rows = read_csv_dates(path)
    source = f"csv:{Path(path).name}"

    def write(con) -> None:
        _insert(con, rows, source, utcnow())
        append_event(
            con,
            "earnings.imported",
            actor,
            source,
            {"rows": len(rows), "symbols": sorted(rows["symbol"].unique())},
        )

    store.transaction(write)
    return rows


def save_yahoo(store, found: dict[str, list[date]], *, actor: str) -> None:
    """Stores Yahoo's dates per symbol, replacing its earlier ones from each symbol's oldest date."""
    found = {s: d for s, d in found.items() if d}
    if not found:
        return
    rows = pd.DataFrame(
        [(s, d) for s, days in found.items() for d in days], columns=["symbol", "date"]
    )

    def write(con) -> None:
        for symbol, days in found.items():
            con.execute(
                "DELETE FROM earnings_dates WHERE symbol = ? AND source = ? AND date >= ?",
                [symbol, YAHOO, min(days)],
            )
        _insert(con, rows, YAHOO, utcnow())
        append_event(
            con, "earnings.refreshed", actor, YAHOO, {"rows": len(rows), "symbols": sorted(found)}
        )

    store.transaction(write)


def _insert(con, rows: pd.DataFrame, source: str, now: datetime) -> None:
    con.executemany(
        "INSERT INTO earnings_dates VALUES (?, ?, ?, ?) ON CONFLICT (symbol, date) DO UPDATE"
        " SET source = excluded.source, updated_at = excluded.updated_at",
        [[s, d, source, now] for s, d in zip(rows["symbol"], rows["date"], strict=True)],
    )


def known_dates(
    store, *, since: date | None = None, symbols: Iterable[str] | None = None
) -> dict[str, tuple[date, ...]]:
    """Each symbol's stored earnings dates (on or after ``since``), oldest first."""
    where, params = [], []
    if since is not None:
        where.append("date >= ?")
        params.append(since)
    if symbols is not None:
        where.append("symbol IN (SELECT unnest(?))")
        params.append(sorted(set(symbols)))
    sql = "SELECT symbol, date FROM earnings_dates"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = store.query(sql + " ORDER BY symbol, date", params)
    found: dict[str, list[date]] = {}
    for symbol, day in zip(rows["symbol"], rows["date"], strict=True):
        found.setdefault(symbol, []).append(pd.Timestamp(day).date())
    return {s: tuple(days) for s, days in found.items()}


def stored(store, symbols: Iterable[str] | None = None) -> pd.DataFrame:
    """The stored dates with their source and when they were stored, by symbol and date."""
    where, params = "", []
    if symbols is not None:
        where, params = " WHERE symbol IN (SELECT unnest(?))", [sorted(set(symbols))]
    return store.query(
        f"SELECT symbol, date, source, updated_at FROM earnings_dates{where} ORDER BY symbol, date",
        params,
    )


# -- a refresh from Yahoo ---------------------------------------------------------------


@dataclass(frozen=True)
class Refresh:
    """What a refresh from Yahoo did: dates per symbol, failures, or why it was skipped."""

    found: dict[str, list[date]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: str | None = None

    def summary(self, today: date) -> str:
        """One line for a person (and the job's log)."""
        if self.skipped:
            return f"skipped: {self.skipped}"
        nexts = {s: next((d for d in days if d >= today), None) for s, days in self.found.items()}
        parts = [f"{s} {d or 'none upcoming'}" for s, d in sorted(nexts.items())]
        line = f"earnings dates refreshed for {len(self.found)} symbol(s)"
        line += f"; next: {', '.join(parts)}" if parts else ""
        if self.failed:
            line += f"; failed: {', '.join(f'{s} ({why})' for s, why in self.failed.items())}"
        return line


def refresh(store, symbols: list[str], *, actor: str, fetch: Fetch | None = None) -> Refresh:
    """Fetches ``symbols``' earnings dates from Yahoo and stores them; skips when offline.

    Offline (``WB_OFFLINE`` set), or when Yahoo cannot be reached or rate-limits us, the
    refresh stops, keeps the stored dates and says why. A symbol Yahoo has no dates for
    is listed as failed; the others are stored.
    """
    if fetch is None and os.environ.get("WB_OFFLINE"):
        return Refresh(skipped="offline (WB_OFFLINE is set); the stored earnings dates are kept")
    fetch = fetch or _yfinance_dates
    found: dict[str, list[date]] = {}
    failed: dict[str, str] = {}
    for symbol in symbols:
        try:
            days = dates_from_yfinance(fetch(symbol))
        except Exception as exc:
            if _unreachable(exc):
                save_yahoo(store, found, actor=actor)
                why = f"Yahoo Finance cannot be reached ({type(exc).__name__}: {exc})"
                done = f"; {len(found)} symbol(s) stored before that" if found else ""
                return Refresh(found, failed, skipped=f"{why}; the stored dates are kept{done}")
            failed[symbol] = f"{type(exc).__name__}: {exc}"
            continue
        if days:
            found[symbol] = days
        else:
            failed[symbol] = "Yahoo lists no earnings dates"
    save_yahoo(store, found, actor=actor)
    return Refresh(found, failed)


def _unreachable(exc: Exception) -> bool:
    """True when ``exc`` means Yahoo is out of reach for now (network, rate limit)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return is_network_failure(exc) or "YFRateLimitError" in names
