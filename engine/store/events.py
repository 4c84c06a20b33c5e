"""The append-only audit trail: who did what, when, to what."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from engine.store.db import step_on
from engine.store.reading import conditions, newest_rows
from engine.store.writing import insert_rows

#: The key of the events appended in a step, waiting for it to commit (Step.waiting).
_WAITING = "events waiting for the step's end"


def utcnow() -> datetime:
    """Now in UTC, tz-naive, as the store keeps timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


def append_event(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    actor: str,
    subject: str | None = None,
    payload: dict[str, Any] | None = None,
    *,
    ts: datetime | None = None,
) -> int:
    """Append one event inside the caller's transaction; returns its id.

    Call it in the same transaction as the change it records, so the audit trail and
    the state can never disagree.
    """
    step = step_on(con)
    if step is not None:
        step.write_waiting(_WAITING)  # events appended earlier in the step keep their lower ids
    row = con.execute(
        "INSERT INTO events (ts, actor, kind, subject, payload) VALUES (?, ?, ?, ?, ?)"
        " RETURNING id",
        [ts or utcnow(), actor, kind, subject, json.dumps(payload or {}, default=str)],
    ).fetchone()
    return int(row[0])


def append_events(
    con: duckdb.DuckDBPyConnection,
    actor: str,
    events: Iterable[tuple[str, str | None, dict[str, Any]]],
) -> None:
    """Append ``(kind, subject, payload)`` events in this order, in one statement.

    The rows :func:`append_event` writes, for many at once (a step's orders, a replay's
    fills), inside the caller's transaction. Inside a store's step they wait for its end,
    with every other piece of work's (the paper broker's bar, cancels and orders, the
    loop's record): one statement a step, in the order they were appended. Nothing in a
    step reads the trail back.
    """
    now = utcnow()
    rows = [
        {"ts": now, "actor": actor, "kind": kind, "subject": subject,
         "payload": json.dumps(payload, default=str)}
        for kind, subject, payload in events
    ]  # fmt: skip
    step = step_on(con) if rows else None
    if step is None:
        insert_rows(con, "events", rows)
        return
    step.waiting(_WAITING, list, _insert_events).extend(rows)


def _insert_events(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    insert_rows(con, "events", rows)


def read_events(
    store,
    *,
    kinds: list[str] | None = None,
    actor: str | None = None,
    subject: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: int = 1000,
) -> pd.DataFrame:
    """The newest events first, filtered by kind (prefix match), actor, subject and time.

    ``before`` keeps only events older than that id (paging back). Only the newest part
    of the trail is read (see :func:`~engine.store.reading.newest_rows`), so a page of a
    million events costs what a page of a thousand does.
    """
    where, params = conditions(
        [("actor = ?", actor), ("subject = ?", subject), ("ts >= ?", since), ("ts < ?", until)]
    )
    if kinds:
        where.append("(" + " OR ".join("starts_with(kind, ?)" for _ in kinds) + ")")
        params += list(kinds)
    return newest_rows(
        store,
        "SELECT id, ts, actor, kind, subject, payload FROM events WHERE "
        + " AND ".join(["{newest}", *where]) + f" ORDER BY id DESC LIMIT {int(limit)}",
        params, table="events", key="id", limit=limit, below=before,
    )  # fmt: skip


def event_choices(store) -> tuple[list[str], list[str]]:
    """(event kinds, actors) present in the audit trail, each sorted: for filter menus."""
    kinds = store.query("SELECT DISTINCT kind FROM events ORDER BY kind")["kind"].tolist()
    actors = store.query("SELECT DISTINCT actor FROM events ORDER BY actor")["actor"].tolist()
    return kinds, actors
