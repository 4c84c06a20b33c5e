"""Rows written in one statement: plain inserts and upserts inside the caller's transaction.

Each table's owner module (docs/architecture.md) writes through these, so a batch of a
replay's fills or a step's orders costs a statement or two, not one per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import duckdb
import numpy as np
import pandas as pd

#: From this many rows on, an insert registers a frame (column lists measured to 500 rows).
LARGE_BATCH = 1000
#: Up to this many rows, a statement names each value (a placeholder each) instead of
#: joining lists of them: what a step writes most (one order, one fill, one event). An
#: UPDATE of one 25-column row by its key: 1.2 ms, against 2.9 ms joined with a row of
#: lists; an insert of one row unless its key is there: 1.4 ms against 2.6 ms; a plain
#: insert: 0.8 against 1.1 ms. From three rows on the lists cost less. Such a statement
#: tells whether it wrote its row by its count of rows, not a RETURNING (0.3 ms more).
FEW_ROWS = 2


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]], *,
                on_conflict: str = "", returning: list[str] | None = None) -> list[tuple]:  # fmt: skip
    """Insert ``rows`` (dicts with the same keys) into ``table`` in one statement; gives the
    ``returning`` columns of the rows inserted (``on_conflict``, e.g. ``DO NOTHING``, says
    what becomes of a row whose key is there already)."""
    if not rows:
        return []
    tail = (f" ON CONFLICT {on_conflict}" if on_conflict else "") + _returning(returning)
    if len(rows) <= FEW_ROWS:
        columns = list(rows[0])
        values = ", ".join([f"({', '.join('?' * len(columns))})"] * len(rows))
        params = [python_value(row[c]) for row in rows for c in columns]
        result = con.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}{tail}", params)
        return result.fetchall() if returning else []
    if len(rows) < LARGE_BATCH:
        # One list parameter per column: 20 rows in ~0.9 ms, where a placeholder per value
        # or a registered frame takes ~3 ms.
        select, params = _columns(rows)
        result = con.execute(f"INSERT INTO {table} ({', '.join(rows[0])}) {select}{tail}", params)
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


def _returning(columns: list[str] | None) -> str:
    return f" RETURNING {', '.join(columns)}" if columns else ""


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


def put_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]],
             keys: list[str], *, stored: Iterable[tuple] = (),
             gone: Iterable[tuple] = ()) -> None:  # fmt: skip
    """An upsert: each of ``rows`` written whole, in place of the stored row with its ``keys``
    if there is one (a key given twice: its last row). Not DuckDB's ON CONFLICT, which costs
    some 5 ms a statement however few the rows.

    More than :data:`FEW_ROWS` rows: their keys deleted, then the rows inserted, two
    statements of about a millisecond each, where an UPDATE joined with the rows and an
    INSERT guarded against stored keys took 2.8 and 2.3 ms (a 500-symbol step's orders). A
    row rewritten so goes to the end of the table's scan order: a reader that needs an
    order says ORDER BY. Fewer rows: each row's own statement, an UPDATE for those the
    caller knows are ``stored`` (their key tuples), an INSERT unless its key is there for
    the others; ``stored`` is a hint, never trusted (a row it names that is gone is
    inserted, a row it leaves out that is there is updated: one statement more).

    ``gone``: the keys (tuples) of rows deleted too, in the batch's delete (a book's closed
    positions beside those it rewrites).
    """
    rows = list({_key(row, keys): row for row in rows}.values())
    gone = list(gone)
    if len(rows) > FEW_ROWS or gone:
        _delete_keys(con, table, keys, [*gone, *(_key(row, keys) for row in rows)])
        insert_rows(con, table, rows)
        return
    stored = set(stored)
    updated = update_rows(con, table, [row for row in rows if _key(row, keys) in stored], keys)
    others = [row for row in rows if _key(row, keys) not in updated]
    inserted = _insert_absent(con, table, others, keys)
    update_rows(con, table, [row for row in others if _key(row, keys) not in inserted], keys)


def _delete_keys(con, table: str, keys: list[str], found: list[tuple]) -> None:
    """Deletes the rows of ``table`` whose ``keys`` are one of the tuples ``found``: by the
    last key's list when they share the others (a book's rows: its name and their ids),
    else joined."""
    *leading, last = keys
    if all(key[:-1] == found[0][:-1] for key in found):
        where = "".join(f"{k} = ? AND " for k in leading)
        params = [*map(python_value, found[0][:-1]), [python_value(key[-1]) for key in found]]
        con.execute(f"DELETE FROM {table} WHERE {where}{last} IN (SELECT unnest(?))", params)
        return
    select, params = _columns([dict(zip(keys, key, strict=True)) for key in found])
    match = " AND ".join(f"{table}.{k} = v.{k}" for k in keys)
    con.execute(f"DELETE FROM {table} USING ({select}) v WHERE {match}", params)


def _key(row: dict[str, Any], keys: list[str]) -> tuple:
    return tuple(row[k] for k in keys)


def _one_by_one(con, sql: str, rows: list[dict[str, Any]], keys: list[str],
                values: Callable[[dict[str, Any]], list]) -> set[tuple]:  # fmt: skip
    """Runs ``sql`` (an INSERT or UPDATE of one row, no RETURNING) for each of ``rows``
    with ``values(row)``; gives the keys of the rows it wrote (by its count of rows)."""
    return {_key(row, keys) for row in rows if con.execute(sql, values(row)).fetchone()[0]}


def _columns(rows: list[dict[str, Any]]) -> tuple[str, dict[str, list]]:
    """A SELECT of ``rows`` as one list parameter per column (unnested in step), and those
    parameters: cheaper for DuckDB to bind than a placeholder per value."""
    columns = list(rows[0])
    select = "SELECT " + ", ".join(f"unnest(${c}) AS {c}" for c in columns)
    return select, {c: [python_value(row[c]) for row in rows] for c in columns}


def python_value(value):
    """``value`` as Python's own type (a NumPy scalar's ``item()``): DuckDB takes a NumPy scalar
    as a parameter, but not inside a list."""
    return value.item() if isinstance(value, np.generic) else value


def update_rows(con, table: str, rows: list[dict[str, Any]], keys: list[str]) -> set[tuple]:
    """Updates the rows of ``table`` with these keys (the other columns from ``rows``; a key
    given twice: its last row) in one statement; gives the keys found."""
    if not rows:
        return set()
    rows = list({_key(row, keys): row for row in rows}.values())  # DuckDB updates a row once
    if len(rows) <= FEW_ROWS:
        values = [c for c in rows[0] if c not in keys]
        sql = (f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in values)}"
               f" WHERE {' AND '.join(f'{k} = ?' for k in keys)}")  # fmt: skip
        return _one_by_one(con, sql, rows, keys,
                           lambda row: [python_value(row[c]) for c in (*values, *keys)])
    select, params = _columns(rows)
    sets = ", ".join(f"{c} = v.{c}" for c in rows[0] if c not in keys)
    match = " AND ".join(f"{table}.{k} = v.{k}" for k in keys)
    # Told by its count of rows, not a RETURNING: DuckDB then reads every column of the rows
    # it updates (a 500-symbol step's order statuses: 2.5 ms against 1.5).
    ((changed,),) = con.execute(f"UPDATE {table} SET {sets} FROM ({select}) v WHERE {match}", params).fetchall()
    if changed == len(rows):
        return {_key(row, keys) for row in rows}
    # Some keys are not stored: which are is asked of the table (every row there was updated).
    select, params = _columns([{k: row[k] for k in keys} for row in rows])
    found = ", ".join(f"{table}.{k}" for k in keys)
    return set(con.execute(f"SELECT {found} FROM {table} JOIN ({select}) v ON {match}", params).fetchall())


def _insert_absent(con, table: str, rows: list[dict[str, Any]], keys: list[str]) -> set[tuple]:
    """Inserts each of ``rows`` (a few: :func:`put_rows`) unless ``table`` holds its key, by the
    key's own lookup; gives the keys inserted."""
    if not rows:
        return set()
    sql = (f"INSERT INTO {table} ({', '.join(rows[0])}) SELECT {', '.join('?' * len(rows[0]))}"
           f" WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE"
           f" {' AND '.join(f'{k} = ?' for k in keys)})")  # fmt: skip
    return _one_by_one(con, sql, rows, keys,
                       lambda row: [python_value(v) for v in (*row.values(), *_key(row, keys))])
