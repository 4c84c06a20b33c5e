"""Another process holding a job's lock, as a second scheduler or a cron run would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_HOLD = """
import sys, time
from engine.locks import JobLock
lock = JobLock(sys.argv[1], sys.argv[2])
print("held" if lock.acquire() else "busy", flush=True)
time.sleep(300)
"""


@pytest.fixture
def lock_holder():
    """Start a process that takes ``job``'s lock in ``locks_dir`` and keeps it until killed."""
    started: list[subprocess.Popen] = []

    def hold(locks_dir: Path, job: str) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        process = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(locks_dir), job],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield hold
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()
