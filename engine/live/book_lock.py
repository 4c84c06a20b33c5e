"""One loop per book: a lock on the broker account that the kernel drops when its holder dies.

Two loops on one account would both decide on the same bars and both send (the same client
order ids save the orders, not the duplicate snapshots, fills and alerts). A loop takes its
book's lock before it reads or writes anything (:meth:`engine.live.loop.LiveLoop.start`)
and holds it until it stops. The lock is an exclusive ``flock`` on
``<data_dir>/locks/loop-<book>.lock`` (:class:`engine.locks.JobLock`): a loop killed
with SIGKILL, or a machine that lost power, leaves nothing that blocks the next start.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from engine.errors import OperatorError
from engine.locks import JobLock, LockHolder

LOCKS_DIR = "locks"


def book_lock(data_dir: Path, book: str, **details) -> JobLock:
    """The lock of ``book`` under ``data_dir``; ``details`` say who holds it (mode, loop id)."""
    name = "loop-" + re.sub(r"[^A-Za-z0-9._-]", "_", book)
    return JobLock(Path(data_dir) / LOCKS_DIR, name, details={"book": book, **details})


def take(lock: JobLock) -> None:
    """Takes ``lock``; an OperatorError naming the loop that holds it when another does."""
    if lock.acquire():
        return
    raise OperatorError(
        f"another live loop is trading {lock.details['book']}: {describe(_holder(lock))}",
        hint="one loop per account: stop that loop first, or trade another account (--account)",
    )


def describe(holder: LockHolder | None) -> str:
    """``"loop paper-3f2a… (paper mode), pid 4242 on host since 2024-05-01 14:30:00 UTC"``."""
    if holder is None or not holder.pid:
        return "a loop is starting on it right now"
    loop = holder.details.get("loop_id", "?")
    mode = holder.details.get("mode", "?")
    return f"loop {loop} ({mode} mode), {holder.describe()}"


def _holder(lock: JobLock) -> LockHolder | None:
    # The holder writes its name just after taking the lock: give it a moment to.
    for _ in range(20):
        holder = lock.holder()
        if holder is None or holder.pid:
            return holder
        time.sleep(0.05)
    return holder
