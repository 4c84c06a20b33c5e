"""`wb jobs`: the scheduled jobs of jobs/jobs.yaml: list them, run one now, run the scheduler.

For cron instead of the scheduler, one line per job (New York time zone)::

    CRON_TZ=America/New_York
    30 16 * * 1-5  cd /path/to/workbench && .venv/bin/wb jobs run refresh-bars
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from engine.cli._common import Context, emit_json, json_option, pass_context

jobs_file_option = click.option(
    "--jobs-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The job definitions [env WB_JOBS_FILE; default jobs/jobs.yaml].",
)

#: Exit code of `wb jobs run` when another run of the job holds its lock (EX_TEMPFAIL).
EXIT_SKIPPED = 75


def _load(jobs_file: Path | None):
    from engine.jobs import load_jobs

    return load_jobs(jobs_file or os.environ.get("WB_JOBS_FILE") or "jobs/jobs.yaml")


@click.group()
def jobs():
    """Scheduled work: data refresh, research notebooks, reports."""


@jobs.command("list")
@jobs_file_option
@json_option
@pass_context
def list_command(ctx: Context, jobs_file, as_json):
    """The jobs, when each is next due, and how its last run went."""
    from engine.jobs import list_job_runs, next_run_after
    from engine.jobs.running import LOCKS_DIR
    from engine.locks import JobLock

    defined = _load(jobs_file)
    store = ctx.store()
    now = datetime.now(UTC)
    rows = []
    for job in defined:
        last = list_job_runs(store, job.name, limit=1)
        holder = JobLock(Path(ctx.data_dir) / LOCKS_DIR, job.name).holder()
        rows.append(
            {
                "name": job.name,
                "kind": job.kind,
                "what": job.what(),
                "when": job.when.text,
                "timezone": job.timezone,
                "trading_days_only": job.trading_days_only,
                "enabled": job.enabled,
                "next_run": next_run_after(job, now) if job.enabled else None,
                "running": holder.describe() if holder else None,
                "last_run": last[0].as_dict() if last else None,
            }
        )
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no jobs defined")
        return
    for row in rows:
        days = "trading days" if row["trading_days_only"] else "every day"
        next_run = f"{row['next_run']:%a %Y-%m-%d %H:%M %Z}" if row["next_run"] else "disabled"
        click.echo(f"{row['name']}: {row['what']}")
        click.echo(f"    when {row['when']} ({row['timezone']}, {days}); next {next_run}")
        if row["running"]:
            click.echo(f"    running now: {row['running']}")
        last = row["last_run"]
        if last:
            click.echo(
                f"    last run {last['started_at']:%Y-%m-%d %H:%M} UTC: {last['status']}"
                + (f": {last['error']}" if last["error"] else "")
            )


@jobs.command("run")
@click.argument("name")
@jobs_file_option
@click.option(
    "--trigger", type=click.Choice(["manual", "scheduler"]), default="manual", hidden=True
)
@click.option("--definition", hidden=True, help="The job as JSON (the scheduler passes it).")
@json_option
@pass_context
def run_command(ctx: Context, name, jobs_file, trigger, definition, as_json):
    """Run the job NAME once, now, and record it.

    Exits 0 if it succeeded, 1 if it failed, 75 if another run of it was still going.
    """
    from engine.jobs import find_job, list_job_runs, run_job
    from engine.jobs.running import JobInterrupted, stop_on_sigterm

    job = _from_definition(definition) if definition else find_job(_load(jobs_file), name)
    try:
        with stop_on_sigterm():
            result = run_job(job, data_dir=ctx.data_dir, trigger=trigger)
    except JobInterrupted:  # SIGTERM: the run is recorded as interrupted; report that row
        result = list_job_runs(ctx.store(), job.name, limit=1)[0]
    if as_json:
        emit_json(result.as_dict())
    else:
        click.echo(result.line())
    if result.status == "skipped":
        sys.exit(EXIT_SKIPPED)  # SystemExit: run_cli turns a click Exit into 0
    if result.status != "succeeded":
        sys.exit(1)  # SystemExit: run_cli turns a click Exit into 0


@jobs.command("history")
@click.argument("name", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@json_option
@pass_context
def history_command(ctx: Context, name, limit, as_json):
    """The latest job runs (of job NAME, or of all jobs), newest first."""
    from engine.jobs import list_job_runs

    runs = list_job_runs(ctx.store(), name, limit=limit)
    if as_json:
        emit_json([r.as_dict() for r in runs])
        return
    if not runs:
        click.echo("no job runs yet")
    for r in runs:
        click.echo(f"{r.started_at:%Y-%m-%d %H:%M:%S} UTC  {r.line()}")


@jobs.command("scheduler")
@jobs_file_option
@click.option(
    "--poll",
    "poll_seconds",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Longest sleep between checks for due jobs (seconds).",
)
@pass_context
def scheduler_command(ctx: Context, jobs_file, poll_seconds):
    """Run the jobs as they fall due, until SIGTERM or Ctrl-C (then stop cleanly, exit 0).

    Logs one line per run to stderr. Each run happens in a child `wb jobs run` process.
    """
    from engine.jobs import Scheduler, run_until_signalled

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("engine.jobs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    defined = _load(jobs_file)
    ctx.store()  # create and migrate the store now, not in the first job
    run_until_signalled(Scheduler(defined, data_dir=ctx.data_dir), poll_seconds=poll_seconds)


def _from_definition(text: str):
    from engine.errors import InputError
    from engine.jobs import JOB_KINDS

    try:
        data = json.loads(text)
        return JOB_KINDS[data["kind"]].model_validate(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"the job definition passed is not valid: {exc}",
            hint="run jobs by name from the jobs file",
        ) from exc


COMMANDS = [jobs]
