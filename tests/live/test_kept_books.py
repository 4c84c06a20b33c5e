"""The loop's books kept in memory between steps are the store's, step after step.

A step reads what only the loop writes (orders, positions, corporate actions taken, its
book and marks, the cash its fills brought) from memory, and what others write (controls,
registry status, proposals, the books' version) from the store. After every step of a
replay the kept records must equal a fresh read of the store, whatever another process
did in between, and a step whose transaction failed must leave the memory as it was.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.errors import StoreBusyError
from engine.live import approvals, ledger
from engine.live.commands import SetRiskLimits, submit_command
from engine.live.controls import set_control
from engine.live.runner import run_replay
from engine.live.setup import open_loop
from engine.store import Store, writing
from tests.live.conftest import REPLAY_LIMITS, open_replay
from tests.live.test_corporate_actions import SESSIONS, split_store  # noqa: F401, F811 - its fixture
from tests.store.test_hold import let_another_process_in
from tests.store_statements import watch_statements


def kept_and_fresh(loop, store):
    """(the records the loop keeps, the records read from the store whole) at the loop's time."""
    now, ids = loop.clock.now(), list(loop.by_id)
    return loop.kept.records(ids, now), ledger.read_records(store, loop.book, ids, now)


@pytest.mark.parametrize("batches", [False, True], ids=["as written", "every write a batch"])
def test_the_kept_books_equal_the_store_after_every_step_while_others_write(
    replay_store, batches, monkeypatch
):
    """Fills, a kill switch flipped and an entry approved by another process in between.

    Also with every write of the loop's rows as a batch writes them (a store rewrites them
    in another order than a row's own update does)."""
    if batches:
        monkeypatch.setattr(writing, "FEW_ROWS", 0)
    store = replay_store
    other = Store(store.path)  # the control room's: its own store object, its own writes
    submit_command(other, _limits(approve_entries="above", approve_entries_above=20_000),
                   actor="bob")  # fmt: skip
    opened = open_replay(store, start="2012-01-03", end="2012-04-30")
    loop = opened.loop
    loop.start(opened.days[0])
    reads, approved, killed, compared = loop.kept.reads, 0, None, 0
    for number, day in enumerate(opened.days):
        loop.step(day)
        kept, fresh = kept_and_fresh(loop, store)
        assert kept == fresh, day
        # In the same order too: a restarted loop decides, and sends, in the order it would
        # have kept running.
        assert list(kept.positions) == list(fresh.positions), day
        compared += 1
        for proposal in approvals.listed(other, loop.book, waiting_only=True):
            approvals.ask(other, proposal.id, "tina", approve=True)
            approved += 1
        if number == 30:  # the control room flips the kill switch itself, and back later
            other.transaction(lambda con: set_control(con, "kill_switch", {"on": True}, "tina"))
            killed = day
        if number == 40:
            other.transaction(lambda con: set_control(con, "kill_switch", {"on": False}, "tina"))
        if killed == day:
            assert loop.kept.records(list(loop.by_id), loop.clock.now()).controls.kill_switch
    assert approved and compared == len(opened.days)
    fills = store.scalar("SELECT count(*) FROM live_orders WHERE filled_qty > 0")
    assert fills >= 10
    # The approvals wrote the loop's orders outside its steps: read whole after each, and
    # only then (not at every step).
    assert loop.kept.reads - reads <= 2 * approved + 1


def test_a_command_applied_by_no_loop_makes_the_loop_read_its_books_again(replay_store):
    """The control room cancels and flattens directly when it thinks no loop runs: the
    books' version it bumps makes a running loop read them again."""
    store = replay_store
    opened = open_replay(store, start="2012-01-03", end="2012-04-30")
    loop = opened.loop
    run_replay(loop, opened.days[:30], attempts=1)
    now, ids = loop.clock.now(), list(loop.by_id)
    before = loop.kept.records(ids, now)
    held = next(iter(before.positions.values()))
    reads = loop.kept.reads
    other = Store(store.path)

    def write(con):
        ledger.save_positions(con, loop.book, [replace(held, manual_stop=1.0)], [], now)
        ledger.bump_version(con, loop.book)

    other.transaction(write)
    kept, fresh = kept_and_fresh(loop, store)
    assert kept == fresh and kept.positions[held.symbol].manual_stop == 1.0
    assert loop.kept.reads == reads + 1


def test_a_failed_step_transaction_leaves_the_kept_books_as_they_were(replay_store, monkeypatch):
    store = replay_store
    opened = open_replay(store, start="2012-01-03", end="2012-04-30")
    loop = opened.loop
    days = opened.days
    loop.start(days[0])
    for day in days[:25]:
        loop.step(day)
    before = loop.kept.records(list(loop.by_id), loop.clock.now())
    reads = loop.kept.reads
    # The step writes its orders, positions and marks, then its book fails: rolled back whole.
    save_book = ledger.save_book

    def busy(*args, **kwargs):
        save_book(*args, **kwargs)
        raise StoreBusyError("the store stayed locked")

    monkeypatch.setattr(ledger, "save_book", busy)
    failed = []
    for day in days[25:60]:
        with pytest.raises(StoreBusyError):
            loop.step(day)
        failed.append(day)
        kept, fresh = kept_and_fresh(loop, store)
        assert kept == fresh  # at the failed step's time: nothing of it, in memory or stored
        assert (kept.book, kept.positions, kept.flows, kept.tracked) == (
            before.book, before.positions, before.flows, before.tracked)  # fmt: skip
        if before.positions:
            break
    assert loop.kept.reads == reads  # the memory, not a read of the store, said so
    monkeypatch.setattr(ledger, "save_book", save_book)
    # The step done again records it all, and the memory follows.
    loop.step(failed[-1])
    kept, fresh = kept_and_fresh(loop, store)
    assert kept == fresh and kept.book.bar_date == failed[-1]
    assert loop.kept.reads == reads


def test_the_kept_books_equal_the_store_through_a_split_and_a_dividend(split_store):  # noqa: F811
    store = split_store
    seen = []

    def on_step(_report):
        kept, fresh = kept_and_fresh(loop, store)
        assert kept == fresh
        seen.append(kept)

    opened = open_loop(store, mode="replay", config_ids=[store.config.config_id],
                       start=SESSIONS[0], end=SESSIONS[-1])  # fmt: skip
    loop = opened.loop
    run_replay(loop, opened.days, on_step=on_step)
    assert len(seen) == len(SESSIONS)
    taken = {kind for _, kind, _ in seen[-1].adjusted}
    assert taken == {"split", "dividend"} and seen[-1].dividends


def _limits(**changes) -> SetRiskLimits:
    return SetRiskLimits(limits={**REPLAY_LIMITS.to_mapping(), **changes})


def test_a_held_replay_reads_what_others_write_again_only_after_something_may_have_written_it(
    replay_store, monkeypatch
):
    """Held, a step reads the controls, proposals and commands only when the store's writes
    mark moved since the last step (Store.writes_mark): a kill switch flipped by another
    store object of the process, then by another process let in, is seen at the next step."""
    store = replay_store
    opened = open_replay(store, start="2012-01-03", end="2012-03-30")
    loop, ids = opened.loop, list(opened.loop.by_id)
    reads = []
    watch_statements(monkeypatch, lambda sql, _n: reads.append(sql) if "FROM trading_state" in sql else None)
    read_at, seen = {}, {}
    with loop.holding() as held:
        loop.start(opened.days[0])
        for number, day in enumerate(opened.days):
            before = len(reads)
            loop.step(day)
            read_at[number] = len(reads) - before
            # What the step read, as it kept it (nothing wrote since: no read here either).
            seen[number] = loop.kept.records(ids, loop.clock.now()).controls.kill_switch
            if number == 20:
                Store(store.path).transaction(
                    lambda con: set_control(con, "kill_switch", {"on": True}, "tina"))
            if number == 30:
                let_another_process_in(
                    held, "import sys; from engine.store import Store;"
                    " from engine.live.controls import set_control;"
                    " Store(sys.argv[1]).transaction(lambda con: set_control(con, 'kill_switch',"
                    " {'on': False}, 'tina'))", str(store.path))  # fmt: skip
    # The first step, and the steps after each write: no other step read them.
    assert {n for n, count in read_at.items() if count} == {0, 21, 31}, read_at
    assert [seen[n] for n in (20, 21, 30, 31)] == [False, True, True, False]
    kept, fresh = kept_and_fresh(loop, store)
    assert kept == fresh


def test_a_replay_reads_the_corporate_actions_of_its_universe_once(replay_store, monkeypatch):
    """Not again each time it comes to hold a symbol it did not hold before (500 symbols: a
    read of about 1.4 ms at most steps)."""
    reads = []
    watch_statements(monkeypatch, lambda sql, _n: reads.append(sql)
                     if "FROM splits WHERE symbol IN" in sql else None)  # fmt: skip
    opened = open_replay(replay_store, start="2012-01-03", end="2012-06-29")
    run_replay(opened.loop, opened.days)
    held = replay_store.scalar("SELECT count(DISTINCT symbol) FROM live_orders WHERE filled_qty > 0")
    assert held >= 3  # it came to hold several symbols, one after another
    assert len(reads) <= 2  # the loop's one read, and the paper broker's
