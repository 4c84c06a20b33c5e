"""Nothing lost when the disk lies: checked backups, taken while others write, and a restore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import psutil
import pytest

from engine.cli import cli
from engine.cli._common import run_cli
from engine.errors import InputError, StoreDamagedError
from engine.jobs.definitions import find_job, load_jobs
from engine.jobs.running import run_job
from engine.store import Store, append_event
from engine.store.backup import list_backups, restore_backup, take_backup
from engine.store.db import DB_FILE
from engine.store.events import utcnow

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("concurrent_worker.py")


def events(store: Store):
    return store.query("SELECT * FROM events ORDER BY id")


def add_events(store: Store, n: int, kind: str = "test.trade") -> None:
    def write(con):
        for k in range(n):
            append_event(con, kind, "tina", f"AAPL-{k}", {"qty": k, "price": 101.25 + k})

    store.transaction(write)


def overwrite(path: Path, *offsets: int) -> None:
    """The disk lies: real bytes of the file replaced with others."""
    with path.open("r+b") as handle:
        for offset in offsets:
            handle.seek(offset)
            handle.write(os.urandom(4096))


def damage(store: Store) -> None:
    # Past the magic bytes, so DuckDB recognises its file and finds the checksums wrong.
    size = store.path.stat().st_size
    overwrite(store.path, 200, size // 2)


def test_a_damaged_store_is_met_with_one_line_that_says_how_to_restore(sample_store, capsys):
    damage(sample_store)
    with pytest.raises(StoreDamagedError) as caught:
        sample_store.query("SELECT count(*) FROM bars")
    assert "is damaged" in caught.value.message
    assert "wb restore" in caught.value.hint
    code = run_cli(cli, ["--data-dir", str(sample_store.data_dir), "bars", "AAPL"])
    err = capsys.readouterr().err
    assert code == 70 and "Traceback" not in err
    assert err.startswith(f"error: the store {sample_store.path} is damaged")
    assert "what to do: restore the newest backup with `wb restore`" in err


def test_a_corrupted_store_restored_from_its_backup_loses_no_event(sample_store, capsys):
    add_events(sample_store, 25)
    backup, _ = take_backup(sample_store)
    before = events(sample_store)  # the backup's own record is in it
    assert before["kind"].iloc[-1] == "store.backup" and backup.events == len(before)
    bars_before = sample_store.query("SELECT * FROM bars ORDER BY symbol, date")

    damage(sample_store)
    with pytest.raises(StoreDamagedError):
        events(sample_store)
    data_dir = sample_store.data_dir
    assert run_cli(cli, ["--data-dir", str(data_dir), "restore", "--yes", "--user", "tina"]) == 0
    assert f"restored {backup.path.name}" in capsys.readouterr().out

    store = Store.open(data_dir)
    after = events(store)
    assert after.iloc[: len(before)].equals(before)  # every event, byte for byte
    assert list(after["kind"].iloc[len(before) :]) == ["store.restored"]
    restored = json.loads(after["payload"].iloc[-1])
    assert restored["backup"] == str(backup.path) and restored["later_events"] is None
    assert after["actor"].iloc[-1] == "tina"
    assert store.query("SELECT * FROM bars ORDER BY symbol, date").equals(bars_before)
    # The damaged file is kept, never deleted, and nothing replays its log onto the backup.
    [kept] = data_dir.glob(f"{DB_FILE}.replaced-*")
    assert Path(restored["replaced_file"]) == kept
    # New events continue the numbering: the sequence came back with the file.
    add_events(store, 1)
    assert events(store)["id"].iloc[-1] == after["id"].iloc[-1] + 1


def test_wb_backup_json_gives_the_file_and_what_it_holds(store, capsys):
    add_events(store, 2)
    wb = ["--data-dir", str(store.data_dir), "backup", "--json"]
    assert run_cli(cli, wb) == 0
    taken = json.loads(capsys.readouterr().out)
    assert run_cli(cli, [*wb, "--list"]) == 0
    [listed] = json.loads(capsys.readouterr().out)

    path = Path(taken["path"])
    assert path.is_file() and taken["name"] == path.name and taken["size"] == path.stat().st_size
    assert datetime.fromisoformat(taken["taken_at"]) <= datetime.now(UTC).replace(tzinfo=None)
    assert taken["events"] == 3 and taken["last_event_id"] == 3  # two, and the backup's own
    assert taken["schema_version"] == store.schema_version() and taken["tables"] > 10
    assert taken["removed"] == []
    assert listed == {k: taken[k] for k in ("name", "path", "taken_at", "size")}


def test_events_written_after_the_backup_are_saved_from_the_replaced_store(store):
    add_events(store, 3)
    backup, _ = take_backup(store)
    add_events(store, 4, kind="test.after")
    restored = restore_backup(store.data_dir, backup.path, actor="tina")
    assert restored.later_events == 4
    lines = [json.loads(line) for line in restored.later_events_file.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["test.after"] * 4
    assert lines[0]["payload"] == {"qty": 0, "price": 101.25}
    assert Store.open(store.data_dir).scalar(
        "SELECT count(*) FROM events WHERE kind = 'test.after'"
    ) == 0  # fmt: skip


@pytest.mark.slow
def test_a_backup_taken_while_another_process_writes_is_consistent(data_dir):
    store = Store.open(data_dir)
    writer = subprocess.Popen(
        [sys.executable, str(WORKER), str(data_dir), "loop", "150"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    backups = []
    while writer.poll() is None and len(backups) < 20:
        backups.append(take_backup(store, keep=50)[0])
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err  # the writer waited for the copies, never failed
    assert json.loads(out.strip().splitlines()[-1])["written"] == 150
    seen = set()
    for backup in backups:
        con = duckdb.connect(str(backup.path), read_only=True)
        subjects = [int(s) for (s,) in con.execute(
            "SELECT subject FROM events WHERE kind = 'test.concurrency' ORDER BY id").fetchall()]  # fmt: skip
        con.close()
        assert subjects == list(range(len(subjects)))  # a prefix of the writes: no tear, no gap
        seen.add(len(subjects))
    assert len(seen) > 1, "every backup saw the same state: the test proves nothing"


def test_backups_rotate_and_a_damaged_store_never_rotates_out_a_good_one(store):
    taken = [take_backup(store, keep=2)[0] for _ in range(3)]
    folder = taken[0].path.parent
    assert [b.path for b in list_backups(folder)] == [taken[2].path, taken[1].path]

    damage(store)
    with pytest.raises(StoreDamagedError):
        take_backup(store, keep=2)
    assert [b.path for b in list_backups(folder)] == [taken[2].path, taken[1].path]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [taken[1].path.name, taken[2].path.name]
    )  # no partial copy left behind


def test_a_restore_is_refused_while_a_live_loop_runs(store, capsys):
    take_backup(store)
    started = psutil.Process().create_time()  # a loop in this process started after it
    started_at = datetime.fromtimestamp(started, UTC).replace(tzinfo=None) + timedelta(seconds=1)
    store.execute(
        "INSERT INTO heartbeats (loop_id, mode, broker, pid, started_at, beat_at, trading_state,"
        " configs, book) VALUES ('loop-1', 'paper', 'paper', ?, ?, ?, 'ACTIVE', '[]', 'paper:x')",
        [os.getpid(), started_at, utcnow()],
    )
    code = run_cli(cli, ["--data-dir", str(store.data_dir), "restore", "--yes"])
    err = capsys.readouterr().err
    assert code == 2 and "a live loop is running on this store (loop-1" in err
    assert "stop it" in err


def test_the_scheduled_backup_job_takes_a_checked_backup(store):
    add_events(store, 2)
    job = find_job(load_jobs(ROOT / "jobs" / "jobs.yaml"), "backup-store")
    run = run_job(job, data_dir=store.data_dir, actor="scheduler")
    assert run.status == "succeeded", run.error
    [backup] = list_backups(store.data_dir / "backups")
    assert "checked whole" in run.log and backup.path.name in run.log


def test_a_data_dir_that_is_a_file_is_one_clear_line(tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    with pytest.raises(InputError, match="is a file"):
        Store.open(a_file)
    monkeypatch.setenv("WB_DATA_DIR", str(a_file))  # the environment is not checked by click
    assert run_cli(cli, ["bars", "AAPL"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the data dir {a_file} is a file") and "Traceback" not in err
    assert "point --data-dir (or WB_DATA_DIR) at a folder" in err
