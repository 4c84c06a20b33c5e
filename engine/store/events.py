"""The append-only audit trail: who did what, when, to what."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd


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
    row = con.execute(
        "INSERT INTO events (ts, actor, kind, subject, payload) VALUES (?, ?, ?, ?, ?)"
        " RETURNING id",
        [ts or utcnow(), actor, kind, subject, json.dumps(payload or {}, default=str)],
    ).fetchone()
    return int(row[0])


def read_events(
    store,
    *,
    kinds: list[str] | None = None,
    actor: str | None = None,
    subject: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> pd.DataFrame:
    """The newest events first, filtered by kind (prefix match), actor, subject and time."""
    where, params = [], []
    if kinds:
        where.append("(" + " OR ".join("kind LIKE ?" for _ in kinds) + ")")
        params += [f"{k}%" for k in kinds]
    if actor:
        where.append("actor = ?")
        params.append(actor)
    if subject:
        where.append("subject = ?")
        params.append(subject)
    if since:
        where.append("ts >= ?")
        params.append(since)
    sql = "SELECT id, ts, actor, kind, subject, payload FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY id DESC LIMIT {int(limit)}"
    return store.query(sql, params)
