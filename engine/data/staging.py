"""Checked bars waiting to be written, and the one transaction that writes an ingest.

Batches wait as Parquet files in a private folder under the data dir, so that the store is
untouched (and free for other processes) until every batch has passed its checks; then
bars, split records, the ingest record, its flags and its event commit together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from engine.data import calendar
from engine.data.bar_sizes import DAILY
from engine.data.corporate_actions import save_dividends
from engine.data.quality import Policy
from engine.store import append_event
from engine.store.events import utcnow

#: DuckDB may use this much memory while it writes a big ingest (it spills beyond it).
WRITE_MEMORY = "1GB"


@dataclass
class Staged:
    """Checked rows waiting to be written: Parquet files in a private folder, plus the
    (small) flags and split records, and the counts the result reports."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    flags: list[pd.DataFrame] = field(default_factory=list)
    splits: list[pd.DataFrame] = field(default_factory=list)
    dividends: list[pd.DataFrame] = field(default_factory=list)
    symbols: set[str] = field(default_factory=set)
    fetched: int = 0
    already: int = 0
    dropped: int = 0
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None

    def add(self, rows: pd.DataFrame) -> None:
        if rows.empty:
            return
        path = self.folder / f"batch_{len(self.files):06d}.parquet"
        with duckdb.connect() as con:  # in memory: the store is not touched until the end
            con.register("batch", rows)
            quoted = str(path).replace("'", "''")
            con.execute(f"COPY batch TO '{quoted}' (FORMAT parquet)")
        self.files.append(path)
        when = rows["ts"] if "ts" in rows else rows["date"]
        self.first = when.min() if self.first is None else min(self.first, when.min())
        self.last = when.max() if self.last is None else max(self.last, when.max())


def utc(stamps: pd.Series) -> pd.Series:
    """tz-aware times as the store keeps them: UTC, tz-naive."""
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None)


def table_rows(rows: pd.DataFrame, bar_size: str) -> pd.DataFrame:
    """Checked rows shaped like the table they go to, in (symbol, time) order."""
    prices = {c: rows[c].astype(float).to_numpy() for c in ("open", "high", "low", "close", "volume", "adj_close")}
    if bar_size == DAILY:
        out = pd.DataFrame({"symbol": rows["symbol"].to_numpy(), "date": pd.to_datetime(rows["date"]).to_numpy(),
                            **prices})
        return out.sort_values(["symbol", "date"], ignore_index=True)
    local = rows["timestamp"].dt.tz_convert(calendar.TZ).dt.tz_localize(None)
    day = local.dt.normalize()
    minute = ((local - day) // pd.Timedelta(minutes=1)).to_numpy()
    times = calendar.session_times(day.min(), day.max()).reindex(day) if len(rows) else None
    extended = ((minute < times["open"].to_numpy()) | (minute >= times["close"].to_numpy())) if len(rows) else []
    out = pd.DataFrame({"symbol": rows["symbol"].to_numpy(), "ts": utc(rows["timestamp"]).to_numpy(),
                        **prices, "extended": np.asarray(extended, dtype=bool)})
    return out.sort_values(["symbol", "ts"], ignore_index=True)


def write(con, staged: Staged, source_name: str, bar_size: str, policy: Policy, actor: str,
           started, symbols: list[str]) -> tuple[int, int]:
    """The one transaction of an ingest: bars, split and dividend records, the ingest record, flags, event."""
    con.execute(f"SET memory_limit = '{WRITE_MEMORY}'")
    added = 0
    if staged.files:
        files = [str(p) for p in staged.files]
        now = utcnow()
        if bar_size == DAILY:
            added = con.execute(
                "INSERT INTO bars SELECT n.symbol, n.date::DATE, n.open, n.high, n.low, n.close,"
                " n.volume, n.adj_close, ?, ? FROM read_parquet(?) n"
                " ANTI JOIN bars b ON b.symbol = n.symbol AND b.date = n.date::DATE",
                [source_name, now, files],
            ).fetchone()[0]
        else:
            added = insert_intraday(con, files, bar_size, source_name, now, staged)
    splits = pd.concat(staged.splits, ignore_index=True) if staged.splits else pd.DataFrame()
    if not splits.empty:
        con.register("new_splits", splits.drop_duplicates(["symbol", "date"]))
        con.execute("INSERT INTO splits SELECT symbol, date::DATE, ratio, ?, ? FROM new_splits"
                    " ON CONFLICT DO NOTHING", [source_name, utcnow()])
    dividends = pd.concat(staged.dividends, ignore_index=True) if staged.dividends else pd.DataFrame()
    if not dividends.empty:  # a record imported by hand (CSV) is kept over the source's
        save_dividends(con, dividends.drop_duplicates(["symbol", "ex_date"]), source_name, utcnow(),
                       replace=False)
    flags = pd.concat([f for f in staged.flags if not f.empty], ignore_index=True) if any(
        not f.empty for f in staged.flags) else pd.DataFrame()
    ingest_id = con.execute(
        "INSERT INTO ingests (source, symbols, started_at, finished_at, rows_added, rows_dropped,"
        " flags, policy, bar_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [source_name, symbols, started, utcnow(), added, staged.dropped, len(flags), policy.value, bar_size],
    ).fetchone()[0]
    if not flags.empty:
        stamps = pd.to_datetime(flags["timestamp"])
        if stamps.dt.tz is not None:
            stamps = utc(stamps)
        con.register("flags", pd.DataFrame({
            "symbol": flags["symbol"], "date": pd.to_datetime(flags["date"]), "check": flags["check"],
            "severity": flags["severity"], "reason": flags["reason"], "ts": stamps}))
        con.execute(
            "INSERT INTO bar_flags (symbol, date, check_name, severity, reason, ingest_id, bar_size, ts)"
            " SELECT symbol, date::DATE, \"check\", severity, reason, ?, ?, ts FROM flags",
            [ingest_id, bar_size],
        )
    append_event(
        con, "data.ingested", actor, subject=source_name,
        payload={"ingest_id": ingest_id, "bar_size": bar_size, "symbols": symbols, "rows_added": added,
                 "rows_dropped": staged.dropped, "flags": len(flags), "policy": policy.value},
    )
    return ingest_id, added


def insert_intraday(con, files: list[str], bar_size: str, source_name: str, now, staged: Staged) -> int:
    """Append the staged intraday bars, in (symbol, time) order, none twice.

    Each batch was filtered against the store when it was fetched, so when the store holds
    nothing of these symbols in this range a plain append does (and keeps the rows' order,
    which lets zone maps skip to a symbol). Should another ingest have stored some of the
    same bars since, they are left out with an anti join instead.
    """
    select = ("SELECT n.symbol, ? AS bar_size, n.ts, n.open, n.high, n.low, n.close, n.volume,"
              " n.adj_close, n.extended, ? AS source, ? AS ingested_at FROM read_parquet(?) n")
    stored = con.execute(
        "SELECT count(*) FROM intraday_bars WHERE bar_size = ? AND ts BETWEEN ? AND ?"
        " AND symbol IN (SELECT unnest(?))",
        [bar_size, staged.first.to_pydatetime(), staged.last.to_pydatetime(), sorted(staged.symbols)],
    ).fetchone()[0]
    if not stored:
        return con.execute(f"INSERT INTO intraday_bars {select}",
                           [bar_size, source_name, now, files]).fetchone()[0]
    return con.execute(
        f"INSERT INTO intraday_bars {select} ANTI JOIN (SELECT symbol, ts FROM intraday_bars"
        " WHERE bar_size = ? AND ts BETWEEN ? AND ?) b ON b.symbol = n.symbol AND b.ts = n.ts"
        " ORDER BY n.symbol, n.ts",
        [bar_size, source_name, now, files, bar_size, staged.first.to_pydatetime(),
         staged.last.to_pydatetime()],
    ).fetchone()[0]
