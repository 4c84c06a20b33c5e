"""Loading bars into the store: incremental, idempotent, checked, all-or-nothing.

Bars are fetched and checked a batch of symbols at a time, so that a year of minute bars
for hundreds of symbols never sits in memory at once. Checked batches wait as Parquet
files in a private folder under the data dir; only when every batch has passed (or the
policy has dealt with its errors) do the bars, their flags, the split records, the
ingest record and its event commit in one transaction. A refused or crashed ingest leaves
the store as it was.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from engine.data import calendar
from engine.data.bar_sizes import DAILY, check_bar_size
from engine.data.bars import SYNTHETIC_SOURCES
from engine.data.quality import Policy, QualityReport, check_bars, rows_to_drop
from engine.data.repository import last_stored, stored_splits
from engine.data.sources._common import served
from engine.errors import DataQualityError, InputError
from engine.store import Store, append_event
from engine.store.events import utcnow

#: Aim for about this many rows in memory per batch of symbols.
BATCH_ROWS = 1_000_000
#: DuckDB may use this much memory while it writes a big ingest (it spills beyond it).
WRITE_MEMORY = "1GB"


@dataclass(frozen=True)
class IngestResult:
    """What one ingest did: rows fetched, added, already stored, dropped, and the findings."""

    ingest_id: int | None
    source: str
    symbols: list[str]
    rows_fetched: int
    rows_added: int
    rows_already_stored: int
    rows_dropped: int
    report: QualityReport
    bar_size: str = DAILY

    @property
    def synthetic(self) -> bool:
        return self.source in SYNTHETIC_SOURCES

    def as_dict(self) -> dict:
        return {
            "ingest_id": self.ingest_id,
            "source": self.source,
            "synthetic": self.synthetic,
            "bar_size": self.bar_size,
            "symbols": self.symbols,
            "rows_fetched": self.rows_fetched,
            "rows_added": self.rows_added,
            "rows_already_stored": self.rows_already_stored,
            "rows_dropped": self.rows_dropped,
            "errors": len(self.report.errors),
            "warnings": len(self.report.warnings),
            "findings": self.report.summary().to_dict(orient="records"),
        }


def last_stored_dates(store: Store, symbols: list[str] | None = None) -> dict[str, pd.Timestamp]:
    """The newest stored daily bar date per symbol."""
    return last_stored(store, symbols, DAILY)


@dataclass
class _Staged:
    """Checked rows waiting to be written: Parquet files in a private folder, plus the
    (small) flags and split records, and the counts the result reports."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    flags: list[pd.DataFrame] = field(default_factory=list)
    splits: list[pd.DataFrame] = field(default_factory=list)
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


def ingest(
    store: Store,
    source,
    symbols: list[str] | None = None,
    start=None,
    end=None,
    *,
    bar_size: str = DAILY,
    extended_hours: bool = False,
    policy: Policy | str = Policy.REJECT,
    actor: str = "cli",
    progress: bool = True,
    now: pd.Timestamp | None = None,
) -> IngestResult:
    """Load bars of ``bar_size`` from ``source`` into the store, only those it does not have.

    Runs the quality checks on the new rows; under the ``reject`` policy any error refuses
    the whole ingest (:class:`DataQualityError` carrying the report) and nothing is written.
    Intraday bars are regular hours unless ``extended_hours``.
    """
    policy = Policy(policy)
    bar_size = served(source, check_bar_size(bar_size))
    if extended_hours and bar_size == DAILY:
        raise InputError("daily bars have no extended hours", hint="drop --extended-hours, or pick an intraday --bar-size")
    if start is not None and end is not None and pd.Timestamp(start) > pd.Timestamp(end):
        raise InputError(f"--start {start} is after --end {end}: the range is backwards", hint="swap them")
    if getattr(source, "remote", False) and not symbols:
        raise InputError(f"--source {source.name} needs symbols",
                         hint="pass --symbols, e.g. --symbols AAPL,MSFT")
    started = utcnow()
    listed = list(symbols) if symbols else (source.symbols() if hasattr(source, "symbols") else None)
    stored_last = last_stored(store, listed, bar_size)
    known_splits = stored_splits(store, listed)
    folder = Path(tempfile.mkdtemp(prefix=".ingest-", dir=store.data_dir))
    try:
        staged = _Staged(folder)
        reports = []
        batches = _batches(listed, bar_size, start, end)
        bar = tqdm(total=len(listed) if listed else None, desc=f"ingesting {bar_size}", unit="symbol",
                   disable=not progress or None)
        for batch in batches:
            report = _stage_batch(store, source, staged, batch, start, end, bar_size, extended_hours,
                                  stored_last, known_splits, policy, now)
            reports.append(report)
            bar.update(len(batch) if batch else 0)
            if policy is Policy.REJECT and not report.errors.empty:
                break  # refused anyway: no need to fetch the rest
        bar.close()
        report = QualityReport.combine(reports)
        if policy is Policy.REJECT and not report.errors.empty:
            checked = len(staged.symbols)
            scope = f" (stopped after {checked} of {len(listed)} symbols)" if listed and checked < len(listed) else ""
            raise DataQualityError(
                f"ingest refused, nothing written{scope}: {report.describe()}",
                report=report,
                hint="fix the rows, or choose --on-error drop (leave them out) or flag (keep and mark them)",
            )
        ingest_id, added = store.transaction(
            _write, staged, source.name, bar_size, policy, actor, started, sorted(staged.symbols)
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return IngestResult(
        ingest_id=ingest_id,
        source=source.name,
        symbols=sorted(staged.symbols) if staged.symbols else list(symbols or []),
        rows_fetched=staged.fetched,
        rows_added=added,
        rows_already_stored=staged.already,
        rows_dropped=staged.dropped,
        report=report,
        bar_size=bar_size,
    )


def _batches(symbols: list[str] | None, bar_size: str, start, end) -> list[list[str] | None]:
    """Symbols in groups of about BATCH_ROWS rows (one group for daily bars or no list)."""
    if not symbols:
        return [None]
    if bar_size == DAILY:
        return [symbols]
    first = pd.Timestamp(start) if start is not None else pd.Timestamp.now().normalize() - pd.Timedelta(days=365)
    last = pd.Timestamp(end) if end is not None else pd.Timestamp.now().normalize()
    sessions = max(len(calendar.sessions(first, max(first, last))), 1)
    per_symbol = sessions * int(calendar.bars_in_session(bar_size, 570, 960))
    size = max(1, BATCH_ROWS // per_symbol)
    return [symbols[i:i + size] for i in range(0, len(symbols), size)]


def _fetch(source, symbols, start, end, stored_last, bar_size, extended_hours) -> pd.DataFrame:
    """Rows from the source; a remote source is asked only for what is not stored yet.

    Daily: from the day after the last stored bar. Intraday: from the session of the last
    stored bar (it may have been stored part-way through).
    """
    kwargs = {"bar_size": bar_size, "extended_hours": extended_hours}
    if not getattr(source, "remote", False) or start is not None:
        return source.fetch(symbols, start, end, **kwargs)
    today = pd.Timestamp.now(tz=calendar.TZ).tz_localize(None).normalize()
    since_of: dict = {}
    for symbol in symbols:
        last = stored_last.get(symbol)
        if last is None:
            since = None
        elif bar_size == DAILY:
            since = last + pd.Timedelta(days=1)
        else:
            since = last.tz_localize(None).normalize()
        if since is not None and (since > today or (end is not None and since > pd.Timestamp(end))):
            continue  # already up to date
        since_of.setdefault(since, []).append(symbol)
    frames = [source.fetch(group, since, end, **kwargs) for since, group in since_of.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _stage_batch(store, source, staged: _Staged, symbols, start, end, bar_size, extended_hours,
                 stored_last, known_splits, policy, now) -> QualityReport:
    """Fetch one batch, keep what is new, check it, apply the policy, and stage the rest."""
    fetched = _fetch(source, symbols, start, end, stored_last, bar_size, extended_hours).reset_index(drop=True)
    staged.fetched += len(fetched)
    if fetched.empty:
        staged.symbols.update(symbols or [])
        return QualityReport.combine([])
    staged.symbols.update(fetched["symbol"].dropna().unique())
    splits = _split_records(fetched)
    staged.splits.append(splits)
    new_rows = _not_yet_stored(store, fetched, bar_size)
    staged.already += len(fetched) - len(new_rows)
    report = check_bars(
        new_rows, bar_size=bar_size, extended_hours=extended_hours,
        stored_last={s: t.normalize() if t.tzinfo is None else t.tz_localize(None).normalize()
                     for s, t in stored_last.items()},
        splits=pd.concat([known_splits, splits], ignore_index=True), now=now,
    )
    if policy is Policy.REJECT and not report.errors.empty:
        return report
    dropped = rows_to_drop(report, policy)
    staged.dropped += len(dropped)
    staged.flags.append(report.findings[~report.findings["row"].isin(dropped)])
    staged.add(_table_rows(new_rows.drop(index=dropped), bar_size))
    return report


def _split_records(rows: pd.DataFrame) -> pd.DataFrame:
    """The split records a source sent with its rows (symbol, date, ratio)."""
    if "split_ratio" not in rows or "date" not in rows:
        return pd.DataFrame(columns=["symbol", "date", "ratio"])
    hit = rows[rows["split_ratio"].notna() & (rows["split_ratio"] != 1.0) & (rows["split_ratio"] > 0)]
    return pd.DataFrame({"symbol": hit["symbol"], "date": pd.to_datetime(hit["date"]),
                         "ratio": hit["split_ratio"].astype(float)})


def _utc(stamps: pd.Series) -> pd.Series:
    """tz-aware times as the store keeps them: UTC, tz-naive."""
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None)


def _not_yet_stored(store: Store, rows: pd.DataFrame, bar_size: str) -> pd.DataFrame:
    """The rows whose (symbol, date or bar start) the store does not have yet."""
    if rows.empty:
        return rows
    daily = bar_size == DAILY
    keys = pd.DataFrame({
        "row": np.arange(len(rows)),
        "symbol": rows["symbol"].to_numpy(),
        "at": pd.to_datetime(rows["date"]) if daily else _utc(rows["timestamp"]),
    })
    if daily:
        stored = ("SELECT symbol, date::TIMESTAMP AS at FROM bars"
                  " WHERE symbol IN (SELECT DISTINCT symbol FROM fetched)")
        params = []
    else:
        stored = ("SELECT symbol, ts AS at FROM intraday_bars WHERE bar_size = ?"
                  " AND symbol IN (SELECT DISTINCT symbol FROM fetched) AND ts BETWEEN ? AND ?")
        params = [bar_size, keys["at"].min().to_pydatetime(), keys["at"].max().to_pydatetime()]
    with store.connect() as con:
        con.register("fetched", keys)
        seen = con.execute(
            f"SELECT f.row FROM fetched f SEMI JOIN ({stored}) s ON s.symbol = f.symbol AND s.at = f.at",
            params,
        ).fetchnumpy()["row"]
    if not len(seen):
        return rows
    return rows[~np.isin(np.arange(len(rows)), seen)]


def _table_rows(rows: pd.DataFrame, bar_size: str) -> pd.DataFrame:
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
    out = pd.DataFrame({"symbol": rows["symbol"].to_numpy(), "ts": _utc(rows["timestamp"]).to_numpy(),
                        **prices, "extended": np.asarray(extended, dtype=bool)})
    return out.sort_values(["symbol", "ts"], ignore_index=True)


def _write(con, staged: _Staged, source_name: str, bar_size: str, policy: Policy, actor: str,
           started, symbols: list[str]) -> tuple[int, int]:
    """The one transaction of an ingest: bars, split records, the ingest record, flags, event."""
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
            added = _insert_intraday(con, files, bar_size, source_name, now, staged)
    splits = pd.concat(staged.splits, ignore_index=True) if staged.splits else pd.DataFrame()
    if not splits.empty:
        con.register("new_splits", splits.drop_duplicates(["symbol", "date"]))
        con.execute("INSERT INTO splits SELECT symbol, date::DATE, ratio, ?, ? FROM new_splits"
                    " ON CONFLICT DO NOTHING", [source_name, utcnow()])
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
            stamps = _utc(stamps)
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


def _insert_intraday(con, files: list[str], bar_size: str, source_name: str, now, staged: _Staged) -> int:
    """Append the staged intraday bars, in (symbol, time) order, none twice.

    Each batch was filtered against the store when it was fetched; the plain append keeps
    the rows' order (which lets zone maps skip to a symbol). Should another ingest have
    stored some of the same bars since, they are left out with an anti join instead.
    """
    select = ("SELECT n.symbol, ? AS bar_size, n.ts, n.open, n.high, n.low, n.close, n.volume,"
              " n.adj_close, n.extended, ? AS source, ? AS ingested_at FROM read_parquet(?) n")
    clash = con.execute(
        "SELECT count(*) FROM read_parquet(?) n SEMI JOIN (SELECT symbol, ts FROM intraday_bars"
        " WHERE bar_size = ? AND ts BETWEEN ? AND ?) b ON b.symbol = n.symbol AND b.ts = n.ts",
        [files, bar_size, staged.first.to_pydatetime(), staged.last.to_pydatetime()],
    ).fetchone()[0]
    if not clash:
        return con.execute(f"INSERT INTO intraday_bars {select}",
                           [bar_size, source_name, now, files]).fetchone()[0]
    return con.execute(
        f"INSERT INTO intraday_bars {select} ANTI JOIN (SELECT symbol, ts FROM intraday_bars"
        " WHERE bar_size = ?) b ON b.symbol = n.symbol AND b.ts = n.ts ORDER BY n.symbol, n.ts",
        [bar_size, source_name, now, files, bar_size],
    ).fetchone()[0]
