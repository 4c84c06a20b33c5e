"""Reads that share one open connection, and the newest page of a big table read cheaply.

Opening DuckDB costs tens of milliseconds and a small query a few, so a screen that asked
the store ten times would spend most of its time opening it. A function decorated with
:func:`on_one_connection` gets a :class:`Reader` (the store seen through one connection,
held for the call) and passes it on, so nested reads share the connection.

>>> @on_one_connection                                              # doctest: +SKIP
... def held(store, book): return store.query("SELECT ...", [book])
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd


class Reader:
    """The store seen through one open connection (``query``, ``rows`` and ``scalar`` as on the store)."""

    def __init__(self, store, con):
        self.store, self.con, self.path, self.data_dir = store, con, store.path, store.data_dir

    def query(self, sql: str, params: Any = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    def rows(self, sql: str, params: Any = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: Any = None) -> Any:
        row = self.con.execute(sql, params or []).fetchone()
        return None if row is None else row[0]


def on_one_connection(read):
    """``read(store, ...)`` run on one connection held for its duration; nested reads share it."""

    @functools.wraps(read)
    def wrapper(store, *args, **kwargs):
        if isinstance(store, Reader):
            return read(store, *args, **kwargs)
        with store.connect() as con:
            return read(Reader(store, con), *args, **kwargs)

    return wrapper


def conditions(pairs: Iterable[tuple[str, Any]]) -> tuple[list[str], list]:
    """(SQL conditions, their parameters) of the ``(condition, value)`` pairs whose value is given.

    >>> conditions([("side = ?", "buy"), ("symbol IN (SELECT unnest(?))", [])])
    (['side = ?'], ['buy'])
    """
    given = [
        (sql, value) for sql, value in pairs if value is not None and value != [] and value != ""
    ]
    return [sql for sql, _ in given], [value for _, value in given]


def newest_rows(store, sql: str, params: list, *, table: str, key: str, limit: int | None,
                below: int | None = None) -> pd.DataFrame:  # fmt: skip
    """The newest ``limit`` rows of ``sql`` by ``key``, reading only the newest part of ``table``.

    ``key`` grows with every insert (a sequence) and DuckDB skips the row groups a bound
    on it rules out, so this asks for rows above ``newest - limit`` first and widens the
    window until enough rows match or the table is covered: a page of 500 fills among
    100,000 reads a few row groups. ``sql`` has ``{newest}`` where the bound goes;
    ``below`` keeps only keys under it (paging back); ``limit`` None reads every row.
    """
    bounds = store.query(f"SELECT min({key}) AS low, max({key}) AS high FROM {table}").iloc[0]
    if limit is None or pd.isna(bounds["high"]):
        newest = "TRUE" if below is None else f"{key} < {int(below)}"
        return store.query(sql.format(newest=newest), params)
    low, high = int(bounds["low"]), int(bounds["high"])
    if below is not None:
        high = min(high, int(below) - 1)
    window = max(int(limit), 1)
    while True:
        floor = high - window
        rows = store.query(sql.format(newest=f"{key} > {floor} AND {key} <= {high}"), params)
        if len(rows) >= limit or floor < low:
            return rows
        # Grow by what the filter let through so far, so a selective filter needs two or three tries.
        window *= min(64, max(2, math.ceil(1.5 * limit / max(len(rows), 1))))
