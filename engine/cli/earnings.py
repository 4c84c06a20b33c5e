"""`wb earnings refresh|import|show`: the earnings dates the gate's earnings blackout reads.

Engine imports happen inside the commands so that `wb --help` stays quick.
"""

from __future__ import annotations

import click

from engine.cli._common import Context, emit_json, json_option, listing, pass_context, split_symbols
from engine.cli.configs import _actor, user_option


@click.group()
def earnings():
    """Earnings dates, for the risk gate's earnings blackout (limit earnings_blackout_sessions).

    Dates come from Yahoo Finance (`refresh`, also the refresh-earnings job) or a CSV
    (`import`); the gate reads every source alike.
    """


@earnings.command("refresh")
@click.option(
    "--symbols",
    default=None,
    help="Comma-separated tickers [default: the approved configs' universes and held symbols].",
)
@user_option
@json_option
@pass_context
def refresh(ctx: Context, symbols, user, as_json):
    """Fetch the earnings dates from Yahoo Finance; offline, says so and keeps the stored ones."""
    from engine.data import earnings as dates
    from engine.risk.sessions import new_york_date
    from engine.store.events import utcnow

    store = ctx.store()
    wanted = split_symbols(symbols) or _tradable(store)
    if wanted:
        done = dates.refresh(store, wanted, actor=_actor(user))
    else:  # the scheduled job on a new data dir: nothing to do is not a failure
        done = dates.Refresh(skipped="no approved config and nothing held (or name --symbols)")
    if as_json:
        emit_json({"found": done.found, "failed": done.failed, "skipped": done.skipped})
        return
    click.echo(done.summary(new_york_date(utcnow())))


@earnings.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@user_option
@json_option
@pass_context
def import_(ctx: Context, path, user, as_json):
    """Load earnings dates from a CSV with a header symbol,date (dates YYYY-MM-DD); all or nothing."""
    from engine.data import earnings as dates

    rows = dates.import_csv(ctx.store(), path, actor=_actor(user))
    symbols = sorted(rows["symbol"].unique())
    if as_json:
        emit_json({"rows": len(rows), "symbols": symbols})
        return
    click.echo(
        f"imported {len(rows)} earnings date(s) for {len(symbols)} symbol(s): {', '.join(symbols)}"
    )


@earnings.command("show")
@click.argument("symbols", nargs=-1)
@json_option
@pass_context
def show(ctx: Context, symbols, as_json):
    """The stored earnings dates (of SYMBOLS, or all), with their source."""
    from engine.data import earnings as dates

    rows = dates.stored(ctx.store(), [s.upper() for s in symbols] or None)
    listing(rows, as_json, lambda row: f"{row.symbol:8} {row.date:%Y-%m-%d}  {row.source}",
            empty="no earnings dates stored (wb earnings refresh, or wb earnings import FILE)")


def _tradable(store) -> list[str]:
    """What the gate may be asked to buy: the approved configs' universes and held symbols."""
    from engine.live.book_queries import held_symbols
    from engine.research.config_registry import approved_configs

    universe = {s for config in approved_configs(store) for s in config.universe}
    return sorted(universe | set(held_symbols(store)))


COMMANDS = [earnings]
