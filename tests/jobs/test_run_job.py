"""One run of each kind of job, recorded with what it did or why it failed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.data.repository import stored_symbols
from engine.jobs import JOB_KINDS, list_job_runs, run_job
from engine.research.runs import get_run
from engine.store import read_events
from tests.notebooks import write_notebook

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "research_runs" / "tiny.ipynb"

pytestmark = pytest.mark.slow


def job(kind: str, **fields):
    return JOB_KINDS[kind].model_validate(
        {
            "name": f"a-{kind.replace('_', '-')}",
            "kind": kind,
            "when": "every().day.at('16:30')",
            **fields,
        }
    )


def test_a_notebook_job_is_a_research_run(store, data_dir):
    ran = run_job(job("notebook", notebook=str(TINY), parameters={"repeat": 1}), data_dir=data_dir)
    refused = run_job(
        job("notebook", notebook=str(TINY), parameters={"repaet": 1}), data_dir=data_dir
    )

    assert ran.status == "succeeded" and ran.trigger == "manual"
    run_id = ran.log.split()[2]
    assert ran.log == f"research run {run_id} succeeded"
    assert get_run(store, run_id).parameters == {"repeat": 1}
    assert refused.status == "failed"  # refused before a kernel started, and said why
    assert "unknown parameter 'repaet' (did you mean 'repeat'?)" in refused.error
    assert list(read_events(store, kinds=["job."])["kind"]) == ["job.failed", "job.succeeded"]


def test_a_report_job_reports_on_the_day_it_runs(store, data_dir, tmp_path):
    write_notebook(tmp_path / "report.ipynb", "date = None\nrun_id = None", "print('book of', date)")

    ran = run_job(job("report", notebook=str(tmp_path / "report.ipynb")), data_dir=data_dir)

    record = get_run(store, ran.log.split()[2])
    from engine.jobs.running import _new_york_today

    assert record.parameters == {"date": _new_york_today().isoformat()}


def test_an_ingest_job_loads_bars_with_wb_ingest(store, data_dir):
    nothing = run_job(job("ingest", source="sample"), data_dir=data_dir)
    ran = run_job(job("ingest", source="sample", symbols=["AAPL", "GE"]), data_dir=data_dir)
    refresh = run_job(job("ingest", source="sample"), data_dir=data_dir)

    assert nothing.status == "failed"
    assert "the store holds no symbols with 1d bars to refresh" in nothing.error
    assert ran.status == "succeeded", ran.error
    assert stored_symbols(store) == ["AAPL", "GE"]
    added = int(ran.log.split()[0])
    assert added == store.scalar("SELECT count(*) FROM bars") and added > 5000
    # with no symbols named, the refresh covers what the store holds: nothing new here
    assert refresh.status == "succeeded" and refresh.log.startswith("0 bars added for 2 symbols")


def test_an_intraday_ingest_job_refreshes_the_symbols_held_at_its_bar_size(store, data_dir):
    daily = run_job(job("ingest", source="sample", symbols=["AAPL"]), data_dir=data_dir)
    nothing = run_job(job("ingest", source="sample", bar_size="1h"), data_dir=data_dir)
    hourly = run_job(
        job("ingest", source="sample", bar_size="1h", symbols=["GE"]), data_dir=data_dir
    )

    assert daily.status == "succeeded", daily.error
    # AAPL's daily bars are no reason to fetch its hourly ones
    assert nothing.status == "failed" and "no symbols with 1h bars" in nothing.error
    assert hourly.status == "succeeded", hourly.error
    assert stored_symbols(store, "1h") == ["GE"] and stored_symbols(store) == ["AAPL"]


def test_a_command_job_runs_a_wb_command_line(data_dir):
    ran = run_job(job("command", command="wb research list"), data_dir=data_dir)
    failed = run_job(job("command", command="bars ZZZZ"), data_dir=data_dir)

    assert ran.status == "succeeded" and ran.log.startswith("no research runs yet")
    assert failed.status == "failed"
    assert failed.error.startswith(
        "wb bars failed: error: no stored bars for ZZZZ what to do: ingest"
    )


def test_a_live_step_job_says_when_the_live_loop_is_missing(data_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "engine.live.job", None)  # as before the live loop exists

    failed = run_job(job("live_step"), data_dir=data_dir)

    assert failed.status == "failed"
    assert "live_step jobs need the live loop's step (engine.live.job.run_step)" in failed.error
    assert [r.status for r in list_job_runs_of(data_dir)] == ["failed"]


def list_job_runs_of(data_dir):
    from engine.store import Store

    return list_job_runs(Store.open(data_dir))
