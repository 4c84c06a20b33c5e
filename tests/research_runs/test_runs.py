"""Research runs on papermill: a run is executed, kept and recorded; bad parameters never start one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import InputError, NotFoundError
from engine.research.runs import ProposedConfig, get_run, list_runs, record_proposal, run_notebook
from engine.store import read_events
from tests.jobs.test_cli import wb
from tests.notebooks import printed_by

TINY = Path(__file__).parent / "tiny.ipynb"

pytestmark = pytest.mark.slow



def test_a_run_keeps_the_executed_notebook_and_records_its_success(store, data_dir):
    record = run_notebook(
        store, TINY, {"repeat": 3, "config_id": "cfg-abc"}, data_dir=data_dir, actor="ana"
    )

    assert record.status == "succeeded" and record.error is None
    assert record.output_path.parent.parent == data_dir / "runs"
    assert record.output_path.name == f"tiny-{record.run_id}.ipynb"
    assert "hello hello hello" in printed_by(record.output_path)
    # The notebook learned its run id and data dir, and linked a config to the run.
    assert record.configs_proposed == (ProposedConfig("cfg-abc", "validated"),)
    assert record.parameters == {"repeat": 3, "config_id": "cfg-abc"}
    assert record.finished_at >= record.started_at and record.duration_s > 0
    assert get_run(store, record.run_id[:17]) == record
    assert [r.run_id for r in list_runs(store)] == [record.run_id]
    events = read_events(store, kinds=["research.run"])
    assert list(events["kind"]) == ["research.run.succeeded", "research.run.started"]
    assert set(events["actor"]) == {"ana"}


def test_a_failed_cell_fails_only_its_own_run(store, data_dir):
    failed = run_notebook(store, TINY, {"fail": True}, data_dir=data_dir)
    after = run_notebook(store, TINY, {}, data_dir=data_dir)

    assert failed.status == "failed"
    assert failed.error.cell == 3  # counted in the notebook file (0: markdown, 1: parameters)
    assert (failed.error.name, failed.error.message) == ("RuntimeError", "asked to fail")
    assert failed.error.source == "if fail:"
    assert failed.output_path.exists()  # the executed notebook shows the traceback
    assert after.status == "succeeded"
    assert {r.run_id: r.status for r in list_runs(store)} == {
        failed.run_id: "failed",
        after.run_id: "succeeded",
    }
    assert [r.run_id for r in list_runs(store, status="failed")] == [failed.run_id]


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({"repeet": 3}, "unknown parameter 'repeet' (did you mean 'repeat'?)"),
        ({"repeat": "abc"}, "'repeat' takes int (default 2), not 'abc' (str)"),
        ({"repeat": True}, "'repeat' takes int"),
        ({"strategy": "sma_crosover"}, "unknown strategy 'sma_crosover'"),
        ({"run_id": "mine"}, "'run_id' is set by the workbench"),
    ],
)
def test_bad_parameters_are_refused_before_a_kernel_starts(store, data_dir, parameters, says):
    with pytest.raises(InputError) as refused:
        run_notebook(store, TINY, parameters, data_dir=data_dir)

    assert says in refused.value.message
    assert (
        "valid parameters: greeting, repeat, strategy, pause, fail, config_id" in refused.value.hint
    )
    [record] = list_runs(store)
    assert record.status == "failed" and record.error.name == "InputError"
    assert says in record.error.message and record.run_id in refused.value.hint
    assert record.output_path is None
    assert not (data_dir / "runs").exists()  # nothing else written: no notebook, no events
    assert read_events(store, kinds=["research"]).empty


def test_a_missing_notebook_is_refused_with_the_notebooks_nearby(store, data_dir):
    with pytest.raises(NotFoundError) as refused:
        run_notebook(store, TINY.with_name("tiyn.ipynb"), {}, data_dir=data_dir)

    assert "tiny.ipynb" in refused.value.hint
    assert list_runs(store)[0].status == "failed"


def test_an_unreadable_notebook_is_refused(store, data_dir, tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ half a notebook")

    with pytest.raises(InputError) as refused:
        run_notebook(store, broken, {}, data_dir=data_dir)

    assert "is not a readable notebook" in refused.value.message
    assert list_runs(store)[0].error.name == "InputError"
    assert not (data_dir / "runs").exists()


def test_a_run_whose_process_died_reads_as_abandoned(store):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    store.execute(
        "INSERT INTO research_runs (run_id, notebook, name, parameters, status, actor, started_at, pid)"
        " VALUES ('r1', 'x.ipynb', 'x', '{}', 'running', 'ana', now()::TIMESTAMP, ?)",
        [int(gone.stdout)],
    )

    assert get_run(store, "r1").status == "abandoned"
    assert [r.run_id for r in list_runs(store, status="abandoned")] == ["r1"]


def test_a_proposal_links_only_to_a_run_that_exists(store):
    record_proposal(store, None, "cfg-1", "validated")  # by hand in JupyterLab: nothing to link

    with pytest.raises(NotFoundError):
        record_proposal(store, "no-such-run", "cfg-1", "validated")



def test_wb_research_runs_lists_and_shows(capsys, data_dir):
    ran = wb(
        capsys,
        "research",
        "run",
        str(TINY),
        "-p",
        "repeat",
        "4",
        "-p",
        "greeting",
        "2024",
        "--json",
        data_dir=data_dir,
    )
    refused = wb(capsys, "research", "run", str(TINY), "-p", "repeet", "4", data_dir=data_dir)
    failed = wb(capsys, "research", "run", str(TINY), "-p", "fail", "true", data_dir=data_dir)
    listed = wb(capsys, "research", "list", "--json", data_dir=data_dir)

    assert ran[0] == 0, ran[2]
    record = json.loads(ran[1])
    assert record["status"] == "succeeded"
    assert record["parameters"] == {"repeat": 4, "greeting": "2024"}  # a str parameter stays text
    assert "2024 2024 2024 2024" in printed_by(Path(record["output_path"]))
    assert (
        refused[0] == 2
        and refused[2].startswith("error: ")
        and "did you mean 'repeat'" in refused[2]
    )
    assert failed[0] == 1 and "failed: cell 3 `if fail:`: RuntimeError: asked to fail" in failed[1]
    statuses = [(r["run_id"] == record["run_id"], r["status"]) for r in json.loads(listed[1])]
    assert sorted(statuses) == [(False, "failed"), (False, "failed"), (True, "succeeded")]
    shown = wb(capsys, "research", "show", record["run_id"][:20], data_dir=data_dir)
    assert f"run {record['run_id']} succeeded" in shown[1]
    assert "parameter:  repeat = 4" in shown[1]
