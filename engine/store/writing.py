"""Rows written in one statement: plain inserts and upserts inside the caller's transaction.

Each table's owner module (docs/architecture.md) writes through these, so a batch of a
replay's fills or a step's orders costs one statement, not one per row.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

#: Below this many rows a prepared statement per row beats registering a frame.
SMALL_BATCH = 16


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in one statement."""
    if not rows:
        return
    if len(rows) < SMALL_BATCH:
        columns = list(rows[0])
        con.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [[row[c] for c in columns] for row in rows],
        )
        return
    frame = pd.DataFrame(rows)
    name = f"new_{table}"
    con.register(name, frame)
    try:
        columns = ", ".join(frame.columns)
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {name}")
    finally:
        con.unregister(name)


def upsert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """Insert ``rows`` into ``table``, updating the rows whose ``keys`` already exist."""
    if not rows:
        return
    columns = list(rows[0])
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    con.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
        [[row[c] for c in columns] for row in rows],
    )
