"""`wb drift`: a config's live trading explained against its backtest over the same sessions.

Engine imports happen inside the command so that `wb --help` stays quick.
"""

from __future__ import annotations

import click

from engine.cli._common import Context, emit_json, format_table, json_option, pass_context


@click.command()
@click.option("--config", "config_id", required=True, help="The config id (or a unique prefix).")
@click.option(
    "--book", help="The book it traded in, e.g. paper:demo [the one that traded it last]."
)
@click.option(
    "--fills", "show_fills", is_flag=True, help="Also list every fill beside the backtest's."
)
@json_option
@pass_context
def drift(ctx: Context, config_id, book, show_fills, as_json):
    """Explain a config's live equity against its backtest over the sessions it traded.

    Re-runs the backtest on the stored bars from the first session the loop stepped, with
    the book's starting cash for the config, matches every live fill to the backtest's and
    splits the gap into trades missed or extra (gate denials, trader commands, late or
    changed data), fill prices against the model (slippage, in bps), costs and sizing.
    """
    from engine.live.drift import drift_report

    report = drift_report(ctx.store(), config_id, book)
    if as_json:
        emit_json(report.to_dict())
        return 0
    for line in report_lines(report, show_fills=show_fills):
        click.echo(line)
    return 0


def report_lines(report, *, show_fills: bool = False) -> list[str]:
    """The drift report as a person reads it: the gap, its parts by cause, then each part."""
    from engine.risk.gate_rules import money

    equity = report.equity
    slip = report.mean_slippage_bps
    lines = [
        f"config {report.config_id} in {report.book}, {report.start} to {report.end} "
        "(prices as traded by the loop, US$)",
        f"live equity {money(equity['live'].iloc[-1])}, backtest {money(equity['backtest'].iloc[-1])}: "
        f"gap {money(report.gap)} (+ = live ahead)",
        "mean slippage against the model: "
        + ("no matched fills" if slip is None else f"{slip:+.1f} bps (+ = cost)"),
        *report.notes,
        "",
    ]
    parts = report.by_cause()
    if parts.empty:
        lines.append("nothing to explain: the book traded as the backtest did")
    else:
        lines.append(format_table(parts, [("category", "part", str), ("cause", "cause", str),
                                          ("amount", "amount", money), ("items", "items", str)]))  # fmt: skip
    lines.append(f"{'unexplained':<30} {money(report.unexplained)}")
    shown = report.attribution[report.attribution["category"] == "trades"]
    if len(shown):
        lines += ["", "trades:"]
        lines += [f"  {r.symbol} entered {r.entry_date}: {r.cause}, {money(r.amount)}: {r.detail}"
                  for r in shown.itertuples()]  # fmt: skip
    if show_fills and len(report.fills):
        lines += ["", "fills (live beside the backtest's):"]
        lines.append(format_table(report.fills, [
            ("bar_date", "session", str), ("symbol", "symbol", str), ("side", "side", str),
            ("qty", "live qty", _number), ("price", "live price", _usd),
            ("model_qty", "model qty", _number), ("model_price", "model price", _usd),
            ("slippage_bps", "slip bps", _bps), ("match", "match", str), ("cause", "cause", str),
        ]))  # fmt: skip
    return lines


def _usd(value) -> str:
    from engine.risk.gate_rules import money

    return "-" if value != value else money(value)


def _number(value) -> str:
    return "-" if value != value else f"{value:,.4g}"


def _bps(value) -> str:
    return "-" if value != value else f"{round(value, 1) or 0.0:+.1f}"  # never "-0.0"


COMMANDS = [drift]
