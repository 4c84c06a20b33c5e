"""What a replay step asks of the store: counted statements, the part of its cost that does
not depend on the machine's load (benchmarks/replay_step.py times it)."""

from __future__ import annotations

import statistics

from engine.live.runner import run_replay
from tests.live.conftest import open_replay
from tests.store_statements import count_statements

#: Statements of a daily replay step on the paper broker, median over a quarter of a config
#: that trades often (58 before the step's reads were folded together, 53 before a few rows
#: went in one statement and the paper broker read its orders once, 50 before the loop kept
#: its books in memory between steps, 40 before the paper broker kept its account so,
#: 30 before it checked its account and the corporate actions in the statement writing its
#: row, 26 before its marks went into that row, 25 before a replay beat once a second and a
#: step holding the store sent on the controls it had read, 24 before a held step became one
#: transaction, 18 before the paper broker checked its account and bumped its generation
#: once a step, 15 before a held step trusted what it last read of the controls while nothing
#: else wrote the store, 14 before a step's events went in as one statement at its end).
MOST_STATEMENTS = 12


def test_a_daily_replay_step_runs_few_statements(replay_store, monkeypatch):
    counter, per_step = count_statements(monkeypatch), []
    opened = open_replay(replay_store, start="2012-01-03", end="2012-03-30")

    def on_step(_report):
        per_step.append(counter[0])
        counter[0] = 0

    run_replay(opened.loop, opened.days, on_step=on_step)
    # Each transaction's BEGIN and COMMIT count too; the first steps pay for start-up.
    assert statistics.median(per_step[5:]) <= MOST_STATEMENTS, per_step
