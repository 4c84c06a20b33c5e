"""`wb risk stress`: the current book under historical and hypothetical shocks.

Engine imports happen inside the commands so that `wb --help` stays quick.
"""

from __future__ import annotations

import click

from engine.cli._common import Context, emit_json, json_option, pass_context


@click.group()
def risk():
    """The book's risk from the shell."""


@risk.command("stress")
@click.option("--book", default=None, help="The book to stress [default: the newest marked].")
@json_option
@pass_context
def stress(ctx: Context, book, as_json):
    """The book under the worst day and week of 2008, March 2020, a 1987-style day, every
    position -10%, one symbol -30% overnight and correlations to one.

    For each: P&L, the stops that fill (a gap through a stop fills at the gapped price),
    cash and buying power after (a cash account), and the halts the limits in force trip.
    Historical shocks replay each symbol's stored bars where the store has them; the
    others move with the S&P 500, and the notes say which.
    """
    from engine.live.book_stress import stress_book

    report = stress_book(ctx.store(), book)
    if as_json:
        held = report.book
        emit_json(
            {
                "book": held.name,
                "as_of": held.as_of,
                "source": held.source,
                "equity": held.equity,
                "cash": held.cash,
                "week_loss": held.week_loss,
                "positions": [h.__dict__ for h in held.holdings],
                "limits": {
                    k: report.limits.to_mapping()[k]
                    for k in ("daily_loss_limit", "weekly_soft_loss", "weekly_hard_loss")
                },
                "results": [r.to_dict() for r in report.results],
                "notes": list(report.notes),
            }
        )
        return
    for line in report_lines(report):
        click.echo(line)


def report_lines(report) -> list[str]:
    """The stress report as a person reads it: a table, then each shock's stops, halts and notes."""
    from engine.risk.gate_rules import money

    held, limits = report.book, report.limits
    lines = [
        f"Stress test of {held.source}",
        f"equity {money(held.equity)}, cash {money(held.cash)}, {len(held.holdings)} position(s)"
        f"; limits in force: daily loss {limits.daily_loss_limit:.0%}, weekly "
        f"{limits.weekly_soft_loss:.0%} soft / {limits.weekly_hard_loss:.0%} hard"
        + (f"; down {held.week_loss:.1%} this week already" if held.week_loss > 0 else ""),
        *report.notes,
    ]
    if not report.results:
        return lines
    header = f"{'scenario':28} {'P&L':>14} {'% equity':>9} {'stops':>5} {'gapped':>6} {'cash after':>14} {'buying power':>14}  halt"
    lines += ["", header]
    for r in report.results:
        lines.append(
            f"{r.name:28} {money(r.pnl):>14} {r.pnl_pct:>9.1%} {len(r.stops):>5} {len(r.gapped):>6}"
            f" {money(r.cash_after):>14} {money(r.buying_power_after):>14}  {r.halt}"
        )
    for r in report.results:
        lines += ["", f"{r.name}: {r.description}"]
        for s in r.stops:
            how = (
                f"gapped: stop {money(s.stop_price)}, filled at the open {money(s.fill_price)} "
                f"({money(-s.past_stop)} past the stop)"
                if s.gapped
                else f"filled at the stop {money(s.stop_price)}"
            )
            lines.append(f"  stop {s.symbol} (session {s.session}) {how}")
        lines += [f"  halt: {h}" for h in r.halts]
        lines += [f"  note: {n}" for n in r.notes]
    lines += ["", "Buying power after is the cash after (a cash account). Fees are left out."]
    return lines


COMMANDS = [risk]
