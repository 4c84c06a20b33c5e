"""The scheduler: each job when it is due, on trading days if it says so, one at a time.

Built on the ``schedule`` library (its jobs compute when each job is next due, in the
job's time zone), with an injectable clock so that a test or a replay drives it. Each due
job runs in its own child process (``wb jobs run``, as cron would run it), which takes
the job's lock and records the run: a job that crashes, hangs or leaks cannot take the
scheduler with it, and stopping the scheduler (SIGTERM, SIGINT) stops the running job
cleanly and exits 0.

The scheduler does not catch up on runs missed while it was not running: a job is next
due at its next time after start-up. ``wb jobs run NAME`` runs one by hand.
"""

from __future__ import annotations

import contextvars
import datetime as _datetime
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from zoneinfo import ZoneInfo

import schedule

from engine.data.calendar import is_trading_day, next_session
from engine.jobs.clock import Clock, FakeClock, SystemClock
from engine.jobs.definitions import Job
from engine.jobs.running import JobRun, child_environment

log = logging.getLogger("engine.jobs")

RunFn = Callable[[Job], JobRun | None]


class Scheduler:
    """Runs ``jobs`` when due by ``clock``; ``run(job)`` does one run (default: a child process).

    Drive it with :meth:`run_pending` (runs what is due now, gives back the runs) or
    :meth:`run_forever` (until :meth:`stop`).
    """

    def __init__(
        self,
        jobs: list[Job],
        *,
        data_dir: str | Path,
        clock: Clock | None = None,
        run: RunFn | None = None,
    ):
        self.clock = clock or SystemClock()
        self.jobs = [job for job in jobs if job.enabled]
        self._run = run or JobProcess(data_dir)
        self._book = schedule.Scheduler()
        self._entries: dict[str, schedule.Job] = {}
        self._stopping = threading.Event()
        self._done: list[JobRun] = []
        with using_clock(self.clock):
            for job in self.jobs:
                entry = job.when.attach(self._book, job.timezone)
                self._entries[job.name] = entry.do(self._fire, job)

    # -- driving ------------------------------------------------------------------------

    def run_pending(self) -> list[JobRun]:
        """The runs of every job due now by the clock (skipped days give no run)."""
        self._done = []
        with using_clock(self.clock):
            self._book.run_pending()
        return self._done

    def run_forever(self, *, poll_seconds: float = 30.0) -> None:
        """Run jobs as they fall due until :meth:`stop` is called."""
        log.info("scheduler started: %s", "; ".join(self.describe_next()) or "no enabled jobs")
        while not self._stopping.is_set():
            self.run_pending()
            self._stopping.wait(self._seconds_to_next(poll_seconds))
        log.info("scheduler stopped")

    def stop(self) -> None:
        """Stop scheduling, and stop the job running now (it records how it ended)."""
        self._stopping.set()
        cancel = getattr(self._run, "cancel", None)
        if cancel is not None:
            cancel()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- looking ahead ------------------------------------------------------------------

    def next_runs(self) -> dict[str, _datetime.datetime]:
        """When each job is next due by the schedule, in the job's time zone."""
        return {
            job.name: _in_zone(self._entries[job.name].next_run, job.timezone) for job in self.jobs
        }

    def describe_next(self) -> list[str]:
        due = self.next_runs()
        return [
            f"{name} at {when:%a %Y-%m-%d %H:%M %Z}"
            for name, when in sorted(due.items(), key=lambda kv: kv[1])
        ]

    # -- one due job --------------------------------------------------------------------

    def _fire(self, job: Job) -> None:
        if self._stopping.is_set():
            return
        due = _in_zone(self._entries[job.name].next_run, job.timezone)
        if job.trading_days_only and not is_trading_day(due.date()):
            log.info("job %s skipped: %s is not an NYSE trading day", job.name, due.date())
            return
        try:
            result = self._run(job)
        except Exception as exc:  # the scheduler outlives anything a run does
            log.error("job %s could not run: %s: %s", job.name, type(exc).__name__, exc)
            return
        if result is not None:
            log.info(result.line())
            self._done.append(result)

    def _seconds_to_next(self, ceiling: float) -> float:
        if not self._entries:
            return ceiling
        now = self.clock.now().astimezone().replace(tzinfo=None)
        soonest = min(entry.next_run for entry in self._entries.values())
        return max(0.05, min(ceiling, (soonest - now).total_seconds()))


def run_until_signalled(scheduler: Scheduler, *, poll_seconds: float = 30.0) -> None:
    """Run ``scheduler`` until SIGTERM or SIGINT, then stop it cleanly and return."""

    def stop(signum, frame):
        log.info("received %s: stopping", signal.Signals(signum).name)
        scheduler.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.run_forever(poll_seconds=poll_seconds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def next_run_after(job: Job, after: _datetime.datetime) -> _datetime.datetime:
    """When ``job`` is next due after ``after`` (aware), skipping closed days if it says so."""
    clock = FakeClock(after)
    book = schedule.Scheduler()
    zone = ZoneInfo(job.timezone)
    with using_clock(clock):
        entry = job.when.attach(book, job.timezone).do(lambda: None)
        for _ in range(30):
            due = _in_zone(entry.next_run, job.timezone)
            if not job.trading_days_only or is_trading_day(due.date()):
                return due
            # Move to just before the next session's midnight; the schedule goes on from there.
            session = next_session(due.date()).date()
            clock.set(
                _datetime.datetime.combine(session, _datetime.time.min, zone)
                - _datetime.timedelta(seconds=1)
            )
            entry.run()
    return due


class JobProcess:
    """Runs a job in a child ``wb jobs run`` process, and stops that process on request."""

    def __init__(self, data_dir: str | Path, *, grace_seconds: float = 30.0):
        self.data_dir = Path(data_dir).resolve()
        self.grace_seconds = grace_seconds
        self._process: subprocess.Popen | None = None

    def __call__(self, job: Job) -> JobRun | None:
        command = [
            sys.executable,
            "-m",
            "engine.cli",
            "--data-dir",
            str(self.data_dir),
            "jobs",
            "run",
            job.name,
            "--trigger",
            "scheduler",
            "--json",
            "--definition",
            job.model_dump_json(),
        ]
        # A session of its own, so that stopping it reaches its children (a wb ingest) too.
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=child_environment(),
            start_new_session=True,
        )
        # The job stops itself at its timeout; this is the backstop for a child that hangs.
        limit = job.timeout_minutes * 60 + 2 * self.grace_seconds
        try:
            stdout, stderr = self._process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            log.error("job %s: its process ran past %.0f s and is being stopped", job.name, limit)
            self.cancel()
            stdout, stderr = self._process.communicate()
        finally:
            code, self._process = self._process.returncode, None
        try:
            return _job_run_from_json(stdout)
        except (ValueError, KeyError, TypeError):
            tail = " ".join(stderr.strip().splitlines()[-2:]) or "no output"
            log.error("job %s: its process exited with code %s: %s", job.name, code, tail)
            return None

    def cancel(self) -> None:
        """Ask the running job to stop (SIGTERM); kill it if it has not after the grace period."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        _signal_group(process, signal.SIGTERM)
        timer = threading.Timer(self.grace_seconds, _signal_group, (process, signal.SIGKILL))
        timer.daemon = True
        timer.start()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):  # it ended on its own meanwhile
            os.killpg(process.pid, sig)


def _job_run_from_json(text: str) -> JobRun:
    data = json.loads(text)
    for key in ("started_at", "finished_at"):
        if data.get(key):
            data[key] = _datetime.datetime.fromisoformat(data[key])
    return JobRun(**data)


# -- the clock, for the schedule library -----------------------------------------------
#
# ``schedule`` reads the time with ``datetime.datetime.now()``. Its module is given a
# ``datetime`` whose ``now`` reads the clock set by :func:`using_clock` in this thread
# (a context variable), and the real time everywhere else, so any other user of the
# library is unaffected.

_clock: contextvars.ContextVar[Clock | None] = contextvars.ContextVar(
    "engine_jobs_clock", default=None
)


class _ClockedDatetime(_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        clock = _clock.get()
        if clock is None:
            return _datetime.datetime.now(tz)
        instant = clock.now()
        # Naive times in schedule are the machine's local time, as datetime.now() gives them.
        return (
            instant.astimezone(tz) if tz is not None else instant.astimezone().replace(tzinfo=None)
        )


class _DatetimeModule(types.ModuleType):
    datetime = _ClockedDatetime

    def __getattr__(self, name: str):
        return getattr(_datetime, name)


if not isinstance(schedule.datetime, _DatetimeModule):
    schedule.datetime = _DatetimeModule("datetime")


@contextmanager
def using_clock(clock: Clock) -> Iterator[None]:
    """The ``schedule`` library reads ``clock`` in this block (in this thread only)."""
    token = _clock.set(clock)
    try:
        yield
    finally:
        _clock.reset(token)


def _in_zone(local_naive: _datetime.datetime, timezone: str) -> _datetime.datetime:
    """A ``schedule`` time (naive, the machine's local time) in ``timezone``."""
    return local_naive.astimezone(ZoneInfo(timezone))
