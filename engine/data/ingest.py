"""Loading bars into the store: incremental, idempotent, checked, all-or-nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from tqdm.auto import tqdm

from engine.data.quality import Policy, QualityReport, check_bars, rows_to_drop
from engine.errors import DataQualityError, InputError
from engine.store import Store, append_event
from engine.store.events import utcnow


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

    def as_dict(self) -> dict:
        return {
            "ingest_id": self.ingest_id,
            "source": self.source,
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
    """The newest stored bar date per symbol."""
    sql = "SELECT symbol, max(date) AS last FROM bars"
    params: list = []
    if symbols:
        sql += " WHERE symbol IN (SELECT unnest(?))"
        params.append(list(symbols))
    frame = store.query(sql + " GROUP BY symbol", params)
    return {row.symbol: pd.Timestamp(row.last) for row in frame.itertuples()}


def _fetch(source, symbols, start, end, stored_last, show_progress) -> pd.DataFrame:
    """Rows from the source; a remote source is asked only for dates after what is stored."""
    if getattr(source, "name", "") != "yahoo":
        return source.fetch(symbols, start, end)
    frames = []
    for symbol in tqdm(symbols, desc="fetching", unit="symbol", disable=not show_progress or None):
        since = start
        if symbol in stored_last and start is None:
            since = stored_last[symbol] + pd.Timedelta(days=1)
        if end is not None and since is not None and pd.Timestamp(since) > pd.Timestamp(end):
            continue
        if since is not None and pd.Timestamp(since) > pd.Timestamp.now().normalize():
            continue  # already up to date
        frames.append(source.fetch([symbol], since, end))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["date", "symbol", "open", "high", "low", "close", "volume", "adj_close"]
    )


def _not_yet_stored(store: Store, rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return rows
    with store.connect() as con:
        con.register("fetched", rows.assign(date=pd.to_datetime(rows["date"])))
        keys = con.execute(
            "SELECT symbol, date::DATE AS date FROM fetched INTERSECT "
            "SELECT symbol, date FROM bars WHERE symbol IN (SELECT DISTINCT symbol FROM fetched)"
        ).df()
    if keys.empty:
        return rows
    stored = pd.MultiIndex.from_arrays([keys["symbol"], pd.to_datetime(keys["date"])])
    mine = pd.MultiIndex.from_arrays([rows["symbol"], pd.to_datetime(rows["date"])])
    return rows[~mine.isin(stored)]


def ingest(
    store: Store,
    source,
    symbols: list[str] | None = None,
    start=None,
    end=None,
    *,
    policy: Policy | str = Policy.REJECT,
    actor: str = "cli",
    progress: bool = True,
) -> IngestResult:
    """Load bars from ``source`` into the store, only the dates it does not have yet.

    Runs the quality checks on the new rows; under the ``reject`` policy any error refuses
    the whole batch (:class:`DataQualityError` carrying the report) and nothing is written.
    Bars, flags, the ingest record and its event commit in one transaction.
    """
    policy = Policy(policy)
    if start is not None and end is not None and pd.Timestamp(start) > pd.Timestamp(end):
        raise InputError(f"--start {start} is after --end {end}", hint="swap them")
    started = utcnow()
    stored_last = last_stored_dates(store, symbols)
    fetched = _fetch(source, symbols, start, end, stored_last, progress)
    fetched = fetched.reset_index(drop=True)
    new_rows = _not_yet_stored(store, fetched)
    symbols_seen = sorted(fetched["symbol"].dropna().unique()) if not fetched.empty else list(symbols or [])

    reports = []
    for symbol, rows in tqdm(
        new_rows.groupby("symbol", sort=True), desc="checking", unit="symbol",
        disable=not progress or None, total=new_rows["symbol"].nunique(),
    ):
        reports.append(check_bars(rows, stored_last={symbol: stored_last.get(symbol)}))
    findings = pd.concat([r.findings for r in reports], ignore_index=True) if reports else None
    report = QualityReport(
        findings=findings if findings is not None else check_bars(new_rows.iloc[:0]).findings,
        rows_checked=len(new_rows),
    )
    if policy is Policy.REJECT and not report.errors.empty:
        raise DataQualityError(
            f"ingest refused, nothing written: {report.describe()}",
            report=report,
            hint="fix the rows, or choose --on-error drop (leave them out) or flag (keep and mark them)",
        )
    dropped = rows_to_drop(report, policy)
    to_store = new_rows.drop(index=dropped)
    kept_flags = report.findings[~report.findings["row"].isin(dropped)]

    def write(con) -> tuple[int, int]:
        con.register("new_rows", to_store.assign(date=pd.to_datetime(to_store["date"])))
        before = con.execute("SELECT count(*) FROM bars").fetchone()[0]
        con.execute(
            "INSERT INTO bars SELECT n.symbol, n.date::DATE, n.open, n.high, n.low, n.close,"
            " n.volume, n.adj_close, ?, now()::TIMESTAMP FROM new_rows n"
            " ANTI JOIN bars b ON b.symbol = n.symbol AND b.date = n.date::DATE",
            [source.name],
        )
        added = con.execute("SELECT count(*) FROM bars").fetchone()[0] - before
        ingest_id = con.execute(
            "INSERT INTO ingests (source, symbols, started_at, finished_at, rows_added,"
            " rows_dropped, flags, policy) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [source.name, symbols_seen, started, utcnow(), added, len(dropped), len(kept_flags), policy.value],
        ).fetchone()[0]
        if not kept_flags.empty:
            con.register("flags", kept_flags.assign(ingest_id=ingest_id, date=pd.to_datetime(kept_flags["date"])))
            con.execute(
                "INSERT INTO bar_flags SELECT symbol, date::DATE, \"check\", severity, reason,"
                " ingest_id FROM flags"
            )
        append_event(
            con, "data.ingested", actor, subject=source.name,
            payload={"ingest_id": ingest_id, "symbols": symbols_seen, "rows_added": added,
                     "rows_dropped": len(dropped), "flags": len(kept_flags), "policy": policy.value},
        )
        return ingest_id, added

    ingest_id, added = store.transaction(write)
    return IngestResult(
        ingest_id=ingest_id,
        source=source.name,
        symbols=symbols_seen,
        rows_fetched=len(fetched),
        rows_added=added,
        rows_already_stored=len(fetched) - len(new_rows),
        rows_dropped=len(dropped),
        report=report,
    )
