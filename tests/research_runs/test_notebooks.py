"""The shipped notebooks under papermill: research proposes a config with its evidence; the daily
report runs on a store that has never traded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import InputError
from engine.research.config_registry import get_config
from engine.research.runs import list_runs, run_notebook
from tests.notebooks import printed_by

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _outputs(notebook: Path) -> list[dict]:
    """Every output of every code cell of an executed notebook."""
    cells = json.loads(notebook.read_text())["cells"]
    return [out for cell in cells if cell["cell_type"] == "code" for out in cell["outputs"]]

pytestmark = pytest.mark.slow



def test_a_research_run_puts_a_config_with_its_evidence_in_the_registry(sample_store, data_dir):
    record = run_notebook(
        sample_store,
        NOTEBOOKS / "strategy_research.ipynb",
        {
            "symbols": ["AAPL", "GE"],
            "start": "2004-01-01",
            "end": "2012-12-31",
            "grid": {"fast": [5, 10], "slow": [50, 100]},
            "folds": 3,
        },
        data_dir=data_dir,
        actor="ana",
    )

    assert record.status == "succeeded", record.error
    assert record.output_path.is_file()
    [proposed] = record.configs_proposed
    stored = get_config(sample_store, proposed.config_id)
    assert stored.status == proposed.verdict
    evidence = stored.config.evidence
    assert evidence.run_id == record.run_id
    assert evidence.n_trials == 4 and len(evidence.folds) == 3
    assert stored.config.universe == ["AAPL", "GE"]
    verdict_line = "VALIDATED" if proposed.verdict == "validated" else "REJECTED"
    assert f"{verdict_line}: config {proposed.config_id}" in printed_by(record.output_path)
    if proposed.verdict == "rejected":
        for reason in stored.reasons:
            assert reason in printed_by(record.output_path)
    # The renderer named in the setup cell reached plotly: figures JupyterLab draws itself,
    # and HTML for an exported copy.
    bundles = [out.get("data", {}) for out in _outputs(record.output_path)]
    figures = [data for data in bundles if "application/vnd.plotly.v1+json" in data]
    assert figures and all("text/html" in data for data in figures)


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        (
            {"strategy": "sma_crosover"},
            "unknown strategy 'sma_crosover'; did you mean 'sma_crossover'?",
        ),
        ({"folds": "three"}, "'folds' takes int (default 3), not 'three'"),
        ({"executor": "spark"}, "'spark' is not an executor; use local or ray"),
        ({"symbol": ["AAPL"]}, "unknown parameter 'symbol' (did you mean 'symbols'?)"),
    ],
)
def test_bad_research_parameters_never_start_a_kernel(sample_store, data_dir, parameters, says):
    with pytest.raises(InputError) as refused:
        run_notebook(
            sample_store, NOTEBOOKS / "strategy_research.ipynb", parameters, data_dir=data_dir
        )

    assert says in refused.value.message
    assert [r.status for r in list_runs(sample_store)] == ["failed"]
    assert not (data_dir / "runs").exists()
    assert sample_store.scalar("SELECT count(*) FROM configs") == 0


def test_the_daily_report_runs_before_any_trading(store, data_dir):
    record = run_notebook(store, NOTEBOOKS / "daily_report.ipynb", {}, data_dir=data_dir)

    assert record.status == "succeeded", record.error
    printed = printed_by(record.output_path)
    assert printed.startswith("No trading yet: no book has traded in this data dir")
    assert "no positions: no trading yet" in printed
