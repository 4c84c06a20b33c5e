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


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in one statement."""
    if not rows:
        return
    if len(rows) < SMALL_BATCH:
        columns = list(rows[0])
        con.execute(
            f"INSERT INTO {table} ({', '.join(columns)})"
            f" VALUES {_placeholders(len(rows), len(columns))}",
            [row[c] for row in rows for c in columns],
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
    conflict = f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    values = [[row[c] for c in columns] for row in rows]
    if len({tuple(row[k] for k in keys) for row in rows}) < len(rows):
        # A key twice: DuckDB updates a row once per statement, so one statement per row
        # (the last one wins, as written).
        con.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {_placeholders(1, len(columns))}"
            f"{conflict}",
            values,
        )
        return
    con.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
        f" {_placeholders(len(rows), len(columns))}{conflict}",
        [value for row in values for value in row],
    )


def _placeholders(rows: int, columns: int) -> str:
    """``(?, ?), (?, ?)`` for ``rows`` rows of ``columns`` values: a few rows in one statement
    (DuckDB's ``executemany`` runs one statement per row, at about a millisecond each)."""
    row = f"({', '.join('?' * columns)})"
    return ", ".join([row] * rows)


def update_else_insert(con: duckdb.DuckDBPyConnection, update: tuple[str, Any],
                       insert: tuple[str, Any], rows: int = 1) -> None:  # fmt: skip
    """Run the ``update`` statement (with its parameters); when it changed fewer than ``rows``
    rows, the ``insert`` too (an upsert where some of the rows may exist already).

    A step rewrites the same few rows (its book, its heartbeat, its marks) again and again:
    DuckDB updates a row in about a third of the time an upsert takes, and only the first
    write of a row needs the insert.
    """
    # fetchall, not fetchone: a half-read result left open makes a later register() fail.
    ((changed,),) = con.execute(*update).fetchall()
    if changed < rows:
        con.execute(*insert)
