"""Scheduled work: job definitions (jobs/jobs.yaml), one run of a job, and the scheduler.

>>> jobs = load_jobs("jobs/jobs.yaml")                      # doctest: +SKIP
>>> run_job(find_job(jobs, "daily-report"), data_dir="data")  # doctest: +SKIP
>>> Scheduler(jobs, data_dir="data").run_forever()            # doctest: +SKIP
"""

from __future__ import annotations

import importlib

# Loaded on first use, as engine.backtest does: the scheduler and the job kinds import the
# NYSE calendar and pandas, which `wb jobs --help` should not pay for.
_LAZY = {
    "Clock": "engine.jobs.clock",
    "FakeClock": "engine.jobs.clock",
    "SystemClock": "engine.jobs.clock",
    "JOB_KINDS": "engine.jobs.definitions",
    "Job": "engine.jobs.definitions",
    "When": "engine.jobs.definitions",
    "find_job": "engine.jobs.definitions",
    "load_jobs": "engine.jobs.definitions",
    "JobRun": "engine.jobs.running",
    "get_job_run": "engine.jobs.running",
    "list_job_runs": "engine.jobs.running",
    "register_kind": "engine.jobs.running",
    "run_job": "engine.jobs.running",
    "Scheduler": "engine.jobs.scheduler",
    "next_run_after": "engine.jobs.scheduler",
    "run_until_signalled": "engine.jobs.scheduler",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine.jobs' has no attribute {name!r}")
