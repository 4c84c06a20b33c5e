"""`wb proposals`, `wb approve ID`, `wb reject ID`: entries waiting for a trader.

When the risk limits or a config ask for approval (``approve_entries``), the loop proposes
its entries instead of sending them (:mod:`engine.live.approvals`). These commands list
them and queue a trader's answer for the loop, exactly as the control room's Orders page
does. Engine imports happen inside the commands so that `wb --help` stays quick.
"""

from __future__ import annotations

import click

from engine.cli._common import Context, emit_json, json_option, pass_context
from engine.cli.configs import _actor, user_option


@click.command()
@click.option("--book", help="This book's proposals, e.g. paper:demo [the book shown by `wb books`].")
@click.option("--all", "show_all", is_flag=True, help="Also those decided (sent, rejected, expired).")
@json_option
@pass_context
def proposals(ctx: Context, book, show_all, as_json):
    """List the entries waiting for a trader's approval, with their reasons and expiry.

    Prices are as traded. Approve one with `wb approve ID`, refuse it with `wb reject ID`.
    """
    from engine.live import approvals, book_queries

    store = ctx.store()
    shown = book_queries.book_to_show(store, book)
    found = approvals.listed(store, shown, waiting_only=not show_all)  # no book yet: every one
    if as_json:
        emit_json({"book": shown, "proposals": [_row(p) for p in found]})
        return 0
    if not found:
        click.echo(f"no entry waits for approval in {shown or 'any book'}")
        return 0
    for p in found:
        click.echo(f"{p.describe()}  {p.state}, expires {p.expires_at:%Y-%m-%d %H:%M} UTC")
        for name in ("signal", "size", "stop", "target", "risk"):
            click.echo(f"    {name:7} {p.reasons.get(name, '')}")
        click.echo(f"    why     {p.why}" + (f"\n    note    {p.note}" if p.note else ""))
    return 0


def _row(p) -> dict:
    return {
        "id": p.id, "book": p.book, "state": p.state, "symbol": p.symbol, "qty": p.qty,
        "price": p.price, "notional": p.notional, "config_id": p.config_id,
        "client_order_id": p.client_order_id, "bar": p.bar, "why": p.why,
        "reasons": {k: v for k, v in p.reasons.items() if k != "equity"},
        "expires_at": p.expires_at.isoformat(), "decided_by": p.state_by, "note": p.note,
    }  # fmt: skip


def _answer(ctx: Context, proposal_id: int, user, as_json, *, approve: bool, reason: str = ""):
    from engine.live import approvals

    actor = _actor(user) or "cli"
    command_id = approvals.ask(ctx.store(), proposal_id, actor, approve=approve, reason=reason)
    what = "approval" if approve else "rejection"
    if as_json:
        emit_json({"command_id": command_id, "proposal_id": proposal_id, "status": "pending"})
        return 0
    click.echo(
        f"{what} of proposal #{proposal_id} queued as command {command_id}: the live loop "
        "applies it at its next step (`wb proposals --all` shows what became of it)"
    )
    return 0


@click.command()
@click.argument("proposal_id", type=click.IntRange(min=1))
@user_option
@json_option
@pass_context
def approve(ctx: Context, proposal_id, user, as_json):
    """Approve a proposed entry: the loop sends it through the risk gate, once."""
    return _answer(ctx, proposal_id, user, as_json, approve=True)


@click.command()
@click.argument("proposal_id", type=click.IntRange(min=1))
@click.option("--reason", required=True, help="Why, for the audit trail.")
@user_option
@json_option
@pass_context
def reject(ctx: Context, proposal_id, reason, user, as_json):
    """Reject a proposed entry: it is never sent."""
    return _answer(ctx, proposal_id, user, as_json, approve=False, reason=reason)


COMMANDS = [proposals, approve, reject]
