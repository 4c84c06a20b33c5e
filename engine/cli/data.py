"""`wb ingest`, `wb bars` and `wb data check`: getting bars in and looking at them."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from engine.cli._common import Context, emit_json, json_option, pass_context, split_symbols
from engine.data.quality import Policy, check_bars
from engine.data.sources import SOURCES, make_source
from engine.errors import InputError, NotFoundError

date_type = click.DateTime(formats=["%Y-%m-%d"])


def _day(value):
    return None if value is None else value.date()


@click.command()
@click.option("--source", type=click.Choice(SOURCES), default="sample", show_default=True,
              help="sample: bundled real bars; csv: a file (--path); yahoo: yfinance.")
@click.option("--symbols", help="Comma-separated tickers [default: every symbol the source has; yahoo needs them].")
@click.option("--start", type=date_type, help="First date, YYYY-MM-DD.")
@click.option("--end", type=date_type, help="Last date, YYYY-MM-DD (inclusive).")
@click.option("--path", type=click.Path(path_type=Path), help="The CSV file for --source csv.")
@click.option("--on-error", "policy", type=click.Choice([p.value for p in Policy]), default="reject",
              show_default=True,
              help="Rows failing a check: reject the whole batch, drop them, or keep and flag them.")
@json_option
@pass_context
def ingest(ctx: Context, source, symbols, start, end, path, policy, as_json):
    """Load daily bars into the store (only dates it lacks; running it twice changes nothing)."""
    from engine.data.ingest import ingest as run_ingest

    result = run_ingest(
        ctx.store(), make_source(source, path=path), split_symbols(symbols), _day(start), _day(end),
        policy=policy, actor=_actor(), progress=not as_json,
    )
    if as_json:
        emit_json(result.as_dict())
        return
    click.echo(
        f"{result.source}: {result.rows_added} bars added, {result.rows_already_stored} already stored,"
        f" {result.rows_dropped} dropped, for {len(result.symbols)} symbol(s)"
    )
    if not result.report.findings.empty:
        click.echo(result.report.describe())
    click.echo(_summary_text(ctx))


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


def store_summary(store) -> pd.DataFrame:
    """Per symbol: first and last date and number of stored bars."""
    summary = store.query(
        "SELECT symbol, min(date) AS first, max(date) AS last, count(*) AS bars"
        " FROM bars GROUP BY symbol ORDER BY symbol"
    )
    for col in ("first", "last"):
        summary[col] = pd.to_datetime(summary[col]).dt.date
    return summary


def _summary_text(ctx: Context) -> str:
    summary = store_summary(ctx.store())
    if summary.empty:
        return "the store has no bars yet"
    lines = [f"store {ctx.store().path}: {int(summary['bars'].sum())} bars, {len(summary)} symbols"]
    lines += [f"  {r.symbol:6} {r.first} .. {r.last}  {r.bars:6d} bars" for r in summary.itertuples()]
    return "\n".join(lines)


@click.command()
@click.argument("symbol")
@click.option("--start", type=date_type, help="First date, YYYY-MM-DD.")
@click.option("--end", type=date_type, help="Last date, YYYY-MM-DD (inclusive).")
@click.option("--adjusted", is_flag=True, help="Show split- and dividend-adjusted prices.")
@json_option
@pass_context
def bars(ctx: Context, symbol, start, end, adjusted, as_json):
    """Show stored bars for SYMBOL (as traded, unless --adjusted)."""
    from engine.data.repository import load_bars

    symbol = symbol.strip().upper()
    loaded = load_bars(ctx.store(), [symbol], _day(start), _day(end), adjust=adjusted)
    frame = loaded.to_long().drop(columns="symbol")
    if as_json:
        emit_json({"symbol": symbol, "adjusted": adjusted, "bars": frame})
        return
    frame["date"] = frame["date"].dt.date
    with pd.option_context("display.max_rows", 40, "display.width", 120):
        click.echo(frame.to_string(index=False) if len(frame) <= 40 else frame)


@click.group()
def data():
    """Inspect the stored bars."""


@data.command("check")
@click.option("--symbols", help="Comma-separated tickers [default: all stored].")
@json_option
@pass_context
def data_check(ctx: Context, symbols, as_json):
    """Report data quality per symbol: range, bars, errors, warnings by check."""
    store = ctx.store()
    wanted = split_symbols(symbols)
    summary = store_summary(store)
    if wanted:
        unknown = sorted(set(wanted) - set(summary["symbol"]))
        if unknown:
            raise NotFoundError(f"no stored bars for {', '.join(unknown)}",
                                hint="ingest them first with wb ingest")
        summary = summary[summary["symbol"].isin(wanted)]
    if summary.empty:
        raise InputError("the store has no bars to check", hint="run wb ingest --source sample first")
    rows = store.query(
        "SELECT date, symbol, open, high, low, close, volume, adj_close FROM bars"
        " WHERE symbol IN (SELECT unnest(?)) ORDER BY symbol, date",
        [summary["symbol"].tolist()],
    )
    rows["date"] = pd.to_datetime(rows["date"])
    report = check_bars(rows)
    counts = report.summary()
    per_symbol = []
    for r in summary.itertuples():
        mine = counts[counts["symbol"] == r.symbol]
        per_symbol.append({
            "symbol": r.symbol, "first": r.first, "last": r.last, "bars": int(r.bars),
            "errors": int(mine.loc[mine["severity"] == "error", "count"].sum()),
            "warnings": int(mine.loc[mine["severity"] == "warning", "count"].sum()),
            "checks": {row.check: int(row.count) for row in mine.itertuples()},
        })
    if as_json:
        findings = report.findings.drop(columns="row")
        emit_json({"symbols": per_symbol, "findings": findings})
        return
    for s in per_symbol:
        detail = ", ".join(f"{k} {v}" for k, v in s["checks"].items()) or "clean"
        click.echo(f"{s['symbol']:6} {s['first']} .. {s['last']} {s['bars']:6d} bars  "
                   f"{s['errors']} errors, {s['warnings']} warnings  ({detail})")


COMMANDS = [ingest, bars, data]
