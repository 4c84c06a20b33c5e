"""`wb positions`, `wb orders` and `wb fills`: one book as the control room shows it, from the shell.

Each reads the book through the broker-neutral queries of :mod:`engine.live.book_queries`:
the book named with ``--book``, else the running loop's, else the one traded last (``wb
books`` lists them). Prices are traded prices, in US dollars, as the broker filled them and
the loop marked them. Engine imports happen inside the commands so that `wb --help` stays
quick.
"""

from __future__ import annotations

import click

from engine.cli._common import Context, emit_json, format_table, json_option, pass_context

date_type = click.DateTime(formats=["%Y-%m-%d"])
book_option = click.option(
    "--book",
    help="The book, e.g. paper:demo or alpaca:paper [the running loop's, else the last traded].",
)
limit_option = click.option(
    "--limit", type=click.IntRange(min=1), default=500, show_default=True, help="Newest rows shown."
)
symbols_option = click.option("--symbols", help="Only these symbols, comma-separated.")
since_option = click.option("--since", type=date_type, help="Only from this date, YYYY-MM-DD.")
PRICES = "prices as traded, US$"
ORDER_STATUSES = ["open", "filled", "partially_filled", "canceled", "expired", "rejected"]


def _shown(ctx: Context, book: str | None) -> tuple[object, str | None]:
    from engine.live import book_queries

    store = ctx.store()
    return store, book_queries.book_to_show(store, book)


def _symbols(text):
    from engine.cli._common import split_symbols

    return split_symbols(text)


@click.command()
@book_option
@json_option
@pass_context
def positions(ctx: Context, book, as_json):
    """The book's open positions as last marked: quantity, average cost, mark, P&L and stop."""
    from engine.live import book_queries

    store, shown = _shown(ctx, book)
    held = book_queries.held(store, shown)
    rows = held.positions.assign(
        value=held.positions["qty"] * held.positions["price"],
        unrealised_pnl=held.positions["qty"]
        * (held.positions["price"] - held.positions["avg_price"]),
    )
    if as_json:
        emit_json({"book": shown, "as_of": held.as_of, "source": held.source, "prices": "traded",
                   "currency": "USD", "equity": held.equity, "cash": held.cash,
                   "positions": rows})  # fmt: skip
        return 0
    if shown is None:
        click.echo("no book has traded in this data dir yet")
        return 0
    money = "" if held.equity is None else f"; equity {_usd(held.equity)}, cash {_usd(held.cash)}"
    click.echo(f"{held.source} ({PRICES}){money}")
    if rows.empty:
        click.echo("no open positions")
        return 0
    click.echo(format_table(rows, [
        ("symbol", "symbol", str), ("qty", "qty", _qty), ("avg_price", "avg cost", _usd),
        ("price", "mark", _usd), ("value", "value", _usd), ("unrealised_pnl", "unrealised P&L", _usd),
        ("stop_price", "stop", _usd), ("config_id", "config", _text),
    ]))  # fmt: skip
    return 0


@click.command()
@book_option
@symbols_option
@click.option(
    "--status",
    type=click.Choice(ORDER_STATUSES),
    help="Only orders in this status ('open': any that can still fill).",
)
@since_option
@limit_option
@json_option
@pass_context
def orders(ctx: Context, book, symbols, status, since, limit, as_json):
    """The book's newest orders, with the loop's purpose, config and reason where it sent them."""
    from engine.live import book_queries

    store, shown = _shown(ctx, book)
    found = book_queries.orders(store, shown, symbols=_symbols(symbols), status=status,
                                since=since and since.date(), limit=limit)  # fmt: skip
    return _listing(shown, "orders", found, as_json, [
        ("submitted_at", "submitted", _when), ("symbol", "symbol", str), ("side", "side", str),
        ("qty", "qty", _qty), ("type", "type", str), ("limit_price", "limit", _usd),
        ("stop_price", "stop", _usd), ("status", "status", str), ("filled_qty", "filled", _qty),
        ("filled_avg_price", "avg fill", _usd), ("purpose", "purpose", _text),
        ("client_order_id", "client order id", str), ("reason", "reason", _text),
    ])  # fmt: skip


@click.command()
@book_option
@symbols_option
@since_option
@limit_option
@json_option
@pass_context
def fills(ctx: Context, book, symbols, since, limit, as_json):
    """The book's newest fills, each beside the close it was decided at."""
    from engine.live import book_queries

    store, shown = _shown(ctx, book)
    found = book_queries.fills(store, shown, symbols=_symbols(symbols),
                               since=since and since.date(), limit=limit)  # fmt: skip
    found = found.assign(notional=found["qty"] * found["price"])
    return _listing(shown, "fills", found, as_json, [
        ("filled_at", "filled", _when), ("symbol", "symbol", str), ("side", "side", str),
        ("qty", "qty", _qty), ("price", "price", _usd), ("notional", "notional", _usd),
        ("fee", "fee", _usd), ("decision_bar", "decided on", _text),
        ("decision_price", "decision close", _usd), ("purpose", "purpose", _text),
        ("config_id", "config", _text), ("client_order_id", "client order id", str),
    ])  # fmt: skip


def _listing(shown: str | None, what: str, found, as_json: bool, columns) -> int:
    """A book's orders or fills: JSON, or a line saying whose they are and an aligned table."""
    if as_json:
        emit_json({"book": shown, "prices": "traded", "currency": "USD", what: found})
        return 0
    if shown is None:
        click.echo("no book has traded in this data dir yet")
        return 0
    click.echo(f"{shown}: {len(found)} {what}, newest first ({PRICES}; times UTC)")
    if not found.empty:
        click.echo(format_table(found, columns))
    return 0


def _missing(value) -> bool:
    return value is None or value != value  # None, NaN, NaT


def _usd(value) -> str:
    from engine.risk.gate_rules import money

    return "-" if _missing(value) else money(value)


def _qty(value) -> str:
    from engine.risk.gate_rules import shares

    return "-" if _missing(value) else shares(value)


def _when(value) -> str:
    return "-" if _missing(value) else f"{value:%Y-%m-%d %H:%M}"


def _text(value) -> str:
    return "-" if _missing(value) or value == "" else str(value)


COMMANDS = [positions, orders, fills]
