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
        _values(con, f"INSERT INTO {table}", rows, "")
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
    # One statement may not update a row twice: the last row of a key wins, as it would
    # written one after another.
    rows = list({tuple(row[k] for k in keys): row for row in rows}.values())
    updates = ", ".join(f"{c} = excluded.{c}" for c in rows[0] if c not in keys)
    conflict = f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    _values(con, f"INSERT INTO {table}", rows, conflict)


#: Rows per statement of :func:`_values` (a statement's parameters stay a few thousand).
VALUES_BATCH = 200


def _values(con: duckdb.DuckDBPyConnection, insert: str, rows: list[dict[str, Any]], tail: str):
    """``insert (columns) VALUES (...), (...) tail`` for ``rows``: one statement per
    :data:`VALUES_BATCH` rows (a statement per row, as ``executemany`` runs, costs a
    statement's overhead for every row)."""
    columns = list(rows[0])
    row = f"({', '.join('?' * len(columns))})"
    for start in range(0, len(rows), VALUES_BATCH):
        batch = rows[start : start + VALUES_BATCH]
        con.execute(
            f"{insert} ({', '.join(columns)}) VALUES {', '.join([row] * len(batch))}{tail}",
            [r[c] for r in batch for c in columns],
        )
