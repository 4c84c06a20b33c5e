"""What a replay step asks of the store: counted statements, the part of its cost that does
not depend on the machine's load (benchmarks/replay_step.py times it)."""

from __future__ import annotations

import statistics

from engine.live.runner import run_replay
from engine.store import Store
from tests.live.conftest import open_replay

#: Statements of a daily replay step on the paper broker, median over a quarter of a config
#: that trades often (58 before the step's reads were folded together, 53 before a few rows
#: went in one statement and the paper broker read its orders once, 50 before the loop kept
#: its books in memory between steps, 40 before the paper broker kept its account so).
MOST_STATEMENTS = 30


class _Counted:
    """A DuckDB connection that counts the statements run through it (executemany: per row)."""

    def __init__(self, con, counter: list[int]):
        self._con, self._counter = con, counter

    def __getattr__(self, name):
        return getattr(self._con, name)

    def execute(self, sql, *args, **kwargs):
        self._counter[0] += 1
        return self._con.execute(sql, *args, **kwargs)

    def executemany(self, sql, rows, *args, **kwargs):
        self._counter[0] += len(rows)
        return self._con.executemany(sql, rows, *args, **kwargs)


def test_a_daily_replay_step_runs_few_statements(replay_store, monkeypatch):
    counter, per_step = [0], []
    connection = Store._connection
    monkeypatch.setattr(Store, "_connection", lambda self: _Counted(connection(self), counter))
    opened = open_replay(replay_store, start="2012-01-03", end="2012-03-30")

    def on_step(_report):
        per_step.append(counter[0])
        counter[0] = 0

    run_replay(opened.loop, opened.days, on_step=on_step)
    # Each transaction's BEGIN and COMMIT count too; the first steps pay for start-up.
    assert statistics.median(per_step[5:]) <= MOST_STATEMENTS, per_step
