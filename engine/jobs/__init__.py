"""Scheduled work: job definitions (jobs/jobs.yaml), one run of a job, and the scheduler.

>>> jobs = load_jobs("jobs/jobs.yaml")                      # doctest: +SKIP
>>> run_job(find_job(jobs, "daily-report"), data_dir="data")  # doctest: +SKIP
>>> Scheduler(jobs, data_dir="data").run_forever()            # doctest: +SKIP
"""

from engine.jobs.clock import Clock, FakeClock, SystemClock
from engine.jobs.definitions import JOB_KINDS, Job, When, find_job, load_jobs
from engine.jobs.locks import JobLock, LockHolder
from engine.jobs.running import JobRun, get_job_run, list_job_runs, register_kind, run_job
from engine.jobs.scheduler import Scheduler, next_run_after, run_until_signalled

__all__ = [
    "JOB_KINDS",
    "Clock",
    "FakeClock",
    "Job",
    "JobLock",
    "JobRun",
    "LockHolder",
    "Scheduler",
    "SystemClock",
    "When",
    "find_job",
    "get_job_run",
    "list_job_runs",
    "load_jobs",
    "next_run_after",
    "register_kind",
    "run_job",
    "run_until_signalled",
]
