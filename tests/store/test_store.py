"""The store: migrations, all-or-nothing transactions, the audit trail."""

from datetime import date

import duckdb
import pytest

from engine.errors import OperatorError, StoreBusyError
from engine.store import Store, append_event, read_events
from engine.store.db import available_migrations
from engine.store.events import append_events
from engine.store.reading import Reader
from tests.store_statements import watch_statements


def test_a_new_store_is_at_the_newest_schema(store):
    newest = max(available_migrations())
    assert store.schema_version() == newest
    applied = store.query("SELECT version FROM schema_version ORDER BY version")["version"].tolist()
    assert applied == sorted(available_migrations())


def test_migrating_twice_changes_nothing(data_dir):
    first = Store.open(data_dir)
    before = first.query("SELECT * FROM schema_version")
    again = Store(data_dir / "workbench.duckdb")
    again.migrate()
    assert again.query("SELECT * FROM schema_version").equals(before)


def test_a_store_from_newer_code_is_refused(data_dir, store):
    store.execute("INSERT INTO schema_version VALUES (9999, 'from the future', now())")
    from engine.store import db

    db._migrated.discard(store.path)
    with pytest.raises(OperatorError, match="newer than this code knows"):
        Store.open(data_dir)


def test_a_failed_transaction_leaves_nothing_behind(store):
    def half_written(con):
        append_event(con, "test.partial", "tester", payload={"step": 1})
        raise RuntimeError("crash between two writes")

    with pytest.raises(RuntimeError):
        store.transaction(half_written)
    assert read_events(store, kinds=["test."]).empty


def test_events_are_appended_with_who_what_and_payload(store):
    store.transaction(lambda con: append_event(con, "config.approved", "alice", "abc123", {"why": "good OOS"}))
    store.transaction(lambda con: append_event(con, "order.submitted", "loop", "AAPL", {"qty": 10}))
    events = read_events(store)
    assert events["kind"].tolist() == ["order.submitted", "config.approved"]  # newest first
    approved = read_events(store, kinds=["config."], actor="alice")
    assert approved.iloc[0]["subject"] == "abc123"
    assert '"why": "good OOS"' in approved.iloc[0]["payload"]


def test_a_steps_events_are_written_at_its_end_in_the_order_appended_or_not_at_all(
    store, monkeypatch
):
    """Inside a held step, events appended by each piece of work wait for its commit and
    go in as one statement; one appended alone (its id wanted now) takes those before it
    first, so ids keep the order the step appended them in."""
    inserts = []
    watch_statements(monkeypatch, lambda sql, _n: inserts.append(sql)
                     if sql.startswith("INSERT INTO events") else None)  # fmt: skip

    def append(actor, *kinds):
        store.transaction(lambda con: append_events(con, actor, [(k, None, {}) for k in kinds]))

    with store.hold(), store.step():
        append("broker", "k.1", "k.2")
        append("loop", "k.3")
        assert store.scalar("SELECT count(*) FROM events WHERE kind LIKE 'k.%'") == 0
        alone = store.transaction(lambda con: append_event(con, "k.4", "approvals"))
        append("loop", "k.5")
    stored = store.rows("SELECT id, kind, actor FROM events WHERE kind LIKE 'k.%' ORDER BY id")
    assert [(kind, actor) for _, kind, actor in stored] == [
        ("k.1", "broker"), ("k.2", "broker"), ("k.3", "loop"), ("k.4", "approvals"),
        ("k.5", "loop")]  # fmt: skip
    assert stored[3][0] == alone
    assert len(inserts) == 3  # k.1 to k.3 together, k.4, then k.5 at the commit
    with pytest.raises(RuntimeError), store.hold(), store.step():
        append("loop", "k.6")
        raise RuntimeError("the step fails")
    assert store.scalar("SELECT count(*) FROM events WHERE kind = 'k.6'") == 0


def test_a_lock_held_too_long_is_a_temporary_error_not_a_crash(data_dir, tmp_path):
    import subprocess
    import sys
    import textwrap

    store = Store.open(data_dir)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(store.path)!r})
            print("locked", flush=True)
            time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        impatient = Store(store.path, busy_timeout=0.5)
        with pytest.raises(StoreBusyError) as caught:
            impatient.query("SELECT 1")
        assert "stayed locked" in str(caught.value)
        assert impatient.retries > 0
    finally:
        holder.kill()
        holder.wait()
    assert Store(store.path).scalar("SELECT 42") == 42  # usable again once the holder is gone


def test_non_lock_errors_are_not_retried(store):
    with pytest.raises(duckdb.CatalogException):
        store.query("SELECT * FROM no_such_table")
    assert store.retries == 0


def test_threads_of_one_process_share_the_store_without_errors(store):
    import threading

    errors = []

    def worker(name):
        try:
            for i in range(15):
                store.transaction(lambda con, i=i: append_event(con, "test.thread", name, str(i)))
                store.query("SELECT count(*) FROM events")
        except Exception as exc:  # any error at all fails the test below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"t{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.scalar("SELECT count(*) FROM events WHERE kind = 'test.thread'") == 60


def test_one_value_read_is_a_python_value_on_the_store_and_on_one_connection(store):
    # What callers compare and format: an int count, a date (not a pandas Timestamp), None
    # for NULL and for no row (not NaN, NaT or pd.NA), alike however the store is reached.
    reads = [
        ("SELECT count(*) FROM events", 0),
        ("SELECT DATE '2024-01-05'", date(2024, 1, 5)),
        ("SELECT max(seq) FROM paper_fills", None),
        ("SELECT kind FROM events WHERE false", None),
    ]
    with store.connect() as con:
        on_one = Reader(store, con)
        for sql, expected in reads:
            for value in (store.scalar(sql), on_one.scalar(sql)):
                assert value == expected and type(value) is type(expected), sql


def test_a_failed_commit_reports_the_real_error(store):
    store.execute("CREATE TABLE uniq (k INTEGER PRIMARY KEY)")
    store.execute("INSERT INTO uniq VALUES (1)")
    with pytest.raises(duckdb.ConstraintException):
        store.transaction(lambda con: con.execute("INSERT INTO uniq VALUES (1)"))


def test_a_lower_numbered_migration_added_later_is_still_applied(data_dir, monkeypatch):
    """A store that saw migration N+1 first (branches merged in another order) still gets N."""
    from engine.store import db

    real = available_migrations()
    # Below the newest, and one no later migration builds on (0021 alters what 0020 adds).
    skipped = 19
    assert skipped in real and skipped < max(real)
    without = {v: m for v, m in real.items() if v != skipped}
    monkeypatch.setattr(db, "available_migrations", lambda: without)
    Store.open(data_dir)
    db.forget_migrated(data_dir / db.DB_FILE)
    monkeypatch.setattr(db, "available_migrations", lambda: real)
    store = Store.open(data_dir)
    applied = {int(v) for v in store.query("SELECT version FROM schema_version")["version"]}
    assert skipped in applied and applied == set(real)
