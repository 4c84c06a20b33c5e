"""One lock per job or book, so that no two processes ever run the same one, even across crashes.

A scheduled job (:mod:`engine.jobs`) and a live loop's book (:mod:`engine.live.book_lock`)
each take one; it sits below both, so neither imports the other for it. The lock is an
exclusive ``flock`` on ``<data_dir>/locks/<job>.lock``. The operating system
takes it atomically and drops it the moment its holder dies, however it dies, so a crash
can never leave a job locked forever. The file also says who holds it (pid, start time,
host), for people: a file that still names a holder while nobody holds the lock is what
a crashed run left behind, and the next run takes it over and says so.

POSIX only (Linux, macOS); the data dir must be on a local disk, where flock is reliable.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil


@dataclass(frozen=True)
class LockHolder:
    """Who took a job's lock: a process, on a host, at a time (UTC), and what it said it is."""

    job: str
    pid: int
    host: str
    started_at: datetime
    details: dict = field(default_factory=dict)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.started_at:%Y-%m-%d %H:%M:%S} UTC"


class JobLock:
    """The lock of one job; :meth:`acquire` it before running the job, :meth:`release` after.

    >>> lock = JobLock(data_dir / "locks", "daily-report")          # doctest: +SKIP
    >>> if lock.acquire():                                           # doctest: +SKIP
    ...     try: run()
    ...     finally: lock.release()
    """

    def __init__(self, directory: str | Path, job: str, *, details: dict | None = None):
        """``details`` (JSON values) are written with the holder's name, for whoever finds it held."""
        self.path = Path(directory) / f"{job}.lock"
        self.job = job
        self.details = dict(details or {})
        self._fd: int | None = None
        #: The holder named in the file when we took the lock: a run that died holding it.
        self.recovered: LockHolder | None = None

    def acquire(self) -> bool:
        """True if this process now holds the lock; False if another holder has it."""
        if self._fd is not None:
            raise RuntimeError(f"the lock of {self.job!r} is already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.recovered = _parse(os.pread(fd, 4096, 0))
        me = LockHolder(self.job, os.getpid(), socket.gethostname(), _utcnow(), self.details)
        record = json.dumps(
            {"job": me.job, "pid": me.pid, "host": me.host, "started_at": me.started_at.isoformat(),
             "details": me.details}
        ).encode()  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lock back; the file stays (deleting it would race with the next taker)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # an empty file means "released cleanly"
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> LockHolder | None:
        """Who holds the lock right now, or None if nobody does."""
        if self._fd is not None:
            return _parse(os.pread(self._fd, 4096, 0))
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                found = _parse(os.pread(fd, 4096, 0))
                # Held, but the holder is still writing its name: say so without a pid.
                return found or LockHolder(self.job, 0, "?", _utcnow())
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def __enter__(self) -> JobLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def process_alive(pid: int, since: datetime | None = None) -> bool:
    """True if process ``pid`` is running on this host and (given ``since``, UTC) began before it.

    The start-time test catches a reused pid: a process that began after ``since`` is not
    the one that was recorded then.
    """
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if since is not None:
            began = process.create_time()
            return began <= since.replace(tzinfo=UTC).timestamp() + 1.0
        return True
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: it exists, its age is hidden
        return True


def _parse(raw: bytes) -> LockHolder | None:
    try:
        data = json.loads(raw.decode())
        return LockHolder(
            job=str(data["job"]),
            pid=int(data["pid"]),
            host=str(data["host"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            details=dict(data.get("details") or {}),
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
