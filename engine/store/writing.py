"""Rows written in one statement: plain inserts and upserts inside the caller's transaction.

Each table's owner module (docs/architecture.md) writes through these, so a batch of a
replay's fills or a step's orders costs one statement, not one per row.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

#: Below this many rows one statement with every row in its VALUES beats registering a frame.
SMALL_BATCH = 16


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]], *,
                on_conflict: str = "", returning: list[str] | None = None) -> list[tuple]:  # fmt: skip
    """Insert ``rows`` (dicts with the same keys) into ``table`` in one statement; gives the
    ``returning`` columns of the rows inserted (``on_conflict``, e.g. ``DO NOTHING``, says
    what becomes of a row whose key is there already)."""
    if not rows:
        return []
    tail = (f" ON CONFLICT {on_conflict}" if on_conflict else "") + _returning(returning)
    if len(rows) < SMALL_BATCH:
        columns = list(rows[0])
        result = con.execute(
            f"INSERT INTO {table} ({', '.join(columns)})"
            f" VALUES {_placeholders(len(rows), len(columns))}{tail}",
            [row[c] for row in rows for c in columns],
        )
        return result.fetchall() if returning else []
    frame = pd.DataFrame(rows)
    name = f"new_{table}"
    con.register(name, frame)
    try:
        columns = ", ".join(frame.columns)
        result = con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {name}{tail}")
        return result.fetchall() if returning else []
    finally:
        con.unregister(name)


def upsert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]], keys: list[str],
    *, returning: list[str] | None = None,
) -> list[tuple]:  # fmt: skip
    """Insert ``rows`` into ``table``, updating the rows whose ``keys`` already exist; gives
    the ``returning`` columns of each row as stored.

    A key given twice is written as its last row (DuckDB updates a row once per statement).
    """
    if not rows:
        return []
    rows = list({tuple(row[k] for k in keys): row for row in rows}.values())
    columns = list(rows[0])
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    result = con.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
        f" {_placeholders(len(rows), len(columns))}"
        f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}{_returning(returning)}",
        [row[c] for row in rows for c in columns],
    )
    return result.fetchall() if returning else []


def _returning(columns: list[str] | None) -> str:
    return f" RETURNING {', '.join(columns)}" if columns else ""


def _placeholders(rows: int, columns: int) -> str:
    """``(?, ?), (?, ?)`` for ``rows`` rows of ``columns`` values: a few rows in one statement
    (DuckDB's ``executemany`` runs one statement per row, at about a millisecond each)."""
    row = f"({', '.join('?' * columns)})"
    return ", ".join([row] * rows)


def update_else_insert(con: duckdb.DuckDBPyConnection, update: tuple[str, Any],
                       insert: tuple[str, Any], rows: int = 1, *,
                       returning: bool = False) -> list[tuple] | None:  # fmt: skip
    """Run the ``update`` statement (with its parameters); when it changed fewer than ``rows``
    rows, the ``insert`` too (an upsert where some of the rows may exist already).
    ``returning``: both statements end in a RETURNING clause, and the rows they give are
    given back.

    A step rewrites the same few rows (its book, its heartbeat, its marks) again and again:
    DuckDB updates a row in about a third of the time an upsert takes, and only the first
    write of a row needs the insert.
    """
    # fetchall, not fetchone: a half-read result left open makes a later register() fail.
    found = con.execute(*update).fetchall()
    changed = len(found) if returning else found[0][0]
    if changed < rows:
        inserted = con.execute(*insert).fetchall()
        found = found + inserted if returning else found
    return found if returning else None
