"""`wb jobs`: list, run one now (exit codes cron understands), and the scheduler as a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import cli
from engine.cli._common import run_cli
from engine.jobs import list_job_runs, running
from engine.locks import JobLock
from engine.research.runs import list_runs
from engine.store import Store

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "research_runs" / "tiny.ipynb"

pytestmark = pytest.mark.slow


def wb(capsys, *args, data_dir) -> tuple[int, str, str]:
    """Run `wb` in this process, as the console script does: (exit code, stdout, stderr)."""
    try:
        code = run_cli(cli, ["--data-dir", str(data_dir), *args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def jobs_file(tmp_path, monkeypatch) -> Path:
    """Two live-step jobs (the live loop's extension point, here a step that may fail)."""

    def step(job, context) -> str:
        if job.options.get("fail"):
            raise RuntimeError("the broker did not answer")
        return "stepped"

    monkeypatch.setitem(running._RUNNERS, "live_step", step)
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "jobs:\n"
        "  - name: step\n    kind: live_step\n    when: every().day.at('16:30')\n"
        "  - name: broken\n    kind: live_step\n    options: {fail: true}\n"
        "    when: {every: day, at: '17:00'}\n    trading_days_only: false\n"
    )
    return path


def test_wb_jobs_run_exits_as_cron_expects_and_list_shows_the_last_run(
    capsys, data_dir, jobs_file, lock_holder
):
    ok = wb(capsys, "jobs", "run", "step", "--jobs-file", str(jobs_file), data_dir=data_dir)
    failed = wb(capsys, "jobs", "run", "broken", "--jobs-file", str(jobs_file), data_dir=data_dir)
    unknown = wb(capsys, "jobs", "run", "stpe", "--jobs-file", str(jobs_file), data_dir=data_dir)
    lock_holder(data_dir / "locks", "step")
    busy = wb(capsys, "jobs", "run", "step", "--jobs-file", str(jobs_file), data_dir=data_dir)
    listed = wb(capsys, "jobs", "list", "--jobs-file", str(jobs_file), "--json", data_dir=data_dir)

    assert [result[0] for result in (ok, failed, unknown, busy)] == [0, 1, 2, 75]
    assert ok[1].startswith("job step succeeded in ") and "stepped" in ok[1]
    assert (
        failed[1].startswith("job broken failed in ")
        and "RuntimeError: the broker did not answer" in failed[1]
    )
    assert unknown[2].startswith("error: no job 'stpe'; did you mean 'step'?")
    assert busy[1].startswith("job step skipped: already running: pid ")
    jobs = {row["name"]: row for row in json.loads(listed[1])}
    assert jobs["step"]["last_run"]["status"] == "skipped"
    assert jobs["step"]["running"].startswith("pid ")
    assert jobs["broken"]["last_run"]["status"] == "failed" and jobs["broken"]["running"] is None
    assert (
        jobs["step"]["when"] == "every().day.at('16:30')"
        and jobs["broken"]["when"] == "every().day.at('17:00')"
    )


def test_sigterm_stops_the_scheduler_and_its_running_job_cleanly(data_dir, tmp_path):
    jobs_file = tmp_path / "jobs.yaml"
    jobs_file.write_text(
        f"root: {REPO}\n"
        "jobs:\n"
        f"  - name: slow\n    kind: notebook\n    notebook: {TINY}\n    parameters: {{pause: 120}}\n"
        "    when: every().second\n    trading_days_only: false\n"
    )
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "--data-dir", str(data_dir), "jobs", "scheduler",
         "--jobs-file", str(jobs_file), "--poll", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        store = _wait_for_store(data_dir, scheduler)
        # the job runs in its own process, which has started the notebook's kernel
        _wait_until(lambda: [r.status for r in list_runs(store)] == ["running"], scheduler)
        scheduler.send_signal(signal.SIGTERM)
        _, log = scheduler.communicate(timeout=60)
    finally:
        if scheduler.poll() is None:
            scheduler.kill()

    assert scheduler.returncode == 0, log
    assert "scheduler started: slow at " in log
    assert "received SIGTERM: stopping" in log and log.rstrip().endswith("scheduler stopped")
    assert "job slow interrupted in " in log
    [run] = list_job_runs(store)
    assert (run.job, run.status, run.trigger) == ("slow", "interrupted", "scheduler")
    [research] = list_runs(store)
    assert research.status == "failed" and research.parameters == {"pause": 120}
    assert JobLock(data_dir / "locks", "slow").holder() is None


def _wait_for_store(data_dir: Path, process) -> Store:
    _wait_until(lambda: (data_dir / "workbench.duckdb").exists(), process)
    return Store(data_dir / "workbench.duckdb")


def _wait_until(condition, process, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the scheduler exited early: {process.stderr.read()}")
        try:
            if condition():
                return
        except Exception:  # the store is still being created and migrated
            pass
        time.sleep(0.3)
    raise AssertionError("timed out waiting for the scheduler")
