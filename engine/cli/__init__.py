"""The `wb` command line: one entry for ingest, research, the live loop, jobs and the app.

Each domain keeps its commands in its own module here; this file only wires them up and
turns deliberate errors into one clear line and a non-zero exit (``--debug`` shows the
traceback).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import click

from engine.cli._common import Context

# Modules whose click commands become `wb` subcommands, in the order `wb --help` lists them.
COMMAND_MODULES = [
    "engine.cli.data",
    "engine.cli.strategies",
    "engine.cli.backtest",
    "engine.cli.demo",
    "engine.cli.configs",
    "engine.cli.research_runs",
    "engine.cli.jobs",
    "engine.cli.live",
    "engine.cli.books",
    "engine.cli.proposals",
    "engine.cli.drift",
    "engine.cli.limits",
    "engine.cli.risk",
    "engine.cli.earnings",
    "engine.cli.store",
    "engine.cli.app",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the store, runs and exports live [env WB_DATA_DIR; default ./data].",
)
@click.option(
    "--strategy-path",
    metavar="DIR[:DIR...]",
    help="Folders of your own strategy modules, loaded beside the built-ins (and by the "
    "notebooks, jobs and Ray workers this command starts) [env WB_STRATEGY_PATH].",
)
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, strategy_path: str | None, debug: bool) -> None:
    """Trading Workbench: research, validate and trade US-equity strategies."""
    data_dir = data_dir or Path(os.environ.get("WB_DATA_DIR") or "data")
    if strategy_path:
        # Through the environment, so that every process this command starts (papermill
        # kernels, jobs, Ray workers, the control room) loads the same strategies.
        os.environ["WB_STRATEGY_PATH"] = strategy_path
    ctx.obj = Context(data_dir=data_dir, debug=debug)


def _register() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `wb` console script."""
    from engine.cli._common import run_cli

    sys.exit(run_cli(cli, argv))
