"""`wb ingest`, `wb bars` and `wb data check`: getting bars in and looking at them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.cli._common import Context, emit_json, json_option, listing, pass_context, split_symbols
from engine.data.bar_sizes import BAR_SIZES, DAILY
from engine.data.sources import SOURCES, SYNTHETIC_SOURCES, make_source
from engine.errors import InputError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

#: engine.data.quality.Policy's values, spelled out so that `wb --help` needs no pandas
#: (tests/data/test_ingest.py holds the two equal).
POLICIES = ("reject", "drop", "flag")

date_type = click.DateTime(formats=["%Y-%m-%d"])
bar_size_option = click.option(
    "--bar-size", type=click.Choice(BAR_SIZES), default=DAILY, show_default=True,
    help="Bar size: 1m, 5m, 15m, 30m, 1h (exchange time, New York) or 1d.")
SYNTHETIC_NOTE = "SYNTHETIC: generated from real daily bars, not real trades"


def _day(value):
    return None if value is None else value.date()


def _label(sources) -> str:
    """The source names, with SYNTHETIC spelled out when any of them is."""
    names = sorted(set(sources))
    text = ", ".join(names) or "none"
    return f"{text} ({SYNTHETIC_NOTE})" if SYNTHETIC_SOURCES.intersection(names) else text


@click.command()
@click.option("--source", type=click.Choice(SOURCES), default="sample", show_default=True,
              help="sample: bundled real daily bars (with an intraday --bar-size: SYNTHETIC bars "
                   "generated from them); csv: a file (--path); yahoo: yfinance; alpaca: Alpaca market "
                   "data (keys from APCA_API_KEY_ID / APCA_API_SECRET_KEY).")
@click.option("--symbols", help="Comma-separated tickers [default: every symbol the source has; "
                                "yahoo and alpaca need them].")
@click.option("--start", type=date_type, help="First session, YYYY-MM-DD.")
@click.option("--end", type=date_type, help="Last session, YYYY-MM-DD (inclusive).")
@bar_size_option
@click.option("--extended-hours", is_flag=True,
              help="Keep pre- and post-market bars too (intraday only; stored apart from the "
                   "regular session and read only when asked for).")
@click.option("--path", type=click.Path(path_type=Path), help="The CSV file for --source csv.")
@click.option("--date-format",
              help="strptime format of the CSV's dates, e.g. %d/%m/%Y [default: ISO 8601 only, so "
                   "02/01/2014 is refused rather than guessed].")
@click.option("--feed", type=click.Choice(["iex", "sip"]),
              help="Alpaca feed [default: env WB_ALPACA_FEED, else iex; sip needs a paid plan].")
@click.option("--on-error", "policy", type=click.Choice(POLICIES), default="reject",
              show_default=True,
              help="Rows failing a check: reject the whole batch, drop them, or keep and flag them.")
@json_option
@pass_context
def ingest(ctx: Context, source, symbols, start, end, bar_size, extended_hours, path, date_format,
           feed, policy, as_json):
    """Load bars into the store (only those it lacks; running it twice changes nothing)."""
    from engine.data.ingest import ingest as run_ingest

    chosen = make_source(source, path=path, bar_size=bar_size, date_format=date_format, feed=feed)
    result = run_ingest(
        ctx.store(), chosen, split_symbols(symbols), _day(start), _day(end),
        bar_size=bar_size, extended_hours=extended_hours, policy=policy, actor=_actor(),
        progress=not as_json,
    )
    if as_json:
        emit_json(result.as_dict())
        return
    click.echo(
        f"{_label([result.source])}: {result.rows_added} {result.bar_size} bars added,"
        f" {result.rows_already_stored} already stored, {result.rows_dropped} dropped,"
        f" for {len(result.symbols)} symbol(s)"
    )
    if not result.report.findings.empty:
        click.echo(result.report.describe())
    click.echo(_summary_text(ctx, result.bar_size))


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


def store_summary(store, bar_size: str | None = DAILY) -> pd.DataFrame:
    """Per symbol (and bar size): first and last session, stored bars, sources."""
    from engine.data.repository import stored_summary

    return stored_summary(store, bar_size)


def _summary_text(ctx: Context, bar_size: str) -> str:
    summary = store_summary(ctx.store(), bar_size)
    if summary.empty:
        return f"the store has no {bar_size} bars yet"
    lines = [f"store {ctx.store().path}: {int(summary['bars'].sum())} {bar_size} bars, {len(summary)} symbols"]
    lines += [f"  {r.symbol:6} {r.first} .. {r.last}  {r.bars:8d} bars  {_label(r.sources.split(','))}"
              for r in summary.itertuples()]
    return "\n".join(lines)


@click.command()
@click.argument("symbol")
@click.option("--start", type=date_type, help="First session, YYYY-MM-DD.")
@click.option("--end", type=date_type, help="Last session, YYYY-MM-DD (inclusive).")
@bar_size_option
@click.option("--extended-hours", is_flag=True, help="Show pre- and post-market bars too (intraday).")
@click.option("--adjusted", is_flag=True, help="Show split- and dividend-adjusted prices.")
@json_option
@pass_context
def bars(ctx: Context, symbol, start, end, bar_size, extended_hours, adjusted, as_json):
    """Show stored bars for SYMBOL (as traded, unless --adjusted; intraday in New York time)."""
    from engine.data.repository import load_bars

    symbol = symbol.strip().upper()
    loaded = load_bars(ctx.store(), [symbol], _day(start), _day(end), adjust=adjusted,
                       bar_size=bar_size, extended_hours=extended_hours)
    frame = loaded.to_long().drop(columns="symbol")
    prices = "adjusted for splits and dividends" if adjusted else "as traded"
    if as_json:
        emit_json({"symbol": symbol, "bar_size": bar_size, "adjusted": adjusted,
                   "timezone": "America/New_York" if loaded.is_intraday else None,
                   "extended_hours": extended_hours, "sources": list(loaded.sources),
                   "synthetic": loaded.synthetic, "bars": frame})
        return
    hours = ", extended hours" if extended_hours else (", regular hours" if loaded.is_intraday else "")
    zone = ", New York time" if loaded.is_intraday else ""
    click.echo(f"{symbol} {bar_size} bars, {prices}{zone}{hours}; source: {_label(loaded.sources)}")
    if loaded.is_intraday:
        frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M")
    else:
        frame["date"] = frame["date"].dt.date
    import pandas as pd  # only when bars are printed: `wb --help` stays light

    with pd.option_context("display.max_rows", 40, "display.width", 120):
        click.echo(frame.to_string(index=False) if len(frame) <= 40 else frame)


@click.group()
def data():
    """Inspect the stored bars and corporate actions."""


@data.command("check")
@click.option("--symbols", help="Comma-separated tickers [default: all stored].")
@click.option("--bar-size", type=click.Choice(BAR_SIZES),
              help="Only this bar size [default: every bar size stored].")
@json_option
@pass_context
def data_check(ctx: Context, symbols, bar_size, as_json):
    """Re-apply every quality check to the stored bars: range, bars, errors, warnings by check.

    Finds bad rows whatever let them in (an older version, a hand edit). Exits 1 when it
    finds errors, so a script or job can stop on them.
    """
    from engine.data.quality import QualityReport, check_bars
    from engine.data.repository import read_rows, stored_splits

    store = ctx.store()
    wanted = split_symbols(symbols)
    summary = store_summary(store, bar_size)
    if wanted:
        unknown = sorted(set(wanted) - set(summary["symbol"]))
        if unknown:
            size = f" {bar_size}" if bar_size else ""
            raise NotFoundError(f"no stored{size} bars for {', '.join(unknown)}",
                                hint="ingest them first with wb ingest")
        summary = summary[summary["symbol"].isin(wanted)]
    if summary.empty:
        raise InputError("the store has no bars to check", hint="run wb ingest --source sample first")
    splits = stored_splits(store, summary["symbol"].unique().tolist())
    per_symbol, reports = [], []
    for size, group in summary.groupby("bar_size", sort=False):
        # Daily bars in one go; intraday bars a symbol at a time, to bound memory.
        chunks = [group] if size == DAILY else [group.iloc[[i]] for i in range(len(group))]
        for chunk in chunks:
            rows = read_rows(store, chunk["symbol"].tolist(), bar_size=size, extended_hours=True)
            report = check_bars(rows.drop(columns="source"), bar_size=size,
                                extended_hours=bool(size != DAILY), splits=splits)
            reports.append(QualityReport(report.findings.assign(bar_size=size), report.rows_checked))
            per_symbol += _per_symbol(chunk, report)
    report = QualityReport.combine(reports)
    errors = len(report.errors)
    if as_json:
        emit_json({"symbols": per_symbol, "findings": report.findings.drop(columns="row"), "errors": errors})
        return 1 if errors else 0
    for s in per_symbol:
        detail = ", ".join(f"{k} {v}" for k, v in s["checks"].items()) or "clean"
        synthetic = "  SYNTHETIC" if s["synthetic"] else ""
        click.echo(f"{s['symbol']:6} {s['bar_size']:>3} {s['first']} .. {s['last']} {s['bars']:8d} bars  "
                   f"{s['errors']} errors, {s['warnings']} warnings  ({detail}){synthetic}")
    if errors:
        click.echo("\n" + report.describe(limit=20))
        click.echo("\nerrors found: delete or re-ingest those bars; research on them cannot be trusted",
                   err=True)
    return 1 if errors else 0


@data.group("actions")
def actions():
    """Splits and cash dividends: what the paper broker applies to a holding on its ex-date,
    and what reconciliation with Alpaca takes as explained."""


@actions.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@json_option
@pass_context
def actions_import(ctx: Context, path, as_json):
    """Load splits and dividends from a CSV: header symbol,date,split_ratio,dividend[,pay_date]
    (dates YYYY-MM-DD, a cell empty when there is none); all or nothing."""
    from engine.data import corporate_actions

    splits, dividends = corporate_actions.import_csv(ctx.store(), path, actor=_actor())
    if as_json:
        emit_json({"splits": splits, "dividends": dividends})
        return
    click.echo(f"imported {splits} split(s) and {dividends} dividend(s) from {Path(path).name}")


@actions.command("show")
@click.argument("symbols", nargs=-1)
@json_option
@pass_context
def actions_show(ctx: Context, symbols, as_json):
    """The stored splits and dividends (of SYMBOLS, or all), with their source."""
    from engine.data import corporate_actions

    rows = corporate_actions.stored(ctx.store(), [s.upper() for s in symbols] or None)
    listing(rows, as_json, _action_line,
            empty="no splits or dividends stored (wb ingest keeps a source's; or wb data actions import FILE)")


def _action_line(row) -> str:
    """A stored split or dividend in one line: symbol, ex-date, what it was, its source."""
    import pandas as pd

    if row.kind == "split":
        what = f"split {row.ratio:g} new shares per old"
    else:
        paid = "" if pd.isna(row.pay_date) else f", paid {row.pay_date:%Y-%m-%d}"
        what = f"dividend {row.amount:g}/share{paid}"
    return f"{row.symbol:8} {row.ex_date:%Y-%m-%d}  {what}  ({row.source})"


@actions.command("applied")
@click.option("--book", help="The book, e.g. paper:demo [the running loop's, else the last traded].")
@json_option
@pass_context
def actions_applied(ctx: Context, book, as_json):
    """The splits and dividends a book took in: shares before and after, cash (traded prices, US$)."""
    from engine.live import book_queries

    store = ctx.store()
    shown = book_queries.book_to_show(store, book)
    rows = book_queries.adjustments(store, shown)
    if as_json:
        emit_json({"book": shown, "adjustments": rows})
        return
    if rows.empty:
        click.echo(f"{shown or 'no book'}: no split or dividend taken in")
        return
    click.echo(f"{shown} (prices as traded, US$)")
    for row in rows.itertuples():
        what = f"split {row.ratio:g}:1" if row.kind == "split" else f"dividend {row.amount:g}/share"
        click.echo(f"{row.ex_date:%Y-%m-%d}  {row.symbol:8} {what:18} {row.qty_before:g} -> "
                   f"{row.qty_after:g} shares  cash {row.cash:+,.2f}")


def _per_symbol(summary: pd.DataFrame, report) -> list[dict]:
    counts = report.summary()
    out = []
    for r in summary.itertuples():
        mine = counts[counts["symbol"] == r.symbol]
        findings = report.findings[report.findings["symbol"] == r.symbol]
        missing = findings.loc[findings["check"] == "missing_bars", "count"]
        entry = {
            "symbol": r.symbol, "bar_size": r.bar_size, "first": r.first, "last": r.last,
            "bars": int(r.bars), "sources": r.sources.split(","),
            "synthetic": bool(SYNTHETIC_SOURCES.intersection(r.sources.split(","))),
            "errors": int(mine.loc[mine["severity"] == "error", "count"].sum()),
            "warnings": int(mine.loc[mine["severity"] == "warning", "count"].sum()),
            "checks": {row.check: int(row.count) for row in mine.itertuples()},
        }
        if len(missing):
            entry["bars_missing"] = int(missing.sum())
        out.append(entry)
    return out


COMMANDS = [ingest, bars, data]
