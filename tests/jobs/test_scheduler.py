"""The scheduler on a fake clock: due jobs run once, closed days are skipped, a job never overlaps
itself, a dead run's lock is taken over, and a failing job stops nothing else."""

from __future__ import annotations

import logging
import signal
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.jobs import FakeClock, Scheduler, list_job_runs, next_run_after, run_job, running
from engine.jobs.definitions import LiveStepJob

NY = ZoneInfo("America/New_York")


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


def live_step(name: str, when: str, *, trading_days_only: bool = True, **options) -> LiveStepJob:
    return LiveStepJob.model_validate(
        {
            "name": name,
            "kind": "live_step",
            "when": when,
            "trading_days_only": trading_days_only,
            "options": options,
        }
    )


@pytest.fixture
def steps(monkeypatch):
    """Every live step the jobs take, through the live loop's extension point; fail on request."""
    taken: list[str] = []

    def step(job, context) -> str:
        taken.append(job.name)
        if job.options.get("fail"):
            raise RuntimeError("the broker did not answer")
        return f"stepped {job.name}"

    monkeypatch.setitem(running._RUNNERS, "live_step", step)
    return taken


def scheduler(jobs, data_dir, clock) -> Scheduler:
    return Scheduler(
        jobs,
        data_dir=data_dir,
        clock=clock,
        run=lambda job: run_job(job, data_dir=data_dir, trigger="scheduler"),
    )


def test_due_jobs_run_once_at_their_time(data_dir, steps):
    clock = FakeClock(ny(2024, 11, 26, 9, 0))  # a Tuesday
    book = scheduler(
        [
            live_step("close", "every().day.at('16:30')"),
            live_step("report", "every().day.at('17:00')"),
        ],
        data_dir,
        clock,
    )

    assert book.run_pending() == []
    clock.set(ny(2024, 11, 26, 16, 29, 59))
    assert book.run_pending() == []
    clock.set(ny(2024, 11, 26, 16, 30))
    [close] = book.run_pending()
    clock.set(ny(2024, 11, 26, 16, 45))
    assert book.run_pending() == []
    clock.set(ny(2024, 11, 26, 17, 0, 5))
    [report] = book.run_pending()

    assert (close.job, close.status, close.trigger, close.log) == (
        "close",
        "succeeded",
        "scheduler",
        "stepped close",
    )
    assert (report.job, report.status) == ("report", "succeeded")
    assert steps == ["close", "report"]
    assert book.next_runs() == {
        "close": ny(2024, 11, 27, 16, 30),
        "report": ny(2024, 11, 27, 17, 0),
    }
    assert [r.id for r in list_job_runs(book_store(data_dir))] == [report.id, close.id]


def book_store(data_dir):
    from engine.store import Store

    return Store.open(data_dir)


def test_closed_days_are_skipped_for_jobs_that_say_so(data_dir, steps, caplog):
    clock = FakeClock(ny(2024, 11, 27, 9, 0))  # the Wednesday before Thanksgiving
    book = scheduler(
        [
            live_step("close", "every().day.at('16:30')"),
            live_step("watch", "every().day.at('16:30')", trading_days_only=False),
        ],
        data_dir,
        clock,
    )
    ran: dict[str, list[str]] = {}
    caplog.set_level(logging.INFO, logger="engine.jobs")

    day = ny(2024, 11, 27, 16, 30)
    for _ in range(6):  # Wednesday .. Monday
        clock.set(day)
        ran[f"{day:%a %d}"] = [run.job for run in book.run_pending()]
        day = day.replace(day=day.day + 1) if day.day < 30 else ny(2024, 12, 1, 16, 30)

    assert ran == {
        "Wed 27": ["close", "watch"],
        "Thu 28": ["watch"],  # Thanksgiving
        "Fri 29": ["close", "watch"],  # a half day is a trading day
        "Sat 30": ["watch"],
        "Sun 01": ["watch"],
        "Mon 02": ["close", "watch"],
    }
    assert "job close skipped: 2024-11-28 is not an NYSE trading day" in caplog.text


def test_the_next_run_skips_closed_days():
    job = live_step("close", "every().day.at('16:30')")
    assert next_run_after(job, ny(2024, 11, 27, 17, 0)) == ny(2024, 11, 29, 16, 30)
    assert next_run_after(job, ny(2024, 11, 29, 17, 0)) == ny(2024, 12, 2, 16, 30)
    ticking = live_step("tick", "every(10).minutes")  # on a Saturday, next due on Monday
    assert next_run_after(ticking, ny(2024, 11, 30, 10, 0)).date() == ny(2024, 12, 2).date()
    anyday = live_step("watch", "every().day.at('16:30')", trading_days_only=False)
    assert next_run_after(anyday, ny(2024, 11, 27, 17, 0)) == ny(2024, 11, 28, 16, 30)


def test_a_job_never_overlaps_a_run_of_itself_in_another_process(data_dir, steps, lock_holder):
    clock = FakeClock(ny(2024, 11, 26, 16, 0))
    book = scheduler([live_step("close", "every().day.at('16:30')")], data_dir, clock)
    other = lock_holder(data_dir / "locks", "close")  # e.g. `wb jobs run close` from cron

    clock.set(ny(2024, 11, 26, 16, 30))
    [skipped] = book.run_pending()

    assert skipped.status == "skipped"
    assert skipped.error.startswith(f"already running: pid {other.pid} on ")
    assert steps == []


def test_a_lock_left_by_a_dead_run_is_taken_over(data_dir, steps, lock_holder):
    clock = FakeClock(ny(2024, 11, 26, 16, 0))
    book = scheduler([live_step("close", "every().day.at('16:30')")], data_dir, clock)
    crashed = lock_holder(data_dir / "locks", "close")
    crashed.send_signal(signal.SIGKILL)
    crashed.wait()

    clock.set(ny(2024, 11, 26, 16, 30))
    [run] = book.run_pending()

    assert run.status == "succeeded" and steps == ["close"]
    assert f"took over the lock left by a run that died (pid {crashed.pid} on " in run.log


def test_a_failing_job_stops_nothing_else(data_dir, steps, caplog):
    clock = FakeClock(ny(2024, 11, 26, 16, 0))
    calls: list[str] = []

    def run(job):
        calls.append(job.name)
        if job.name == "flaky":
            raise OSError("no space left on device")  # the run itself could not even start
        return run_job(job, data_dir=data_dir, trigger="scheduler")

    book = Scheduler(
        [
            live_step("step", "every().day.at('16:30')", fail=True),
            live_step("flaky", "every().day.at('16:40')"),
            live_step("report", "every().day.at('17:00')"),
        ],
        data_dir=data_dir,
        clock=clock,
        run=run,
    )
    caplog.set_level(logging.INFO, logger="engine.jobs")
    outcomes = []
    for day in (26, 27):
        for hour, minute in ((16, 30), (16, 40), (17, 0)):
            clock.set(ny(2024, 11, day, hour, minute))
            outcomes += [(run.job, run.status) for run in book.run_pending()]

    assert outcomes == [("step", "failed"), ("report", "succeeded")] * 2
    assert calls == ["step", "flaky", "report"] * 2
    failed = list_job_runs(book_store(data_dir), "step")[0]
    assert failed.error == "RuntimeError: the broker did not answer"
    assert (
        "job step failed in " in caplog.text
        and "RuntimeError: the broker did not answer" in caplog.text
    )
    assert "job flaky could not run: OSError: no space left on device" in caplog.text
