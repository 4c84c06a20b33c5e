"""Loading bars into the store: incremental, idempotent, checked, all-or-nothing.

Bars are fetched and checked a batch of symbols at a time, so that a year of minute bars
for hundreds of symbols never sits in memory at once. Checked batches wait outside the
store (:mod:`engine.data.staging`); only when every batch has passed (or the policy has
dealt with its errors) do they commit, in one transaction. A refused or crashed ingest
leaves the store as it was.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from engine.data import calendar
from engine.data.bar_sizes import DAILY, check_bar_size
from engine.data.corporate_actions import dividend_records
from engine.data.quality import Policy, QualityReport, check_bars, rows_to_drop
from engine.data.repository import last_stored, stored_splits
from engine.data.sources import SYNTHETIC_SOURCES
from engine.data.sources._common import served
from engine.data.staging import Staged, table_rows, utc, write
from engine.errors import DataQualityError, InputError
from engine.store import Store
from engine.store.events import utcnow

#: Aim for about this many rows in memory per batch of symbols.
BATCH_ROWS = 1_000_000


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
        """The result as plain values (for ``--json``): the report as its counts and findings."""
        facts = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "report"}
        return {
            **facts,
            "synthetic": self.synthetic,
            "errors": len(self.report.errors),
            "warnings": len(self.report.warnings),
            "findings": self.report.summary().to_dict(orient="records"),
        }


def last_stored_dates(store: Store, symbols: list[str] | None = None) -> dict[str, pd.Timestamp]:
    """The newest stored daily bar date per symbol."""
    return last_stored(store, symbols, DAILY)


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
        staged = Staged(folder)
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
            write, staged, source.name, bar_size, policy, actor, started, sorted(staged.symbols)
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


def _stage_batch(store, source, staged: Staged, symbols, start, end, bar_size, extended_hours,
                 stored_last, known_splits, policy, now) -> QualityReport:
    """Fetch one batch, keep what is new, check it, apply the policy, and stage the rest."""
    fetched = _fetch(source, symbols, start, end, stored_last, bar_size, extended_hours).reset_index(drop=True)
    staged.fetched += len(fetched)
    if fetched.empty:
        staged.symbols.update(symbols or [])
        return QualityReport.combine([])
    # Categories make every group-by and comparison on millions of rows cheap.
    fetched["symbol"] = fetched["symbol"].astype("category")
    staged.symbols.update(fetched["symbol"].dropna().unique())
    splits = _split_records(fetched)
    staged.splits.append(splits)
    staged.dividends.append(dividend_records(fetched))
    new_rows = _not_yet_stored(store, fetched, bar_size, stored_last)
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
    staged.add(table_rows(new_rows.drop(index=dropped), bar_size))
    return report


def _split_records(rows: pd.DataFrame) -> pd.DataFrame:
    """The split records a source sent with its rows (symbol, date, ratio)."""
    if "split_ratio" not in rows or "date" not in rows:
        return pd.DataFrame(columns=["symbol", "date", "ratio"])
    hit = rows[rows["split_ratio"].notna() & (rows["split_ratio"] != 1.0) & (rows["split_ratio"] > 0)]
    return pd.DataFrame({"symbol": hit["symbol"], "date": pd.to_datetime(hit["date"]),
                         "ratio": hit["split_ratio"].astype(float)})


def _not_yet_stored(store: Store, rows: pd.DataFrame, bar_size: str,
                    stored_last: dict[str, pd.Timestamp]) -> pd.DataFrame:
    """The rows whose (symbol, date or bar start) the store does not have yet."""
    if rows.empty:
        return rows
    daily = bar_size == DAILY
    first = pd.Timestamp(rows["date"].min() if daily else rows["timestamp"].min())
    if all(stored_last.get(s) is None or stored_last[s] < first for s in rows["symbol"].unique()):
        return rows  # nothing stored this late for these symbols: all of it is new
    keys = pd.DataFrame({
        "row": np.arange(len(rows)),
        "symbol": rows["symbol"].to_numpy(),
        "at": pd.to_datetime(rows["date"]) if daily else utc(rows["timestamp"]),
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


