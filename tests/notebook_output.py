"""What an executed notebook printed, for tests that run notebooks under papermill."""

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
