"""Reading bars from the store: only the symbols, range and bar size asked for.

Daily bars live in ``bars`` (one row per symbol and date); intraday bars in
``intraday_bars`` (one row per symbol, bar size and start time, kept in UTC and shown in
New York time). Both are read through here, filtered in DuckDB, never scanned whole.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data.bar_sizes import DAILY, INTRADAY, check_bar_size
from engine.data.bars import Bars
from engine.data.calendar import TZ
from engine.errors import InputError, NotFoundError


def _check_range(start, end) -> None:
    if start is not None and end is not None and pd.Timestamp(start) > pd.Timestamp(end):
        raise InputError(
            f"the range is backwards: --start {pd.Timestamp(start).date()} is after --end {pd.Timestamp(end).date()}",
            hint="give the earlier date as --start",
        )


def utc_bounds(start=None, end=None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """Session dates ``start``..``end`` (inclusive, New York) as [from, until) UTC instants, tz-naive."""
    def instant(day):
        return pd.Timestamp(day).normalize().tz_localize(TZ).tz_convert("UTC").tz_localize(None)

    return (None if start is None else instant(start),
            None if end is None else instant(pd.Timestamp(end).normalize() + pd.Timedelta(days=1)))


def read_rows(store, symbols: list[str], start=None, end=None, *, bar_size: str = DAILY,
              extended_hours: bool = False) -> pd.DataFrame:
    """Stored long rows with their source: daily ``date`` or intraday ``timestamp`` (New York)."""
    bar_size = check_bar_size(bar_size)
    where, params = ["symbol IN (SELECT unnest(?))"], [list(symbols)]
    if bar_size == DAILY:
        if start is not None:
            where.append("date >= ?")
            params.append(pd.Timestamp(start).date())
        if end is not None:
            where.append("date <= ?")
            params.append(pd.Timestamp(end).date())
        sql = ("SELECT date, symbol, open, high, low, close, volume, adj_close, source FROM bars WHERE "
               + " AND ".join(where) + " ORDER BY symbol, date")
        return store.query(sql, params)
    since, until = utc_bounds(start, end)
    where.append("bar_size = ?")
    params.append(bar_size)
    if since is not None:
        where.append("ts >= ?")
        params.append(since.to_pydatetime())
    if until is not None:
        where.append("ts < ?")
        params.append(until.to_pydatetime())
    if not extended_hours:
        where.append("NOT extended")
    rows = store.query(
        "SELECT ts AS timestamp, symbol, open, high, low, close, volume, adj_close, source"
        " FROM intraday_bars WHERE " + " AND ".join(where) + " ORDER BY symbol, ts",
        params,
    )
    rows["timestamp"] = pd.to_datetime(rows["timestamp"]).dt.tz_localize("UTC").dt.tz_convert(TZ)
    return rows


def read_daily_arrays(con, symbols: list[str], start, end) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """The stored daily rows of ``symbols`` from ``start`` to ``end`` (inclusive) as arrays:
    their dates (datetime64), each row's symbol as its position in ``symbols``, the rows'
    open, high, low, close, volume and adj_close (6 x rows), and per date the set of sources.

    ``con`` is a DuckDB connection (a caller inside a transaction passes its own). Read as
    numpy, not as a DataFrame, and without the symbols' names: a year of 500 symbols is
    one statement of numbers a feed lays out wide with no pivot.
    """
    params = {"symbols": list(symbols), "start": pd.Timestamp(start).date(),
              "end": pd.Timestamp(end).date()}  # fmt: skip
    wanted = ("(SELECT unnest($symbols) AS symbol, unnest(range(len($symbols))) AS k) s"
              " USING (symbol) WHERE b.date >= $start AND b.date <= $end")  # fmt: skip
    found = con.execute(
        "SELECT s.k, b.date, b.open, b.high, b.low, b.close, b.volume, b.adj_close FROM bars b JOIN "
        + wanted, params
    ).fetchnumpy()
    # The sources by date, not by row: a few hundred rows, not a string per bar.
    sources = con.execute(
        "SELECT b.date, list(DISTINCT b.source) FROM bars b SEMI JOIN " + wanted + " GROUP BY b.date",
        params,
    ).fetchall()
    rows = np.stack([np.asarray(found[f], dtype=float) for f in ("open", "high", "low", "close",
                                                                   "volume", "adj_close")])  # fmt: skip
    dates = np.asarray(found["date"]).astype("datetime64[us]")
    return dates, np.asarray(found["k"], dtype=np.intp), rows, {
        pd.Timestamp(day): frozenset(names) for day, names in sources
    }


def load_bars(store, symbols: list[str], start=None, end=None, *, adjust: bool = True,
              bar_size: str = DAILY, extended_hours: bool = False) -> Bars:
    """Stored bars of ``bar_size`` for ``symbols`` from ``start`` to ``end`` (session dates,
    inclusive) as :class:`Bars`; only those rows are read.

    Prices are split- and dividend-adjusted by default (see :meth:`Bars.from_long`).
    Intraday bars are regular hours unless ``extended_hours``.
    """
    bar_size = check_bar_size(bar_size)
    if extended_hours and bar_size == DAILY:
        raise InputError("daily bars have no extended hours", hint="drop --extended-hours, or pick an intraday --bar-size")
    rows = _rows_of(store, symbols, start, end, bar_size, extended_hours)
    return _wide(rows, symbols, adjust, bar_size, extended_hours)


def load_bars_both(store, symbols: list[str], start=None, end=None, *,
                   bar_size: str = DAILY) -> tuple[Bars, Bars]:
    """:func:`load_bars` adjusted (what decisions read) and as traded (what the money path
    reads), from one read of the rows: the two agree bar for bar."""
    bar_size = check_bar_size(bar_size)
    rows = _rows_of(store, symbols, start, end, bar_size, False)
    return (_wide(rows, symbols, True, bar_size, False), _wide(rows, symbols, False, bar_size, False))


def _rows_of(store, symbols, start, end, bar_size, extended_hours) -> pd.DataFrame:
    """The stored rows :func:`load_bars` builds from; NotFoundError naming a symbol with none."""
    if not symbols:
        raise InputError("the universe is empty", hint="name at least one symbol, e.g. --symbols AAPL")
    _check_range(start, end)
    rows = read_rows(store, symbols, start, end, bar_size=bar_size, extended_hours=extended_hours)
    missing = sorted(set(symbols) - set(rows["symbol"].unique()))
    if missing:
        raise no_stored_bars(store, missing, start, end, bar_size)
    return rows


def no_stored_bars(store, missing: list[str], start, end, bar_size: str = DAILY) -> NotFoundError:
    """The error for ``missing`` symbols with no stored bars from ``start`` to ``end``: what
    to ingest, and the symbols stored."""
    known = stored_symbols(store, bar_size)
    window = f" between {start or 'the start'} and {end or 'the end'}" if (start or end) else ""
    size = "" if bar_size == DAILY else f" {bar_size}"
    flag = "" if bar_size == DAILY else f" --bar-size {bar_size}"
    return NotFoundError(
        f"no stored{size} bars for {', '.join(missing)}{window}",
        hint=(
            f"ingest them first (wb ingest --symbols {','.join(missing)}{flag}); "
            f"stored symbols: {', '.join(known) or 'none'}"
        ),
    )


def _wide(rows, symbols, adjust, bar_size, extended_hours) -> Bars:
    sources = tuple(rows["source"].unique())
    return Bars.from_long(rows.drop(columns="source"), adjust=adjust, bar_size=bar_size,
                          extended_hours=extended_hours, sources=sources).select(list(symbols))


def stored_symbols(store, bar_size: str = DAILY) -> list[str]:
    """Symbols with at least one stored bar of ``bar_size``, sorted."""
    if check_bar_size(bar_size) == DAILY:
        return store.query("SELECT DISTINCT symbol FROM bars ORDER BY symbol")["symbol"].tolist()
    return store.query("SELECT DISTINCT symbol FROM intraday_bars WHERE bar_size = ? ORDER BY symbol",
                       [bar_size])["symbol"].tolist()


def stored_summary(store, bar_size: str | None = None) -> pd.DataFrame:
    """Per bar size and symbol: first and last session, bars stored, and the sources."""
    daily = store.query(
        "SELECT '1d' AS bar_size, symbol, min(date) AS first, max(date) AS last, count(*) AS bars,"
        " string_agg(DISTINCT source, ',') AS sources FROM bars GROUP BY symbol"
    )
    intraday = store.query(
        "SELECT bar_size, symbol, min(ts) AS first, max(ts) AS last, count(*) AS bars,"
        " string_agg(DISTINCT source, ',') AS sources FROM intraday_bars GROUP BY bar_size, symbol"
    )
    for frame, utc in ((daily, False), (intraday, True)):
        for col in ("first", "last"):
            when = pd.to_datetime(frame[col])
            if utc:
                when = when.dt.tz_localize("UTC").dt.tz_convert(TZ).dt.tz_localize(None)
            frame[col] = when.dt.date
    summary = pd.concat([f for f in (daily, intraday) if not f.empty] or [daily], ignore_index=True)
    if bar_size is not None:
        summary = summary[summary["bar_size"] == check_bar_size(bar_size)]
    order = {size: i for i, size in enumerate(("1d", "1m", "5m", "15m", "30m", "1h"))}
    summary = summary.assign(_order=summary["bar_size"].map(order))
    return summary.sort_values(["_order", "symbol"]).drop(columns="_order").reset_index(drop=True)


def last_stored(store, symbols: list[str] | None, bar_size: str = DAILY) -> dict[str, pd.Timestamp]:
    """The newest stored bar per symbol: its date (daily) or its start in New York time."""
    params: list = []
    if check_bar_size(bar_size) == DAILY:
        sql = "SELECT symbol, max(date) AS last FROM bars"
        if symbols:
            sql += " WHERE symbol IN (SELECT unnest(?))"
            params.append(list(symbols))
        frame = store.query(sql + " GROUP BY symbol", params)
        return {row.symbol: pd.Timestamp(row.last) for row in frame.itertuples()}
    sql = "SELECT symbol, max(ts) AS last FROM intraday_bars WHERE bar_size = ?"
    params.append(bar_size)
    if symbols:
        sql += " AND symbol IN (SELECT unnest(?))"
        params.append(list(symbols))
    frame = store.query(sql + " GROUP BY symbol", params)
    return {row.symbol: pd.Timestamp(row.last).tz_localize("UTC").tz_convert(TZ) for row in frame.itertuples()}


def stored_splits(store, symbols: list[str] | None = None) -> pd.DataFrame:
    """Split records kept from the sources (symbol, date, ratio)."""
    sql, params = "SELECT symbol, date, ratio FROM splits", []
    if symbols:
        sql += " WHERE symbol IN (SELECT unnest(?))"
        params.append(list(symbols))
    frame = store.query(sql, params)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def stored_bar_sizes(store, symbol: str) -> list[str]:
    """The bar sizes stored for ``symbol``, daily first then finest to coarsest."""
    rows = store.query(
        "SELECT '1d' AS bar_size FROM bars WHERE symbol = ? HAVING count(*) > 0"
        " UNION SELECT DISTINCT bar_size FROM intraday_bars WHERE symbol = ?",
        [symbol, symbol],
    )
    order = {size: i for i, size in enumerate((DAILY, *INTRADAY))}
    return sorted(rows["bar_size"], key=lambda size: order.get(size, len(order)))
