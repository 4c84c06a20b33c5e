"""`wb live`, `wb parity`, `wb loop-status`, `wb books` and the trader's commands from the shell.

``wb live`` runs the loop (a replay over stored bars, or paper and live trading on the NYSE
clock); ``wb parity`` checks that a config's replay trades as its backtest; ``wb
kill-switch``, ``wb halt``, ``wb flatten``, ``wb close-position`` and ``wb resume-trading``
queue the same commands the control room does (the running loop applies them and says so).
Engine imports happen inside the commands so that `wb --help` stays quick.
"""

from __future__ import annotations

import click

from engine.brokers import BROKERS
from engine.cli._common import Context, emit_json, json_option, pass_context, split_symbols
from engine.cli.configs import _actor, user_option

date_type = click.DateTime(formats=["%Y-%m-%d"])


def _day(value):
    return None if value is None else value.date()


def _ids(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@click.command()
@click.option(
    "--mode",
    type=click.Choice(["replay", "paper", "live"]),
    default="replay",
    show_default=True,
    help="replay: step through stored bars; paper/live: trade at each bar close of the NYSE "
    "session.",
)
@click.option("--config", "configs", required=True, help="Approved config ids, comma-separated.")
@click.option("--broker", type=click.Choice(list(BROKERS)), default="paper", show_default=True)
@click.option("--start", type=date_type, help="First session to replay, YYYY-MM-DD.")
@click.option("--end", type=date_type, help="Last session to replay (inclusive).")
@click.option(
    "--account", help="Paper account name [replay: one per configs and dates; else 'paper']."
)
@click.option(
    "--i-understand-this-is-real-money",
    "real_money",
    is_flag=True,
    help="Required with --mode live: orders go to Alpaca's live API and trade real money.",
)
@click.option(
    "--adopt-broker-state",
    is_flag=True,
    help="At start-up, take the broker's positions, orders and cash as the truth where the "
    "store disagrees (each difference is recorded) instead of refusing to trade.",
)
@click.option("--webhook", help="Alert webhook URL (Slack/Discord style) [env WB_ALERT_WEBHOOK].")
@click.option("--lookback", type=int, help="Bars of history each step sees (replay too) [300].")
@click.option("--sessions", type=int, help="Paper/live: stop after this many sessions.")
@click.option("--steps", type=int, help="Paper/live: stop after this many steps (bar closes).")
@click.option(
    "--feed",
    help="Paper/live bars: store (the data refresh job's, Yahoo's daily bars), alpaca (REST, "
    "right after each close) or alpaca-stream (the minute-bar stream) [env WB_LIVE_FEED; "
    "store for 1d configs, alpaca for intraday ones].",
)
@click.option(
    "--tick",
    type=float,
    help="Seconds between heartbeats while waiting [default: a quarter of the stale setting, "
    "WB_HEARTBEAT_STALE_S: 30].",
)
@click.option("--progress/--no-progress", default=True, help="Show a progress bar in a replay.")
@json_option
@pass_context
def live(ctx: Context, mode, configs, start, end, sessions, steps, tick, progress, as_json,
         **setup):  # fmt: skip
    """Run the live loop: apply commands, signals, risk gate, orders, reconcile, each close.

    Examples: `wb live --config 5c0f3e9a --start 2012-01-03 --end 2012-12-31` replays a
    config with the paper broker; `wb live --mode paper --config 5c0f3e9a` paper-trades it
    at every NYSE close (a daily config on the data refresh job's bars; an intraday one
    a few seconds after each bar's close, on Alpaca's bars).
    """
    from engine.live.runner import run_market, run_replay
    from engine.live.setup import open_loop

    # ``setup``: --broker, --account, the real-money flag, --adopt-broker-state, --webhook,
    # --lookback and --feed, each as open_loop takes it.
    opened = open_loop(
        ctx.store(), mode=mode, config_ids=_ids(configs), start=_day(start), end=_day(end), **setup
    )
    loop = opened.loop
    if mode == "replay":
        reports = run_replay(loop, opened.days, progress=progress and not as_json)
    else:
        click.echo(
            f"{mode} trading {', '.join(loop.by_id)} on {loop.book}; Ctrl-C to stop", err=True
        )
        try:
            reports = run_market(loop, opened.clock, tick=tick, sessions=sessions, steps=steps)
        except KeyboardInterrupt:
            loop.stop("interrupted")
            raise
    account_now = loop.broker.account()
    summary = {
        "mode": mode,
        "book": loop.book,
        "configs": list(loop.by_id),
        "steps": len(reports),
        "fills": sum(r.fills for r in reports),
        "orders_sent": sum(len(r.submitted) for r in reports),
        "denied": sum(len(r.denied) for r in reports),
        "rejected": sum(len(r.rejected) for r in reports),
        "last_bar": None if loop.last_bar is None else str(loop.last_bar),
        "equity": account_now.equity,
        "cash": account_now.cash,
    }
    if as_json:
        emit_json(summary)
        return
    click.echo(
        f"{summary['book']}: {summary['steps']} steps to {summary['last_bar']}, "
        f"{summary['orders_sent']} orders sent, {summary['fills']} fills, "
        f"{summary['denied']} denied, {summary['rejected']} rejected; "
        f"equity {summary['equity']:,.2f}"
    )


@click.command()
@click.option("--config", "config_id", required=True, help="The config id (or a unique prefix).")
@click.option("--start", type=date_type, help="First date, YYYY-MM-DD [the first stored bar].")
@click.option("--end", type=date_type, help="Last date (inclusive) [the last stored bar].")
@json_option
@pass_context
def parity(ctx: Context, config_id, start, end, as_json):
    """Check that replaying a config through the loop makes its backtest's trades.

    Runs the vectorbt backtest and a bar-by-bar replay with the paper broker over the same
    stored bars and lists both sides' trades and every difference. Exit code 1 when they
    differ.
    """
    from engine.live.parity import bar_text, parity_report

    report = parity_report(ctx.store(), config_id, _day(start), _day(end), progress=not as_json)
    if as_json:
        emit_json(report.to_dict())
        return 0 if report.matches else 1
    click.echo(
        f"config {report.config_id}, {report.start} to {report.end}: "
        f"{len(report.backtest)} trades in the backtest, {len(report.replay)} in the replay; "
        f"final equity {report.backtest_equity:,.2f} vs {report.replay_equity:,.2f}"
    )
    for side, trades in (("backtest", report.backtest), ("replay", report.replay)):
        click.echo(f"{side} trades:")
        for row in trades.itertuples():
            exit_bar = bar_text(row.exit_date) or "open"
            click.echo(
                f"  {row.symbol:6} {bar_text(row.entry_date)} -> {exit_bar:16} "
                f"{row.size:12.4f} @ {row.entry_price:10.4f} -> {row.exit_price:10.4f}"
                f"  pnl {row.pnl:12.2f}"
            )
    if report.approvals:
        click.echo(f"{len(report.approvals)} entr(ies) waited for a trader's approval (not mismatches):")
        for waited in report.approvals:
            click.echo(f"  {waited.line()}")
    if report.matches:
        click.echo("the replay made the same trades: parity holds")
        return 0
    click.echo(f"{len(report.differences)} difference(s):")
    for difference in report.differences:
        click.echo(f"  {difference.line()}")
    return 1


@click.command("loop-status")
@click.option(
    "--stale-after",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds without a heartbeat after which the loop counts as stale (more than 0) "
    "[default: WB_HEARTBEAT_STALE_S, else 120].",
)
@json_option
@pass_context
def loop_status(ctx: Context, stale_after, as_json):
    """Say whether a live loop is running, judged by its heartbeat."""
    from engine.live.heartbeat import loop_status as judged

    health = judged(ctx.store(), stale_after=stale_after)
    if as_json:
        emit_json(health.to_dict())
        return 0 if health.running else 1
    where = (
        f" ({health.mode}, {health.book}, bar {health.bar_date}, {health.trading_state})"
        if health.loop_id
        else ""
    )
    click.echo(f"{health.status}: {health.why}{where}")
    return 0 if health.running else 1


@click.command()
@click.option("--book", help="Show this book's positions, e.g. paper:demo or alpaca:paper.")
@json_option
@pass_context
def books(ctx: Context, book, as_json):
    """List the books in the data dir and show one: the one named, else the running loop's,
    else the one traded last (the book the control room shows)."""
    from engine.live import book_queries

    store = ctx.store()
    known = book_queries.known_books(store)
    shown = book_queries.book_to_show(store, book)
    held = book_queries.held(store, shown)
    if as_json:
        emit_json({"books": [vars(b) for b in known], "shown": shown, "equity": held.equity,
                   "cash": held.cash, "as_of": held.as_of, "source": held.source,
                   "positions": held.positions.to_dict("records")})  # fmt: skip
        return 0
    if not known:
        click.echo("no book has traded in this data dir yet")
        return 0
    for b in known:
        when = f"{b.traded_at:%Y-%m-%d %H:%M} UTC" if b.traded_at else "never"
        click.echo(f"{'*' if b.name == shown else ' '} {b.name:24} {b.mode or 'no loop':7} "
                   f"last traded {when}, bar {b.bar_date or '-'}")  # fmt: skip
    money = "" if held.equity is None else f": equity {held.equity:,.2f}, cash {held.cash:,.2f}"
    click.echo(f"\n{held.source}{money}")
    for row in held.positions.itertuples():
        click.echo(
            f"  {row.symbol:6} {row.qty:12,.4f} @ {row.avg_price:10.2f}, last {row.price:10.2f}"
        )
    return 0


def _queue(ctx: Context, command, user, as_json) -> None:
    from engine.live.commands import submit_command

    command_id = submit_command(ctx.store(), command, _actor(user) or "cli")
    if as_json:
        emit_json({"command_id": command_id, "kind": command.kind, "status": "pending"})
        return
    click.echo(
        f"command {command_id} ({command.kind}) queued: the live loop applies it at its next step"
    )


# The words of engine.risk.states (held to them by tests/live/test_cli.py), written out
# here so that `wb --help` does not load the risk package.


@click.command("kill-switch")
@click.argument("state", type=click.Choice(["on", "off"]))
@user_option
@json_option
@pass_context
def kill_switch(ctx: Context, state, user, as_json):
    """Engage (on) or release (off) the kill switch: no new entries, exits and stops still go.

    The kill switch stops every new entry and cancels open entry orders; exits and
    protective stops still go (trading REDUCING).

    Releasing the kill switch lets entries go again under the risk limits (trading ACTIVE);
    a halt stays until a trader resumes.

    To stop every order, exits and stops included, use `wb halt`; to close everything, `wb
    flatten`.
    """
    from engine.live.commands import KillSwitch

    _queue(ctx, KillSwitch(on=state == "on"), user, as_json)


@click.command()
@click.option("--reason", default="", help="Why, for the audit trail and the control room.")
@user_option
@json_option
@pass_context
def halt(ctx: Context, reason, user, as_json):
    """Halt trading: no orders at all, exits and stops included, until a trader resumes.

    A halt stops every order, the strategies' exits and stops included, and cancels open
    entry orders; stops already resting at the broker stay; only a trader's own order that
    reduces a position goes (trading HALTED until a trader resumes).

    `wb resume-trading` ends it; `wb kill-switch on` is the milder stop (exits still go).
    """
    from engine.live.commands import Halt

    _queue(ctx, Halt(reason=reason), user, as_json)


@click.command()
@user_option
@json_option
@pass_context
def flatten(ctx: Context, user, as_json):
    """Close every position at market and cancel every open order (applied by the loop).

    Flatten cancels every open order and closes every position at market, in any state.
    """
    from engine.live.commands import FlattenAll

    _queue(ctx, FlattenAll(), user, as_json)


@click.command("close-position")
@click.argument("symbol")
@user_option
@json_option
@pass_context
def close_position(ctx: Context, symbol, user, as_json):
    """Close one position at market (applied by the loop)."""
    from engine.live.commands import ClosePosition

    (symbol,) = split_symbols(symbol)
    _queue(ctx, ClosePosition(symbol=symbol), user, as_json)


@click.command("cancel-order")
@click.argument("order_id")
@user_option
@json_option
@pass_context
def cancel_order(ctx: Context, order_id, user, as_json):
    """Cancel one open order, named by its broker id (`wb books` and the control room show it).

    The loop applies it at its next step and says what the broker answered; a held
    position's protective stop is refused, since the loop would put it back.
    """
    from engine.live.commands import CancelOrder

    _queue(ctx, CancelOrder(order_id=order_id.strip()), user, as_json)


@click.command("resume-trading")
@user_option
@json_option
@pass_context
def resume_trading(ctx: Context, user, as_json):
    """Return trading to ACTIVE after a halt or a REDUCING state.

    Resuming returns trading to ACTIVE (to REDUCING while the kill switch is on).
    """
    from engine.live.commands import ResumeTrading

    _queue(ctx, ResumeTrading(), user, as_json)


COMMANDS = [
    live, parity, loop_status, books, kill_switch, halt, flatten, close_position, cancel_order,
    resume_trading,
]  # fmt: skip
