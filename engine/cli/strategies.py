"""`wb strategies`: what can be backtested, swept and traded, with its parameters."""

from __future__ import annotations

import warnings

import click

from engine.cli._common import emit_json, json_option


@click.command()
@json_option
def strategies(as_json):
    """List the strategies (built-in and your own), where each comes from, and its parameters.

    Your own: modules in the folders of --strategy-path (env WB_STRATEGY_PATH), and packages
    with a `trading_workbench.strategies` entry point. A module that fails to load is named
    with its file and line (exit code 2); the others are listed all the same.
    """
    from engine import strategies as registry
    from engine.strategies.plugins import UserStrategyWarning

    with warnings.catch_warnings():  # the problems are listed below, one line each
        warnings.simplefilter("ignore", UserStrategyWarning)
        names = registry.names()
    rows = []
    for name in names:
        strategy = registry.about(name)  # its declaration: the listing computes nothing
        rows.append({
            "name": name,
            "summary": strategy.summary,
            "origin": registry.origin(strategy),
            "signals_known": strategy.signals_known,
            "params": {
                key: {
                    "type": getattr(f.annotation, "__name__", str(f.annotation)),
                    "default": None if f.is_required() else f.default,
                    "description": f.description,
                }
                for key, f in strategy.params.model_fields.items()
            },
        })
    problems = registry.load_problems()
    if as_json:
        emit_json({"strategies": rows, "load_problems": [p.__dict__ for p in problems]})
        return 2 if problems else 0
    for row in rows:
        click.echo(f"{row['name']}: {row['summary']}")
        click.echo(f"    from {row['origin']}")
        for key, p in row["params"].items():
            about = f"  {p['description']}" if p["description"] else ""
            click.echo(f"    {key:16} {p['type']:6} default {p['default']}{about}")
    for problem in problems:
        click.echo(f"error: could not load {problem.describe()}", err=True)
    if problems:
        click.echo(
            "  what to do: fix that module (the strategies listed above work meanwhile)", err=True
        )
        return 2
    return 0


COMMANDS = [strategies]
