"""A process that holds the store open (a replay) lets other processes in between its steps."""

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.store import Store, append_event

ROOT = Path(__file__).resolve().parents[2]

#: A replay's pattern: hold the file, one transaction a step, give way between steps.
HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from engine.store import Store, append_event
    store = Store.open(sys.argv[1])
    stop = Path(sys.argv[2])
    steps = given_way = 0
    with store.hold() as held:
        print("holding", flush=True)
        while not stop.exists():
            store.transaction(lambda con, n=steps: append_event(con, "test.step", "holder", str(n)))
            steps += 1
            given_way += held.give_way()
            time.sleep(0.001)
    print(steps, given_way, flush=True)
""")


def test_a_held_store_gives_way_to_another_process_and_carries_on(data_dir, tmp_path):
    store = Store.open(data_dir)
    stop = tmp_path / "stop"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir), str(stop)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "holding"
        # Without giving way the holder would keep this process out until it ended: these
        # would wait out the timeout and fail (StoreBusyError).
        other = Store(store.path, busy_timeout=30)
        count = "SELECT count(*) FROM events WHERE kind = 'test.step'"
        seen = other.scalar(count)
        other.transaction(lambda con: append_event(con, "test.visitor", "control-room"))
        again = other.scalar(count)
        deadline = time.monotonic() + 60
        while other.scalar(count) <= again and time.monotonic() < deadline:
            time.sleep(0.05)  # the holder steps on: each of these reads it lets in too
        stop.touch()
        out, err = holder.communicate(timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert holder.returncode == 0, err
    steps, given_way = map(int, out.split())
    assert given_way >= 1
    assert seen >= 1 and again >= seen
    # Every step the holder committed is stored, and it stepped on after letting us in.
    assert Store(store.path).scalar(count) == steps
    assert steps > again
    assert Store(store.path).scalar("SELECT count(*) FROM events WHERE kind = 'test.visitor'") == 1


def test_a_hold_serves_every_store_object_of_the_file_in_the_process(store):
    with store.hold() as held, store.hold() as inner:
        assert held.owner and not inner.owner  # the inner hold is the outer one's
        Store(store.path).transaction(lambda con: append_event(con, "test.same", "a"))
        assert store.scalar("SELECT count(*) FROM events WHERE kind = 'test.same'") == 1
        assert held.give_way() is False  # nobody waits
    # let go: another process could open the file now
    probe = subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({str(store.path)!r}).close()"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr


def _setting(store, name: str) -> str:
    return store.scalar(f"SELECT current_setting('{name}')")


def _wal(store) -> int:
    wal = store.path.with_name(store.path.name + ".wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_synced_hold_flushes_every_commit_to_the_disk(store):
    with store.hold():  # a paper loop's: its commits are its track record
        assert _setting(store, "fsync_mode") == "STANDARD"


def test_an_unsynced_hold_leaves_its_commits_on_the_disk_when_it_syncs_and_when_it_lets_go(
    store, monkeypatch
):
    with store.hold(synced=False) as held:
        assert _setting(store, "fsync_mode") == "NONE"
        store.transaction(lambda con: append_event(con, "test.step", "replay", "1"))
        assert _wal(store) > 0  # committed, in the log, not yet checkpointed
        held.give_way()
        assert _wal(store) > 0  # the sync is not due yet
        monkeypatch.setattr("engine.store.db.SYNC_EVERY_S", 0.0)
        held.give_way()  # due: a synced checkpoint takes the log into the file
        assert _wal(store) == 0
        assert _setting(store, "fsync_mode") == "NONE"  # and the hold carries on unsynced
        store.transaction(lambda con: append_event(con, "test.step", "replay", "2"))
    assert _wal(store) == 0  # letting go checkpointed, synced
    probe = subprocess.run(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]);"
         " print(c.execute(\"SELECT count(*) FROM events WHERE kind = 'test.step'\").fetchone()[0],"
         " c.execute(\"SELECT current_setting('fsync_mode')\").fetchone()[0])", str(store.path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["2", "STANDARD"]  # the next opener is synced again


#: A replay's unsynced hold that says each step once it committed, until it is killed.
UNSYNCED = textwrap.dedent("""
    import sys
    from engine.store import Store, append_event
    store = Store.open(sys.argv[1])
    with store.hold(synced=False):
        for n in range(100_000):
            store.transaction(lambda con, n=n: append_event(con, "test.step", "replay", str(n)))
            print(n, flush=True)
""")


def test_a_process_killed_in_an_unsynced_hold_loses_no_commit(store):
    holder = subprocess.Popen(
        [sys.executable, "-c", UNSYNCED, str(store.data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        said = [holder.stdout.readline() for _ in range(50)]
        holder.kill()  # SIGKILL: no close, no checkpoint
        holder.wait(timeout=60)
    finally:
        holder.kill()
    committed = int(said[-1])
    stored = Store(store.path).rows(
        "SELECT subject::INTEGER FROM events WHERE kind = 'test.step' ORDER BY 1"
    )
    # Every step it said it committed is there (perhaps one more, committed before the kill).
    assert [n for (n,) in stored][: committed + 1] == list(range(committed + 1))


#: A paper loop's pattern: hold the file from step to step, asleep between steps (here on
#: stdin, on no clock of the store's) with the file let go to whoever waits. Each line
#: read: "step" (a step in a hold of its own, which takes the file back) or "beat" (a
#: heartbeat between steps, held or not); the command is echoed once written.
IDLE_HOLDER = textwrap.dedent("""
    import sys
    from engine.store import Store, append_event
    store = Store.open(sys.argv[1])
    with store.hold() as held:
        command = sys.stdin.readline().strip()
        while command:
            if command == "step":
                with store.hold():
                    store.transaction(lambda con: append_event(con, "test.step", "holder"))
            with held.idle():
                if command == "beat":
                    store.transaction(lambda con: append_event(con, "test.beat", "holder"))
                print(command, flush=True)
                command = sys.stdin.readline().strip()
""")


def file_is_held(path: Path) -> bool:
    """True when another process has the DuckDB file open (this one cannot open it)."""
    import duckdb

    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        return True
    return False


def timed(work):
    """``work()`` and the wall seconds it took."""
    start = time.monotonic()
    result = work()
    return result, time.monotonic() - start


def test_an_idle_holder_keeps_the_file_and_lets_it_go_at_once_to_a_process_that_waits(
    store, tmp_path
):
    holder = subprocess.Popen(
        [sys.executable, "-c", IDLE_HOLDER, str(store.data_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT,
    )  # fmt: skip

    def send(command: str) -> None:
        holder.stdin.write(command + "\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == command, holder.stderr.read()

    other = Store(store.path, busy_timeout=30)  # as the control room: a wait of its own
    events = "SELECT kind, count(*) FROM events WHERE actor = 'holder' GROUP BY kind"
    try:
        send("step")
        assert file_is_held(store.path)  # asleep between steps, the file stays open
        seen, seconds = timed(lambda: dict(other.rows(events)))
        assert seen == {"test.step": 1}
        assert seconds < 2.0, f"a read waited {seconds:.1f}s for an idle holder"
        # Let go, it stays let go until the next step: a page's next reads wait on nothing.
        assert not file_is_held(store.path)
        send("beat")  # a heartbeat while let go opens the file for itself
        assert not file_is_held(store.path)
        send("step")  # the next step takes the file back, and keeps it
        send("beat")
        assert file_is_held(store.path)
        seen, seconds = timed(lambda: dict(other.rows(events)))
        assert seen == {"test.step": 2, "test.beat": 2} and seconds < 2.0
        send("step")
        assert file_is_held(store.path)
    finally:
        holder.kill()  # SIGKILL while holding the file, asleep between steps
        holder.wait()
    # Everything it committed is there, and the file opens.
    assert dict(Store(store.path).rows(events)) == {"test.step": 3, "test.beat": 2}


def let_another_process_in(held, code: str, *args: str) -> None:
    """Runs ``code`` in another process (which waits for the held file), giving way to it."""
    other = subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        while other.poll() is None:
            held.give_way()
            time.sleep(0.01)
        assert other.returncode == 0, other.stderr.read()
    finally:
        other.kill()
        other.wait()


def test_a_held_files_writes_mark_moves_with_all_that_may_write_it_and_nothing_else(store):
    """The mark a cache of what others write trusts (Store.writes_mark): it must move with
    every write, by this process or another, or the cache goes stale."""
    assert store.writes_mark() is None  # not held: another process may write at any time
    with store.hold() as held:
        mark = store.writes_mark()
        assert mark is not None
        store.rows("SELECT count(*) FROM events")
        store.scalar("SELECT count(*) FROM events")
        store.query("SELECT * FROM events")
        assert store.writes_mark() == mark  # reads leave it

        marks = [mark]
        Store(store.path).transaction(lambda con: append_event(con, "test.same", "a"))
        marks.append(store.writes_mark())  # another store object of the process wrote
        with Store(store.path).connect() as con:  # a connection lent out may write
            con.execute("INSERT INTO events VALUES (nextval('events_seq'), now(), 'a', 'x', NULL, '{}')")
        marks.append(store.writes_mark())
        with store.step() as step:
            store.transaction(lambda con: append_event(con, "test.step", "a"))
            assert store.writes_mark() == marks[-1]  # nothing committed yet
        assert step.mark == store.writes_mark()
        marks.append(step.mark)
        with pytest.raises(RuntimeError), store.step():
            store.transaction(lambda con: append_event(con, "test.step", "a"))
            raise RuntimeError("the step fails")
        marks.append(store.writes_mark())  # rolled back: it moves all the same (never less)
        let_another_process_in(held, "from engine.store import Store, append_event; import sys;"
                                " Store(sys.argv[1]).transaction(lambda con: append_event(con,"
                                " 'test.other', 'b'))", str(store.path))  # fmt: skip
        marks.append(store.writes_mark())  # the file was let go: the other process wrote
        assert None not in marks and len(set(marks)) == len(marks), marks
    assert store.writes_mark() is None
    assert store.scalar("SELECT count(*) FROM events WHERE kind = 'test.other'") == 1
