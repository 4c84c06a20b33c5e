"""`wb demo`: a new user's first run, offline or online."""

from __future__ import annotations

import os
import socket

import click

from engine.cli._common import Context, pass_context

DEMO_UNIVERSE = ["AAPL", "BA", "CAT", "F", "GE", "IBM", "MSFT"]


def yahoo_reachable(timeout: float = 3.0) -> bool:
    """True when Yahoo Finance answers a TCP connection within ``timeout`` seconds."""
    if os.environ.get("WB_OFFLINE"):
        return False
    try:
        with socket.create_connection(("query1.finance.yahoo.com", 443), timeout=timeout):
            return True
    except OSError:
        return False


@click.command()
@click.option("--no-ui", is_flag=True, help="Run the steps and exit (for scripts and tests).")
@click.option("--offline", is_flag=True, help="Do not try Yahoo; use the bundled sample bars.")
@pass_context
def demo(ctx: Context, no_ui: bool, offline: bool):
    """Run the demo: ingest bars (Yahoo if reachable, else the bundled sample) and summarise them."""
    from engine.cli.data import _summary_text
    from engine.data.ingest import ingest
    from engine.data.sources import SampleSource, YahooSource

    store = ctx.store()
    click.echo(f"demo data dir: {ctx.data_dir.resolve()}")
    if not offline and yahoo_reachable():
        click.echo("1. ingesting bars from Yahoo Finance (the network answered)")
        source, symbols, start = YahooSource(), DEMO_UNIVERSE, "2015-01-01"
    else:
        click.echo("1. ingesting the bundled sample bars (Yahoo is not reachable from here, "
                   "or --offline was given)")
        source, symbols, start = SampleSource(), None, None
    result = ingest(store, source, symbols, start, policy="reject", actor="demo")
    click.echo(f"   {result.rows_added} bars added, {result.rows_already_stored} already stored")
    click.echo(_summary_text(ctx))


COMMANDS = [demo]
