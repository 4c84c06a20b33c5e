"""`wb strategies`: what can be backtested, swept and traded, with its parameters."""

from __future__ import annotations

import click

from engine.cli._common import emit_json, json_option


@click.command()
@json_option
def strategies(as_json):
    """List the registered strategies, what each trades on, and its parameters."""
    from engine import strategies as registry

    rows = []
    for name in registry.names():
        strategy = registry.get(name)
        rows.append({
            "name": name,
            "summary": strategy.summary,
            "params": {
                key: {
                    "type": getattr(f.annotation, "__name__", str(f.annotation)),
                    "default": None if f.is_required() else f.default,
                    "description": f.description,
                }
                for key, f in strategy.params.model_fields.items()
            },
        })
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']}: {row['summary']}")
        for key, p in row["params"].items():
            about = f"  {p['description']}" if p["description"] else ""
            click.echo(f"    {key:16} {p['type']:6} default {p['default']}{about}")


COMMANDS = [strategies]
