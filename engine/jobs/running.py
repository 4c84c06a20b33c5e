"""Running one job once, now: under its lock, recorded in ``job_runs``, failures kept in the row.

Each kind of job has a runner here: ``ingest`` and ``command`` run ``wb`` in a child
process (its exit code and last error line are the verdict), ``notebook`` and ``report``
go through :func:`engine.research.runs.run_notebook`.

``live_step`` is the live loop's extension point: a job of that kind calls
``engine.live.job.run_step(store, options, *, actor) -> str`` (the one-line summary; raise
to fail the run). Until the live loop provides that module, such a job fails with a
message that says so. Other kinds can be added with :func:`register_kind`.
"""

from __future__ import annotations

import getpass
import importlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from engine.errors import InputError, OperatorError, WorkbenchError
from engine.jobs.definitions import CommandJob, IngestJob, Job, NotebookJob, ReportJob
from engine.locks import JobLock, process_alive
from engine.store import Store
from engine.store.events import append_event, utcnow

LOCKS_DIR = "locks"


class JobFailed(WorkbenchError):
    """A job ran and did not do its work; the message says why."""


class JobInterrupted(KeyboardInterrupt):
    """The job's process was asked to stop (SIGTERM) while the job ran."""


@dataclass(frozen=True)
class JobContext:
    """What a job's runner is given besides the job."""

    store: Store
    data_dir: Path
    actor: str
    today: date  # the New York date of the run, for reports


@dataclass(frozen=True)
class JobRun:
    """One run of a job, as recorded in ``job_runs``."""

    id: int
    job: str
    kind: str
    trigger: str  # scheduler | manual
    status: str  # running | succeeded | failed | skipped | interrupted | abandoned
    started_at: datetime  # UTC
    finished_at: datetime | None
    duration_s: float | None
    error: str | None
    log: str | None
    pid: int

    def line(self) -> str:
        """The one line a log shows for this run."""
        took = f" in {self.duration_s:.1f}s" if self.duration_s else ""
        detail = self.error if self.status != "succeeded" else self.log
        return (
            f"job {self.job} {self.status}{took}"
            + (f": {detail}" if detail else "")
            + f" [run {self.id}]"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Runner = Callable[[Job, JobContext], str]


def run_job(
    job: Job, *, data_dir: str | Path, trigger: str = "manual", actor: str | None = None
) -> JobRun:
    """The record of running ``job`` once, now, unless another run of it holds its lock.

    A run that finds the job locked is recorded as ``skipped`` (with who holds it) and
    does nothing. A failing job is recorded as ``failed`` with its error; it does not
    raise. Only an interruption (Ctrl-C, SIGTERM) propagates, after it is recorded.
    """
    data_dir = Path(data_dir).resolve()
    store = Store.open(data_dir)
    actor = actor or ("scheduler" if trigger == "scheduler" else f"cli:{_user()}")
    lock = JobLock(data_dir / LOCKS_DIR, job.name)
    if not lock.acquire():
        holder = lock.holder()
        who = holder.describe() if holder else "another process"
        return store.transaction(_insert_skipped, job, trigger, f"already running: {who}")

    try:
        note = None
        if lock.recovered and not process_alive(lock.recovered.pid, lock.recovered.started_at):
            note = f"took over the lock left by a run that died ({lock.recovered.describe()})"
        run_id = store.transaction(_insert_running, job, trigger)
        context = JobContext(store, data_dir, actor, _new_york_today())
        clock = time.monotonic()
        status, summary, error = "failed", None, None
        try:
            summary = _runner_for(job.kind)(job, context)
            status = "succeeded"
        except (KeyboardInterrupt, SystemExit) as exc:
            status, error = "interrupted", f"{type(exc).__name__}: stopped while running"
            raise
        except WorkbenchError as exc:
            error = str(exc)
        except Exception as exc:  # a job's bug must not take the scheduler down with it
            error = f"{type(exc).__name__}: {exc}"
        finally:
            log = "; ".join(part for part in (summary, note) if part) or None
            store.transaction(
                _finish, run_id, job, status, time.monotonic() - clock, error, log, actor
            )
        return get_job_run(store, run_id)
    finally:
        lock.release()


def register_kind(kind: str, runner: Runner) -> None:
    """Make jobs of ``kind`` run with ``runner(job, context) -> summary line``."""
    _RUNNERS[kind] = runner


def list_job_runs(store, job: str | None = None, *, limit: int = 50) -> list[JobRun]:
    """The newest job runs first, of one job or of all."""
    where, params = "", []
    if job:
        where, params = "WHERE job = ?", [job]
    rows = store.query(
        f"SELECT * FROM job_runs {where} ORDER BY started_at DESC, id DESC LIMIT {int(limit)}",
        params,
    )
    return [_job_run(row) for row in rows.to_dict("records")]


def get_job_run(store, run_id: int) -> JobRun:
    rows = store.query("SELECT * FROM job_runs WHERE id = ?", [int(run_id)])
    if rows.empty:
        from engine.errors import NotFoundError

        raise NotFoundError(f"no job run {run_id}", hint="see wb jobs history")
    return _job_run(rows.to_dict("records")[0])


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """In this block SIGTERM raises :class:`JobInterrupted`, so a stopped job records how it ended."""

    def interrupt(signum, frame):
        raise JobInterrupted()

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- the kinds ------------------------------------------------------------------------


def _run_ingest(job: IngestJob, context: JobContext) -> str:
    from engine.data.repository import stored_symbols

    symbols = job.symbols or stored_symbols(context.store, job.bar_size)
    if not symbols:
        raise InputError(
            f"the store holds no symbols with {job.bar_size} bars to refresh",
            hint="list symbols in the job, or ingest once by hand: wb ingest --source sample",
        )
    args = [
        "ingest",
        "--source",
        job.source,
        "--symbols",
        ",".join(symbols),
        "--on-error",
        job.on_error,
        "--bar-size",
        job.bar_size,
    ]
    if job.path:
        args += ["--path", job.path]
    if job.extended_hours:
        args.append("--extended-hours")
    if job.feed:
        args += ["--feed", job.feed]
    output = _run_wb(args + ["--json"], context, job.timeout_minutes)
    try:
        result = json.loads(output)
        return f"{result['rows_added']} bars added for {len(result['symbols'])} symbols (ingest {result['ingest_id']})"
    except (ValueError, KeyError, TypeError):
        return _last_line(output) or "ingest done"


def _run_notebook(job: NotebookJob | ReportJob, context: JobContext, parameters=None) -> str:
    from engine.research.runs import run_notebook

    record = run_notebook(
        context.store,
        job.notebook,
        parameters if parameters is not None else job.parameters,
        data_dir=context.data_dir,
        actor=context.actor,
        cell_timeout=job.timeout_minutes * 60,
    )
    if not record.succeeded:
        raise JobFailed(f"research run {record.run_id} failed: {record.error.describe()}")
    proposed = ", ".join(f"{c.config_id} {c.verdict}" for c in record.configs_proposed)
    return f"research run {record.run_id} succeeded" + (
        f"; proposed {proposed}" if proposed else ""
    )


def _run_report(job: ReportJob, context: JobContext) -> str:
    from engine.research.notebook_params import notebook_parameters

    parameters = dict(job.parameters)
    if "date" not in parameters and any(
        p.name == "date" for p in notebook_parameters(job.notebook)
    ):
        parameters["date"] = context.today.isoformat()
    return _run_notebook(job, context, parameters)


def _run_command(job: CommandJob, context: JobContext) -> str:
    return _last_line(_run_wb(shlex.split(job.command), context, job.timeout_minutes)) or "done"


def _run_live_step(job, context: JobContext) -> str:
    try:
        step = importlib.import_module("engine.live.job").run_step
    except (ModuleNotFoundError, AttributeError) as exc:
        raise OperatorError(
            "live_step jobs need the live loop's step (engine.live.job.run_step), which is not installed",
            hint="disable this job (enabled: false) until the live loop is in place",
        ) from exc
    return str(step(context.store, dict(job.options), actor=context.actor))


_RUNNERS: dict[str, Runner] = {
    "ingest": _run_ingest,
    "notebook": _run_notebook,
    "report": _run_report,
    "command": _run_command,
    "live_step": _run_live_step,
}


def _runner_for(kind: str) -> Runner:
    try:
        return _RUNNERS[kind]
    except KeyError:
        raise OperatorError(
            f"no runner for jobs of kind {kind!r}", hint="register one with register_kind"
        ) from None


def _run_wb(args: list[str], context: JobContext, timeout_minutes: float) -> str:
    """The stdout of ``wb --data-dir <dir> ARGS`` run as a child; JobFailed if it fails."""
    command = [sys.executable, "-m", "engine.cli", "--data-dir", str(context.data_dir), *args]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_minutes * 60,
            env=child_environment(),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise JobFailed(
            f"wb {shlex.join(args)} took longer than {timeout_minutes:g} minutes and was stopped"
        ) from None
    if done.returncode != 0:
        reason = _error_lines(done.stderr) or f"exit code {done.returncode}"
        raise JobFailed(f"wb {args[0]} failed: {reason}")
    return done.stdout


def child_environment() -> dict[str, str]:
    """This process's environment, with the engine it runs importable by child processes."""
    from engine.research.runs import ENGINE_ROOT

    env = dict(os.environ)
    paths = [str(ENGINE_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def _error_lines(stderr: str) -> str:
    """The `error:`/`what to do:` lines a wb command printed, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    chosen = [line for line in lines if line.startswith(("error:", "what to do:"))]
    return " ".join(chosen or lines[-1:])


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


# -- rows -----------------------------------------------------------------------------


def _insert_skipped(con, job: Job, trigger: str, reason: str) -> JobRun:
    now = utcnow()
    row = con.execute(
        "INSERT INTO job_runs (job, kind, trigger, status, started_at, finished_at, duration_s,"
        " error, pid) VALUES (?, ?, ?, 'skipped', ?, ?, 0, ?, ?) RETURNING *",
        [job.name, job.kind, trigger, now, now, reason, os.getpid()],
    ).fetchone()
    columns = [d[0] for d in con.description]
    return _job_run(dict(zip(columns, row, strict=True)))


def _insert_running(con, job: Job, trigger: str) -> int:
    row = con.execute(
        "INSERT INTO job_runs (job, kind, trigger, status, started_at, pid)"
        " VALUES (?, ?, ?, 'running', ?, ?) RETURNING id",
        [job.name, job.kind, trigger, utcnow(), os.getpid()],
    ).fetchone()
    return int(row[0])


def _finish(con, run_id: int, job: Job, status: str, duration: float, error, log, actor) -> None:
    con.execute(
        "UPDATE job_runs SET status = ?, finished_at = ?, duration_s = ?, error = ?, log = ?"
        " WHERE id = ?",
        [status, utcnow(), duration, error, log, run_id],
    )
    append_event(
        con,
        f"job.{status}",
        actor,
        job.name,
        {
            "run": run_id,
            "kind": job.kind,
            "duration_s": round(duration, 3),
            "error": error,
            "log": log,
        },
    )


def _job_run(row: dict[str, Any]) -> JobRun:
    import pandas as pd

    def value(key):
        item = row.get(key)
        return None if item is None or (not isinstance(item, str) and pd.isna(item)) else item

    started = pd.Timestamp(row["started_at"]).to_pydatetime()
    status = row["status"]
    if status == "running" and not process_alive(int(row["pid"]), started):
        status = "abandoned"  # its process died before it could record the end
    finished = value("finished_at")
    return JobRun(
        id=int(row["id"]),
        job=row["job"],
        kind=row["kind"],
        trigger=row["trigger"],
        status=status,
        started_at=started,
        finished_at=pd.Timestamp(finished).to_pydatetime() if finished is not None else None,
        duration_s=None if value("duration_s") is None else float(row["duration_s"]),
        error=value("error"),
        log=value("log"),
        pid=int(row["pid"]),
    )


def _new_york_today() -> date:
    return datetime.now(ZoneInfo("America/New_York")).date()


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"
