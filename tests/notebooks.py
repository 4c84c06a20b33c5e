"""Small notebooks written for tests, and what an executed notebook printed."""

from __future__ import annotations

from pathlib import Path

import nbformat


def printed_by(path: Path) -> str:
    """The text every code cell of the notebook at ``path`` printed, in order."""
    notebook = nbformat.read(str(path), as_version=4)
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def write_notebook(path: Path, parameters: str, *cells: str) -> Path:
    """``path``, a notebook on the workbench's kernel: a cell tagged ``parameters``, then ``cells``."""
    notebook = nbformat.v4.new_notebook()
    tagged = nbformat.v4.new_code_cell(parameters)
    tagged.metadata["tags"] = ["parameters"]
    notebook.cells = [tagged, *(nbformat.v4.new_code_cell(source) for source in cells)]
    notebook.metadata["kernelspec"] = {
        "name": "trading-workbench",
        "language": "python",
        "display_name": "x",
    }
    nbformat.write(notebook, str(path))
    return path
