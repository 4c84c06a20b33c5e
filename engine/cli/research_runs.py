"""`wb research`: run notebooks with papermill, and look at past runs.

Imports of papermill and the engine happen inside the commands so that `wb --help` stays quick.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from engine.cli._common import Context, emit_json, json_option, pass_context


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


@click.group()
def research():
    """Run research notebooks (papermill) and look at their runs."""


@research.command("run")
@click.argument("notebook", type=click.Path(path_type=Path))
@click.option(
    "-p",
    "--parameter",
    "pairs",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="Set a parameter; VALUE is read as YAML (10, 0.5, true, [AAPL, GE], {fast: [5, 10]}). Repeat.",
)
@click.option(
    "-f",
    "--parameters-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A YAML mapping of parameters; -p values override it.",
)
@click.option("--cell-timeout", type=float, help="Fail the run if one cell takes longer (seconds).")
@json_option
@pass_context
def run_command(ctx: Context, notebook, pairs, parameters_file, cell_timeout, as_json):
    """Execute NOTEBOOK with papermill; keep the executed copy under the data dir and record the run.

    Parameters are checked against the notebook's `parameters` cell before a kernel starts
    (wb research params NOTEBOOK lists them). Exits 1 if a cell fails, 2 for bad parameters.
    """
    from engine.research.notebook_params import parse_cli_parameters
    from engine.research.runs import run_notebook

    parameters = {}
    if parameters_file:
        from engine.config.loading import parse_yaml_mapping, read_text

        text = read_text(parameters_file, what="parameters")
        needs = (
            "a parameters file maps each parameter to its value, e.g. `folds: 4` "
            f"(wb research params {notebook} lists them)"
        )
        parameters.update(parse_yaml_mapping(text, source=str(parameters_file), needs=needs))
    parameters.update(parse_cli_parameters(notebook, pairs))

    record = run_notebook(
        ctx.store(),
        notebook,
        parameters,
        data_dir=ctx.data_dir,
        actor=_actor(),
        progress=not as_json and sys.stderr.isatty(),
        cell_timeout=cell_timeout,
    )
    if as_json:
        emit_json(record.as_dict())
    else:
        click.echo(_summary(record))
    if not record.succeeded:
        sys.exit(1)  # SystemExit: run_cli turns a click Exit into 0


@research.command("list")
@click.option("--status", type=click.Choice(["running", "succeeded", "failed", "abandoned"]))
@click.option("--notebook", help="Only runs of this notebook (its name or path).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@json_option
@pass_context
def list_command(ctx: Context, status, notebook, limit, as_json):
    """The latest research runs, newest first."""
    from engine.research.runs import list_runs

    records = list_runs(ctx.store(), status=status, notebook=notebook, limit=limit)
    if as_json:
        emit_json([r.as_dict() for r in records])
        return
    if not records:
        click.echo("no research runs yet (start one with: wb research run NOTEBOOK)")
        return
    click.echo(
        f"{'run':24} {'notebook':22} {'status':10} {'started (UTC)':19} {'took':>7}  proposed"
    )
    for r in records:
        took = f"{r.duration_s:.1f}s" if r.duration_s is not None else "-"
        proposed = ", ".join(f"{c.config_id} ({c.verdict})" for c in r.configs_proposed) or "-"
        click.echo(
            f"{r.run_id:24} {r.name[:22]:22} {r.status:10} {r.started_at:%Y-%m-%d %H:%M:%S} {took:>7}  {proposed}"
        )


@research.command("show")
@click.argument("run_id")
@json_option
@pass_context
def show_command(ctx: Context, run_id, as_json):
    """One research run: parameters, outcome, error, executed notebook, configs proposed.

    RUN_ID may be a unique prefix of the id.
    """
    from engine.research.runs import get_run

    record = get_run(ctx.store(), run_id)
    if as_json:
        emit_json(record.as_dict())
        return
    click.echo(_summary(record))
    click.echo(f"  notebook:   {record.notebook}")
    click.echo(f"  by:         {record.actor}, started {record.started_at:%Y-%m-%d %H:%M:%S} UTC")
    for name, value in sorted(record.parameters.items()):
        click.echo(f"  parameter:  {name} = {value!r}")


@research.command("params")
@click.argument("notebook", type=click.Path(path_type=Path))
@json_option
def params_command(notebook, as_json):
    """The parameters NOTEBOOK takes, with their types and defaults."""
    from engine.research.notebook_params import INJECTED, notebook_parameters

    parameters = notebook_parameters(notebook)
    if as_json:
        emit_json([{**p.__dict__, "set_by_workbench": p.name in INJECTED} for p in parameters])
        return
    if not parameters:
        click.echo(f"{notebook} has no cell tagged 'parameters'")
        return
    width = max(len(p.name) for p in parameters)
    for p in parameters:
        note = "set by the workbench" if p.name in INJECTED else p.help
        line = f"  {p.name:{width}}  {p.describe_type():14} default {p.default}"
        click.echo(line + (f"  # {note}" if note else ""))


def _summary(record) -> str:
    took = f" in {record.duration_s:.1f}s" if record.duration_s is not None else ""
    lines = [f"run {record.run_id} {record.status}{took}"]
    if record.error:
        lines.append(f"  failed: {record.error.describe()}")
    if record.output_path:
        lines.append(f"  executed notebook: {record.output_path}")
    for config in record.configs_proposed:
        lines.append(f"  proposed config {config.config_id}: {config.verdict}")
    return "\n".join(lines)


COMMANDS = [research]
