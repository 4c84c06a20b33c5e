"""Research runs from the control room: start one in its own process, show an executed notebook.

A run started here is an ordinary papermill run (:func:`engine.research.runs.run_notebook`)
in a detached process, recorded in the trader's name; the page lists it like any other.
The process gets no broker keys: a notebook has no business with them, and an executed
notebook is kept on disk.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.errors import InputError, NotFoundError

ROOT = Path(__file__).resolve().parents[1]
SECRET_PREFIXES = ("APCA_", "ALPACA_")
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.IGNORECASE | re.DOTALL)


def notebooks_dir() -> Path:
    """Where the research notebooks are: ``WB_NOTEBOOKS_DIR``, else the repository's notebooks/."""
    return Path(os.environ.get("WB_NOTEBOOKS_DIR") or ROOT / "notebooks").resolve()


def available_notebooks() -> list[Path]:
    """The notebooks a trader may run, by name."""
    folder = notebooks_dir()
    return sorted(folder.glob("*.ipynb")) if folder.is_dir() else []


def default_value(default: str) -> Any:
    """A parameter's default as a value for the form (its source text when it is not a literal)."""
    try:
        return ast.literal_eval(default)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return default


def launch(data_dir: Path, notebook: Path, parameters: dict[str, Any], actor: str) -> Path:
    """Start the run in a detached process; returns the log file it writes to."""
    notebook = notebook.resolve()
    if notebook.parent != notebooks_dir():
        raise InputError(
            f"{notebook.name} is not one of the research notebooks",
            hint=f"choose one in {notebooks_dir()}",
        )
    logs = Path(data_dir) / "runs" / "launched"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{notebook.stem}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIXES)}
    env["WB_DATA_DIR"] = str(Path(data_dir).resolve())
    request = json.dumps(
        {
            "notebook": str(notebook),
            "parameters": parameters,
            "actor": actor,
            "data_dir": env["WB_DATA_DIR"],
        }
    )
    with open(log, "wb") as out:
        subprocess.Popen(
            [sys.executable, "-m", "app.research_runs", request],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return log


def notebook_html(output_path: Path | None, data_dir: Path) -> str:
    """The executed notebook as HTML without any script, for the page.

    Only files under the data dir are read: a path from the store is not trusted to
    point anywhere else.
    """
    from nbconvert import HTMLExporter

    from engine.research.runs import RUNS_DIR as RUNS

    if output_path is None:
        raise NotFoundError("this run kept no executed notebook")
    data_dir = Path(data_dir).resolve()
    path = Path(output_path).resolve()
    if not path.is_relative_to(data_dir) and RUNS in path.parts:
        # A data dir that was moved or copied keeps its runs under runs/<date>/.
        tail = path.parts[len(path.parts) - path.parts[::-1].index(RUNS) - 1 :]
        path = data_dir.joinpath(*tail).resolve()
    if not path.is_relative_to(data_dir):
        raise InputError(f"{path} is outside the data dir; not opening it")
    if not path.is_file():
        raise NotFoundError(
            f"the executed notebook {path} is gone", hint="it may have been cleaned up"
        )
    exporter = HTMLExporter(template_name="lab", sanitize_html=True)
    body, _ = exporter.from_filename(str(path))
    # The page embeds this in the app's own origin: outputs are sanitised above, and the
    # template's own scripts (MathJax, require.js from CDNs) are dropped too.
    return _SCRIPT.sub("", body)


def _main() -> None:
    from engine.research.runs import run_notebook
    from engine.store import Store

    request = json.loads(sys.argv[1])
    store = Store.open(request["data_dir"])
    record = run_notebook(
        store,
        request["notebook"],
        request["parameters"],
        data_dir=request["data_dir"],
        actor=request["actor"],
    )
    print(f"run {record.run_id}: {record.status}")


if __name__ == "__main__":
    _main()
