"""notebooks/ml_research.ipynb under papermill: a config pinning a saved model reaches the registry."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from engine.ml.model import file_sha256
from engine.research.config_registry import get_config
from engine.research.runs import run_notebook
from tests.ml.conftest import FAST
from tests.notebooks import printed_by

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "ml_research.ipynb"

pytestmark = pytest.mark.slow



def test_the_notebook_is_committed_without_outputs_and_declares_its_parameters():
    notebook = nbformat.read(str(NOTEBOOK), as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]

    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


def test_a_research_run_proposes_a_config_that_pins_its_model(sample_store, data_dir):
    record = run_notebook(
        sample_store,
        NOTEBOOK,
        {
            "symbols": ["AAPL", "GE"],
            "start": "2004-01-01",
            "end": "2008-12-31",
            "params": FAST,
            "grid": {"entry_probability": [0.55, 0.6]},
            "folds": 2,
        },
        data_dir=data_dir,
        actor="ana",
    )

    assert record.status == "succeeded", record.error
    [proposed] = record.configs_proposed
    config = get_config(sample_store, proposed.config_id).config
    model_file = Path(config.params["model_file"])
    assert model_file.parent == data_dir.resolve() / "models"
    assert file_sha256(model_file) == config.params["model_sha256"]
    assert config.evidence.run_id == record.run_id
    printed = printed_by(record.output_path)
    assert "out-of-sample AUC" in printed
    assert f"model sha256:   {config.params['model_sha256']}" in printed
    verdict = "VALIDATED" if proposed.verdict == "validated" else "REJECTED"
    assert f"{verdict}: config {proposed.config_id}" in printed
