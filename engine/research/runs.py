"""Research runs: a notebook executed by papermill, its parameters checked first, its outcome kept.

    >>> record = run_notebook(store, "notebooks/strategy_research.ipynb",
    ...                       {"strategy": "sma_crossover"}, actor="cli:ana")   # doctest: +SKIP
    >>> record.status, record.output_path                                      # doctest: +SKIP
    ('succeeded', PosixPath('data/runs/2024-01-05/strategy_research-20240105-213001-a1b2c3.ipynb'))

Every run is a row in ``research_runs``: its id, notebook, parameters, status
(``running``, ``succeeded``, ``failed``; a ``running`` row whose process is gone reads as
``abandoned``), start, end, duration, the failed cell and its error, the executed
notebook, and the configs it proposed. Parameters are checked against the notebook
before any kernel starts (see :mod:`engine.research.notebook_params`); a refused run is
recorded as failed and writes nothing else. A failed cell fails only its own run.

A notebook learns where it is through two parameters the workbench injects when the
notebook declares them: ``data_dir`` (the data dir, absolute) and ``run_id``. It links the
configs it proposes to its run with :func:`record_proposal`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import engine
from engine.errors import InputError, NotFoundError, OperatorError
from engine.locks import process_alive
from engine.store.events import append_event, utcnow

#: The Jupyter kernel the notebooks name, so that papermill and JupyterLab run them with the
#: project's interpreter. Registered on the first run when the install did not (see ensure_kernel).
KERNEL_NAME = "trading-workbench"
KERNEL_DISPLAY_NAME = "Trading Workbench"
RUNS_DIR = "runs"
#: The folder holding the ``engine`` package this process imported. Kernels start there, so
#: a notebook imports the same engine as the process that runs it, installed or not.
ENGINE_ROOT = Path(engine.__file__).resolve().parents[1]
_NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class RunError:
    """Why a run failed: the cell (0-based, as in the notebook file), the error's name and text."""

    cell: int | None
    name: str
    message: str
    source: str | None = None  # the failed cell's first line, to recognise it

    def describe(self) -> str:
        """``cell 3 `if fail:`: RuntimeError: asked to fail``, or without the cell if none failed."""
        where = f"cell {self.cell}" + (f" `{self.source}`" if self.source else "") + ": "
        return f"{where if self.cell is not None else ''}{self.name}: {self.message}"


@dataclass(frozen=True)
class ProposedConfig:
    """A config a run proposed to the registry, and the registry's verdict on it."""

    config_id: str
    verdict: str


@dataclass(frozen=True)
class RunRecord:
    """One research run as recorded in the store."""

    run_id: str
    notebook: str
    name: str
    parameters: dict[str, Any]
    status: str  # running | succeeded | failed | abandoned
    actor: str
    started_at: datetime  # UTC
    finished_at: datetime | None
    duration_s: float | None
    error: RunError | None
    output_path: Path | None
    configs_proposed: tuple[ProposedConfig, ...] = field(default=())
    pid: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output_path"] = str(self.output_path) if self.output_path else None
        return data


def run_notebook(
    store,
    notebook_path: str | Path,
    parameters: dict[str, Any] | None = None,
    *,
    data_dir: str | Path | None = None,
    actor: str = "cli",
    progress: bool = False,
    cell_timeout: float | None = None,
) -> RunRecord:
    """The record of running ``notebook_path`` with ``parameters`` under papermill.

    The executed notebook is written to ``<data_dir>/runs/<New York date>/<name>-<run id>.ipynb``
    (``data_dir`` defaults to the store's). A failed cell gives a record with status
    ``failed`` and the error; it does not raise. Parameters that do not fit the notebook
    raise :class:`~engine.errors.InputError` before a kernel starts, after recording the
    refused run. ``cell_timeout`` (seconds) fails a run whose cell takes longer.
    """
    # Imported here, not at the top: nbformat loads jsonschema, seconds of import that a
    # notebook calling notebook_store and record_proposal in its setup cell would pay.
    import nbformat

    from engine.research.notebook_params import (
        check_parameters,
        existing_notebook,
        notebook_parameters,
    )

    parameters = dict(parameters or {})
    data_dir = Path(data_dir or store.data_dir).resolve()
    started = utcnow()
    run_id = f"{started:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    shown = str(notebook_path)
    try:
        path = existing_notebook(notebook_path)
        declared = notebook_parameters(path)
        check_parameters(parameters, declared, notebook=shown)
    except (InputError, ValueError, nbformat.ValidationError) as exc:  # ValueError: not JSON
        refusal = (
            exc
            if isinstance(exc, InputError)
            else InputError(
                f"{shown} is not a readable notebook: {exc}",
                hint="pass a notebook saved by JupyterLab",
            )
        )
        store.transaction(_insert_refused, run_id, shown, parameters, actor, started, refusal)
        raise type(refusal)(
            refusal.message,
            hint=f"{refusal.hint + '; ' if refusal.hint else ''}recorded as failed run {run_id}",
        ) from exc

    name = path.stem
    output = data_dir / RUNS_DIR / f"{_new_york_date(started)}" / f"{name}-{run_id}.ipynb"
    injected = {"data_dir": str(data_dir), "run_id": run_id}
    injected = {k: v for k, v in injected.items() if k in {p.name for p in declared}}
    store.transaction(_insert_running, run_id, path, name, parameters, actor, started, output)

    clock = time.monotonic()
    error: RunError | None = None
    try:
        error = _execute(path, output, {**parameters, **injected}, progress, cell_timeout)
    except BaseException as exc:  # interrupted (Ctrl-C, SIGTERM): the row must not stay running
        error = RunError(None, type(exc).__name__, str(exc) or "the run was interrupted")
        raise
    finally:
        store.transaction(
            _finish, run_id, error, time.monotonic() - clock, output if output.exists() else None
        )
    return get_run(store, run_id)


def notebook_store(data_dir: str | Path | None = None):
    """The store a notebook works on: ``data_dir`` (injected by a run), else $WB_DATA_DIR, else
    the project's ``data/`` (a notebook opened in JupyterLab runs in notebooks/, not the root).
    """
    from engine.store import Store

    return Store.open(data_dir or os.environ.get("WB_DATA_DIR") or ENGINE_ROOT / "data")


def record_proposal(store, run_id: str | None, config_id: str, verdict: str) -> None:
    """Link ``config_id`` (with the registry's ``verdict``) to the run that proposed it.

    A notebook calls it after proposing a config; run by hand in JupyterLab (``run_id`` is
    None) it does nothing, since there is no run to link to.
    """
    if run_id is None:
        return

    def link(con) -> None:
        if con.execute("SELECT 1 FROM research_runs WHERE run_id = ?", [run_id]).fetchone() is None:
            raise NotFoundError(
                f"no research run {run_id!r}", hint="pass the run_id the workbench injected"
            )
        con.execute(
            "INSERT OR REPLACE INTO research_run_configs VALUES (?, ?, ?, ?)",
            [run_id, config_id, verdict, utcnow()],
        )

    store.transaction(link)


def list_runs(
    store, *, status: str | None = None, notebook: str | None = None, limit: int = 50
) -> list[RunRecord]:
    """The newest runs first, optionally only those with ``status`` or of one notebook (by name)."""
    where, params = [], []
    if status and status != "abandoned":
        where.append("status = ?")
        params.append(status)
    if status == "abandoned":
        where.append("status = 'running'")
    if notebook:
        where.append("name = ?")
        params.append(Path(notebook).stem)
    sql = "SELECT * FROM research_runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY started_at DESC, run_id DESC LIMIT {int(limit)}"
    rows = store.query(sql, params)
    records = _records(store, rows)
    return [r for r in records if status is None or r.status == status]


def get_run(store, run_id: str) -> RunRecord:
    """The run ``run_id`` (a unique prefix of it will do); NotFoundError if there is none."""
    rows = store.query(
        "SELECT * FROM research_runs WHERE starts_with(run_id, ?) ORDER BY run_id LIMIT 6", [run_id]
    )
    exact = rows[rows["run_id"] == run_id]
    if not exact.empty:
        rows = exact
    if rows.empty:
        latest = store.query("SELECT run_id FROM research_runs ORDER BY started_at DESC LIMIT 3")
        known = ", ".join(latest["run_id"]) or "none yet"
        raise NotFoundError(
            f"no research run {run_id!r}", hint=f"latest runs: {known} (wb research list)"
        )
    if len(rows) > 1:
        raise InputError(
            f"{run_id!r} matches several runs: {', '.join(rows['run_id'])}",
            hint="give more of the run id",
        )
    return _records(store, rows)[0]


# -- execution ------------------------------------------------------------------------


def ensure_kernel() -> Path:
    """The folder of the kernel spec the notebooks name, registered for this interpreter if need be.

    ``python3 dev.py`` registers it; a plain ``pip install`` or a conda environment does
    not, and papermill would then fail every run with NoSuchKernel. A spec found whose
    interpreter is gone (a deleted environment) is replaced. It is registered in this
    environment (``sys.prefix``, where JupyterLab finds it too), else for the user.
    """
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        interpreter = spec.argv[0] if spec.argv else ""
        if Path(interpreter).is_file() or shutil.which(interpreter):
            return Path(spec.resource_dir)
    except NoSuchKernel:
        pass
    problems = []
    for where in ({"prefix": sys.prefix}, {"user": True}):
        try:
            return Path(
                install(kernel_name=KERNEL_NAME, display_name=KERNEL_DISPLAY_NAME, **where)
            )
        except OSError as exc:  # a read-only environment: try the user's Jupyter folder
            problems.append(str(exc))
    raise OperatorError(
        f"the Jupyter kernel {KERNEL_NAME!r} is not registered and could not be: "
        + "; ".join(problems),
        hint=f"register it with: {sys.executable} -m ipykernel install --user --name {KERNEL_NAME}",
    )


def _execute(
    path: Path, output: Path, parameters: dict[str, Any], progress: bool, cell_timeout: float | None
) -> RunError | None:
    """None when every cell ran; otherwise the error that stopped the run."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel

    output.parent.mkdir(parents=True, exist_ok=True)
    ensure_kernel()
    try:
        papermill.execute_notebook(
            str(path),
            str(output),
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            progress_bar=progress,
            request_save_on_cell_execute=True,
            execution_timeout=cell_timeout,
            # The kernel's working directory, set without papermill's process-wide chdir.
            resources={"metadata": {"path": str(ENGINE_ROOT)}},
        )
    except papermill.PapermillExecutionError as exc:
        cell = _source_cell_index(path, exc.source, exc.cell_index)
        first_line = next((line for line in exc.source.splitlines() if line.strip()), None)
        return RunError(cell, exc.ename, exc.evalue, first_line)
    except NoSuchKernel as exc:
        return RunError(
            None,
            "NoSuchKernel",
            f"the Jupyter kernel {KERNEL_NAME!r} is not registered ({exc}); register it with: "
            f"python -m ipykernel install --sys-prefix --name {KERNEL_NAME}",
        )
    except Exception as exc:  # the kernel died, a cell timed out, the output could not be written
        return RunError(None, type(exc).__name__, str(exc).strip() or repr(exc))
    return None


def _source_cell_index(path: Path, source: str, executed_index: int) -> int | None:
    """The failed cell's index in the notebook file (papermill counts its injected cell too)."""
    import nbformat  # see run_notebook

    cells = nbformat.read(str(path), as_version=4).cells
    matches = [i for i, cell in enumerate(cells) if cell.source == source]
    return min(matches, key=lambda i: abs(i - executed_index)) if matches else None


def _new_york_date(utc: datetime) -> str:
    """The trading date of a UTC time: an evening run in New York files under that day."""
    return utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(_NEW_YORK).date().isoformat()


# -- rows -----------------------------------------------------------------------------


def _insert_refused(con, run_id, notebook, parameters, actor, started, error: InputError) -> None:
    # A refused run starts nothing, so it leaves only this row: no event, no files.
    message = error.message + (f" ({error.hint})" if error.hint else "")
    con.execute(
        "INSERT INTO research_runs (run_id, notebook, name, parameters, status, actor, started_at,"
        " finished_at, duration_s, error_name, error_message, pid)"
        " VALUES (?, ?, ?, ?, 'failed', ?, ?, ?, 0, ?, ?, ?)",
        [
            run_id,
            notebook,
            Path(notebook).stem,
            _json(parameters),
            actor,
            started,
            started,
            type(error).__name__,
            message,
            os.getpid(),
        ],
    )


def _insert_running(con, run_id, path, name, parameters, actor, started, output) -> None:
    con.execute(
        "INSERT INTO research_runs (run_id, notebook, name, parameters, status, actor, started_at,"
        " output_path, pid) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?)",
        [run_id, str(path), name, _json(parameters), actor, started, str(output), os.getpid()],
    )
    append_event(
        con,
        "research.run.started",
        actor,
        run_id,
        {"notebook": str(path), "parameters": parameters},
    )


def _finish(con, run_id, error: RunError | None, duration: float, output: Path | None) -> None:
    status = "failed" if error else "succeeded"
    con.execute(
        "UPDATE research_runs SET status = ?, finished_at = ?, duration_s = ?, error_cell = ?,"
        " error_name = ?, error_message = ?, error_source = ?, output_path = ? WHERE run_id = ?",
        [
            status,
            utcnow(),
            duration,
            error.cell if error else None,
            error.name if error else None,
            error.message if error else None,
            error.source if error else None,
            str(output) if output else None,
            run_id,
        ],
    )
    actor = con.execute("SELECT actor FROM research_runs WHERE run_id = ?", [run_id]).fetchone()[0]
    payload = {"duration_s": round(duration, 3), "output": str(output) if output else None}
    if error:
        payload["error"] = error.describe()
    append_event(con, f"research.run.{status}", actor, run_id, payload)


def _records(store, rows) -> list[RunRecord]:
    if rows.empty:
        return []
    links = store.query(
        "SELECT run_id, config_id, verdict FROM research_run_configs"
        " WHERE run_id IN (SELECT unnest(?)) ORDER BY recorded_at",
        [rows["run_id"].tolist()],
    )
    proposed: dict[str, list[ProposedConfig]] = {}
    for link in links.itertuples():
        proposed.setdefault(link.run_id, []).append(ProposedConfig(link.config_id, link.verdict))
    return [_record(row, tuple(proposed.get(row["run_id"], ()))) for row in rows.to_dict("records")]


def _record(row: dict[str, Any], proposed: tuple[ProposedConfig, ...]) -> RunRecord:
    status = row["status"]
    started = _timestamp(row["started_at"])
    if status == "running" and not process_alive(int(row["pid"]), started):
        status = "abandoned"  # its process died without finishing the row
    error = None
    if row["error_name"] is not None and not _missing(row["error_name"]):
        cell = row["error_cell"]
        error = RunError(
            None if _missing(cell) else int(cell),
            row["error_name"],
            row["error_message"] or "",
            None if _missing(row["error_source"]) else row["error_source"],
        )
    return RunRecord(
        run_id=row["run_id"],
        notebook=row["notebook"],
        name=row["name"],
        parameters=json.loads(row["parameters"]),
        status=status,
        actor=row["actor"],
        started_at=started,
        finished_at=None if _missing(row["finished_at"]) else _timestamp(row["finished_at"]),
        duration_s=None if _missing(row["duration_s"]) else float(row["duration_s"]),
        error=error,
        output_path=None if _missing(row["output_path"]) else Path(row["output_path"]),
        configs_proposed=proposed,
        pid=int(row["pid"]),
    )


def _json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def _timestamp(value) -> datetime:
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value


def _missing(value) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, str) and pd.isna(value))
