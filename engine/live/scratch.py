"""A private, in-memory store for work no other process may see: a parity replay.

The shared store opens a connection per piece of work because several processes use the
same file. A scratch store belongs to one process and lives in memory, so it keeps one
connection open: a replay of years of steps then costs milliseconds per step, not the
tens of milliseconds of opening a file each time. It has the full schema (every
migration), so the loop and the paper broker run on it unchanged.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from engine.store import Store


class ScratchStore(Store):
    """An in-memory store with one connection, migrated to the newest schema."""

    shared = False  # no other process can see it, so a loop on it has nobody to lock out

    def __init__(self):
        # A path of its own (never created) names it for the per-path locks and migrations.
        super().__init__(Path(tempfile.gettempdir()) / f"scratch-{uuid.uuid4().hex}.duckdb")
        # One thread: a step is many tiny statements, and handing each to a pool costs more
        # than it saves.
        self._con = duckdb.connect(":memory:", config={"threads": 1})
        self._guard = threading.RLock()
        self.migrate()

    def close(self) -> None:
        self._con.close()

    @contextmanager
    def hold(self, *, synced: bool = True) -> Iterator[None]:
        """Nothing to hold: the one in-memory connection is open for the store's life. (The
        file-backed hold would create and open a file at this store's never-used path.)
        Nothing to sync either: it is in memory."""
        yield None

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._guard:
            yield self._con

    def transaction(self, work, *args, **kwargs):
        with self._guard:
            self._con.execute("BEGIN TRANSACTION")
            try:
                result = work(self._con, *args, **kwargs)
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
            return result

    def _read(self, sql: str, params, fetch):
        """``query`` and ``rows`` (the store's own) read on the one connection."""
        with self._guard:
            return fetch(self._con.execute(sql, params))
