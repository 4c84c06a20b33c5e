"""Test support: watch the statements a piece of work asks of the store, to count them (the
part of a step's cost that does not depend on the machine's load) or to fail one on purpose."""

from __future__ import annotations

from collections.abc import Callable

from engine.store import Store


class _Watched:
    """A DuckDB connection that calls ``before(sql, n)`` ahead of each statement it runs
    (``n``: how many; executemany runs one per row)."""

    def __init__(self, con, before: Callable[[str, int], None]):
        self._con, self._before = con, before

    def __getattr__(self, name):
        return getattr(self._con, name)

    def execute(self, sql, *args, **kwargs):
        self._before(sql, 1)
        return self._con.execute(sql, *args, **kwargs)

    def executemany(self, sql, rows, *args, **kwargs):
        self._before(sql, len(rows))
        return self._con.executemany(sql, rows, *args, **kwargs)


def watch_statements(monkeypatch, before: Callable[[str, int], None]) -> None:
    """From now on, every store of this process calls ``before(sql, n)`` ahead of each statement."""
    connection = Store._connection
    monkeypatch.setattr(Store, "_connection", lambda self: _Watched(connection(self), before))


def count_statements(monkeypatch) -> list[int]:
    """A one-item list that counts every statement this process's stores run from now on
    (each transaction's BEGIN and COMMIT included); set ``[0] = 0`` to start again."""
    counter = [0]

    def count(_sql: str, n: int) -> None:
        counter[0] += n

    watch_statements(monkeypatch, count)
    return counter
