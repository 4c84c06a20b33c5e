"""Backups of the store, checked when taken, and a restore that keeps what it replaces.

A backup is a byte copy of the DuckDB file taken under the store's lock (see
:meth:`~engine.store.db.Store.copy_to`): the live loop, the control room and jobs wait for
it as they wait for any short transaction, for as long as copying the bytes takes, and
the copy is a consistent state of the store. Copying bytes rather than exporting tables
keeps the lock short and gives back exactly the file that was (sequences, indexes and
schema version included).

A disk that lies would hand back damaged bytes that the copy faithfully reproduces, so
every backup is read in full when taken (every table, every column, so DuckDB checks
every block's checksum). A backup that fails its check is deleted and the older ones are
kept: rotation never replaces good backups with a bad one.

A restore puts a checked backup in place of the store under the same lock, in one atomic
rename, and keeps the file it replaces beside the store. Events the damaged file still
holds beyond the backup are read out to a JSON-lines file, so the audit trail since the
backup is not lost either.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

import duckdb

from engine.errors import InputError, NotFoundError, OperatorError, StoreBusyError
from engine.store.db import (
    DB_FILE,
    Store,
    available_migrations,
    damaged,
    forget_migrated,
    wal_path,
)
from engine.store.events import append_event, utcnow

#: Environment variable naming where backups go (default: ``backups/`` in the data dir).
BACKUP_DIR_ENV = "WB_BACKUP_DIR"
#: Backups kept when a new one is taken.
KEEP = 7
_STAMP = "%Y%m%dT%H%M%S%fZ"
_NAME = re.compile(r"^workbench-(\d{8}T\d{12}Z)\.duckdb$")


@dataclass(frozen=True)
class BackupFile:
    """A backup in the backup folder, known by its name and size (not opened)."""

    path: Path
    taken_at: datetime  # UTC
    size: int  # bytes

    def to_dict(self) -> dict:
        """The backup as plain values (for ``--json``): its file's name, then every field."""
        return {"name": self.path.name, **asdict(self), "path": str(self.path),
                "taken_at": self.taken_at.isoformat()}  # fmt: skip


@dataclass(frozen=True)
class Backup(BackupFile):
    """A backup read in full and found whole: what it holds."""

    schema_version: int
    tables: int
    rows: int
    events: int
    last_event_id: int | None


@dataclass(frozen=True)
class Restored:
    """What a restore did: the backup put in place, where the replaced file went, what was saved from it."""

    backup: Backup
    replaced: Path | None  # the store file that was replaced, kept under this name
    later_events: int | None  # events the replaced file held beyond the backup (None: unreadable)
    later_events_file: Path | None  # where those events were written, one JSON object per line


def backup_dir(data_dir: str | Path, directory: str | Path | None = None) -> Path:
    """Where backups go: ``directory``, else ``WB_BACKUP_DIR``, else ``backups/`` in the data dir."""
    chosen = directory or os.environ.get(BACKUP_DIR_ENV) or Path(data_dir) / "backups"
    return Path(chosen).expanduser().resolve()


def take_backup(
    store: Store, directory: str | Path | None = None, *, keep: int = KEEP, actor: str = "backup"
) -> tuple[Backup, list[Path]]:
    """(the backup just taken and checked, the older backups removed to keep ``keep``).

    The ``store.backup`` event is written in the same hold of the lock as the copy, so
    the backup holds its own record and a restore loses no event.
    """
    if keep < 1:
        raise InputError(f"keep must be at least 1, not {keep}", hint="e.g. --keep 7")
    directory = backup_dir(store.data_dir, directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        raise InputError(
            f"cannot use {directory} for backups: {exc.strerror or exc}",
            hint=f"pass --dir (or set {BACKUP_DIR_ENV}) to a folder you can write",
        ) from None
    taken_at = utcnow()
    target = directory / f"workbench-{taken_at.strftime(_STAMP)}.duckdb"
    partial = target.with_name(target.name + ".partial")

    def record(con) -> None:
        append_event(con, "store.backup", actor, target.name, {"path": str(target)}, ts=taken_at)

    try:
        store.copy_to(partial, before=record)
        _fsync(partial)
        backup = inspect_backup(partial, taken_at=taken_at)
    except BaseException as exc:
        _remove(partial)
        if isinstance(exc, Exception):  # say so beside the `store.backup` record, if we can
            failed = {"path": str(target), "error": str(exc)}
            with contextlib.suppress(Exception):  # a damaged store may refuse this write too
                store.transaction(
                    lambda con: append_event(con, "store.backup.failed", actor, target.name, failed)
                )
        raise
    if wal_path(partial).exists():
        os.replace(wal_path(partial), wal_path(target))
    os.replace(partial, target)
    _fsync(directory)
    backup = replace(backup, path=target)
    removed = [b.path for b in list_backups(directory)[keep:]]
    for path in removed:
        _remove(path)
    return backup, removed


def list_backups(directory: str | Path) -> list[BackupFile]:
    """The backups in ``directory``, newest first (read from their names and sizes, not opened)."""
    directory = Path(directory)
    found = []
    for path in directory.glob("workbench-*.duckdb") if directory.is_dir() else []:
        match = _NAME.match(path.name)
        if match:
            taken_at = datetime.strptime(match.group(1), _STAMP)
            found.append(BackupFile(path, taken_at, path.stat().st_size))
    return sorted(found, key=lambda b: b.taken_at, reverse=True)


def find_backup(directory: str | Path, name: str | None = None) -> Path:
    """The backup called ``name`` (a file, or a name or unique prefix in ``directory``); the newest if None."""
    if name and Path(name).expanduser().is_file():
        return Path(name).expanduser().resolve()
    backups = list_backups(directory)
    if not backups:
        raise NotFoundError(
            f"no backups in {directory}",
            hint="pass the backup file to restore, or --dir where the backups are",
        )
    if name is None:
        return backups[0].path
    matching = [b.path for b in backups if b.path.name.startswith(name)]
    if len(matching) != 1:
        shown = ", ".join(b.path.name for b in backups[:5])
        raise NotFoundError(
            f"{'no' if not matching else len(matching)} backups in {directory} match {name!r}",
            hint=f"the newest: {shown} (wb backup --list shows them all)",
        )
    return matching[0]


def inspect_backup(path: str | Path, *, taken_at: datetime | None = None) -> Backup:
    """The backup at ``path``, read in full; StoreDamagedError if any block fails its check."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no backup file at {path}", hint="wb backup --list shows the backups")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise damaged(path, exc) from exc
    try:
        tables = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
                " AND schema_name = 'main'"
            ).fetchall()
        ]
        rows = 0
        for table in tables:
            # hash() of the whole row reads every column: every block is checksummed.
            rows += con.execute(f'SELECT count(*), sum(hash(t)) FROM "{table}" t').fetchone()[0]
        version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
        events, last_id = con.execute("SELECT count(*), max(id) FROM events").fetchone()
    except duckdb.Error as exc:
        raise damaged(path, exc) from exc
    finally:
        con.close()
    match = _NAME.match(path.name.removesuffix(".partial"))
    when = taken_at or (
        datetime.strptime(match.group(1), _STAMP)
        if match
        else datetime.fromtimestamp(path.stat().st_mtime)
    )
    return Backup(path, when, path.stat().st_size, int(version), len(tables), int(rows),
                  int(events), None if last_id is None else int(last_id))  # fmt: skip


def restore_backup(
    data_dir: str | Path, backup: str | Path, *, actor: str, busy_timeout: float = 60.0
) -> Restored:
    """Put the checked backup in place of the data dir's store; the replaced file is kept.

    Takes the store's lock (as DuckDB takes it: every other process waits), keeps the
    current file beside the store under a ``.replaced-<time>`` name, swaps the backup in
    with one atomic rename, reads any events the replaced file holds beyond the backup out
    to a JSON-lines file, and records ``store.restored`` in the restored store.
    """
    data_dir = Path(data_dir).resolve()
    checked = inspect_backup(backup)
    newest = max(available_migrations(), default=0)
    if checked.schema_version > newest:
        raise OperatorError(
            f"the backup {checked.path.name} is at schema version {checked.schema_version}, "
            f"newer than this code knows ({newest})",
            hint="upgrade the workbench before restoring it",
        )
    store_path = data_dir / DB_FILE
    stamp = utcnow().strftime(_STAMP)
    incoming = data_dir / f"{DB_FILE}.restoring"
    shutil.copyfile(checked.path, incoming)
    _fsync(incoming)
    replaced = data_dir / f"{DB_FILE}.replaced-{stamp}" if store_path.exists() else None
    with _held(store_path, busy_timeout):
        if replaced is not None:
            os.link(store_path, replaced)  # the old file stays reachable; the path never gaps
            if wal_path(store_path).exists():  # the old file's log must never meet the backup
                os.replace(wal_path(store_path), wal_path(replaced))
        if wal_path(checked.path).exists():
            shutil.copyfile(wal_path(checked.path), wal_path(store_path))
        os.replace(incoming, store_path)
        _fsync(data_dir)
    forget_migrated(store_path)
    later, later_file = (
        _later_events(replaced, checked.last_event_id, data_dir / f"events-after-backup-{stamp}.jsonl")
        if replaced is not None
        else (0, None)
    )  # fmt: skip
    restored = Restored(checked, replaced, later, later_file)
    store = Store.open(data_dir, busy_timeout=busy_timeout)  # migrates an older backup
    payload = {
        "backup": str(checked.path),
        "taken_at": checked.taken_at.isoformat(),
        "events_in_backup": checked.events,
        "replaced_file": str(replaced) if replaced else None,
        "later_events": later,
        "later_events_file": str(later_file) if later_file else None,
    }
    store.transaction(
        lambda con: append_event(con, "store.restored", actor, checked.path.name, payload)
    )
    return restored


@contextlib.contextmanager
def _held(path: Path, timeout: float):
    """Hold DuckDB's own lock on ``path`` (a POSIX record lock), waiting for others' transactions."""
    if not path.exists():
        yield
        return
    fd = os.open(path, os.O_RDWR)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"the store {path} stayed in use for {timeout:.0f}s",
                        hint="stop the processes using it (wb live, wb app, wb jobs scheduler) "
                        "and restore again",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock on the replaced file


def _later_events(
    replaced: Path, after_id: int | None, out: Path
) -> tuple[int | None, Path | None]:
    """(events the replaced file holds beyond ``after_id``, the file they were written to)."""
    try:
        con = duckdb.connect(str(replaced), read_only=True)
        try:
            rows = con.execute(
                "SELECT id, ts, actor, kind, subject, payload FROM events WHERE id > ? ORDER BY id",
                [after_id or 0],
            ).fetchall()
        finally:
            con.close()
    except duckdb.Error:
        return None, None  # too damaged to read: the file itself is kept
    if not rows:
        return 0, None
    with out.open("w") as handle:
        for id_, ts, actor, kind, subject, payload in rows:
            handle.write(json.dumps({"id": id_, "ts": ts.isoformat(), "actor": actor, "kind": kind,
                                     "subject": subject, "payload": json.loads(payload)}) + "\n")  # fmt: skip
    return len(rows), out


def _fsync(path: Path) -> None:
    """Make ``path`` (a file, or a folder's entries) durable before anything relies on it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    for each in (path, wal_path(path)):
        with contextlib.suppress(FileNotFoundError):
            each.unlink()
