"""A job's lock: one holder at a time, across threads and processes, and never stuck after a crash."""

from __future__ import annotations

import os
import signal
import threading

from engine.locks import JobLock, process_alive


def test_only_one_holder_at_a_time_across_threads(tmp_path):
    mine = JobLock(tmp_path, "report")
    assert mine.acquire()
    results = []
    thread = threading.Thread(target=lambda: results.append(JobLock(tmp_path, "report").acquire()))
    thread.start()
    thread.join()

    assert results == [False]
    holder = JobLock(tmp_path, "report").holder()
    assert holder.pid == os.getpid() and holder.job == "report"
    assert JobLock(tmp_path, "other-job").acquire()  # locks are per job

    mine.release()
    assert JobLock(tmp_path, "report").holder() is None
    again = JobLock(tmp_path, "report")
    assert again.acquire() and again.recovered is None  # a clean release leaves nothing to recover
    again.release()


def test_a_holder_in_another_process_is_named(tmp_path, lock_holder):
    process = lock_holder(tmp_path, "refresh")

    lock = JobLock(tmp_path, "refresh")
    assert not lock.acquire()
    assert lock.holder().pid == process.pid
    assert f"pid {process.pid} on " in lock.holder().describe()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, lock_holder):
    process = lock_holder(tmp_path, "refresh")
    process.send_signal(signal.SIGKILL)  # no chance to release
    process.wait()

    lock = JobLock(tmp_path, "refresh")
    assert lock.holder() is None
    assert lock.acquire()
    assert lock.recovered.pid == process.pid
    assert not process_alive(lock.recovered.pid, lock.recovered.started_at)
    lock.release()
