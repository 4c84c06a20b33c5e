"""Executed notebooks shown in the control room: nothing in them may run in the trader's page."""

from __future__ import annotations

import re

import nbformat
import pytest

from app.research_runs import launch, notebook_html
from engine.errors import InputError


def executed_notebook(path):
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={
            "text/html": '<b>42 trades</b><script>steal()</script><img src="x" onerror="steal()">'}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "steal()"}),
    ]  # fmt: skip
    notebook.cells = [nbformat.v4.new_markdown_cell("# Result\n<script>steal()</script>"), cell]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


def test_an_executed_notebook_is_shown_without_any_script(data_dir):
    path = executed_notebook(data_dir / "runs" / "2024-01-05" / "x-run1.ipynb")
    html = notebook_html(path, data_dir)
    assert "42 trades" in html
    assert "<script" not in html.lower()  # no script element at all
    assert not re.search(r"<[a-z][^>]*\son\w+\s*=", html, re.IGNORECASE)  # no event handler
    assert "&lt;script&gt;steal()" in html  # the attempt is shown as text, harmless


def test_a_moved_data_dir_still_finds_its_runs(tmp_path, data_dir):
    executed_notebook(data_dir / "runs" / "2024-01-05" / "x-run1.ipynb")
    recorded = tmp_path / "old-place" / "runs" / "2024-01-05" / "x-run1.ipynb"  # where it was run
    assert "42 trades" in notebook_html(recorded, data_dir)


def test_files_outside_the_data_dir_are_not_opened(tmp_path, data_dir):
    outside = executed_notebook(tmp_path / "elsewhere" / "secret.ipynb")
    with pytest.raises(InputError, match="outside the data dir"):
        notebook_html(outside, data_dir)


def test_only_the_research_notebooks_can_be_launched(app_env, tmp_path, data_dir):
    stray = executed_notebook(tmp_path / "stray.ipynb")
    with pytest.raises(InputError, match="not one of the research notebooks"):
        launch(data_dir, stray, {}, "tina")
