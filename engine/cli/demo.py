"""`wb demo`: a new user's first run, offline or online.

1. ingest bars (Yahoo when it answers within a few seconds, else the bundled sample);
2. research two built-in strategies with the research notebook under papermill;
3. approve the best validated config, labelled as a demo approval in the audit trail;
4. replay the live loop over the last year of bars with the paper broker;
5. research a 15-minute strategy on intraday bars (Yahoo's last weeks online, else SYNTHETIC
   bars made from the sample's daily ones, and said so), validate it and show it;
6. start the job scheduler and the control room until Ctrl-C (skipped with --no-ui).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import click

from engine.cli._common import Context, pass_context
from engine.errors import WorkbenchError

DEMO_UNIVERSE = ["AAPL", "BA", "CAT", "F", "GE", "IBM", "MSFT"]
#: Two strategies and their grids; both trade with ATR protective stops (2 x ATR(14)).
DEMO_STRATEGIES = {
    "sma_crossover": {"fast": [10, 20, 30, 50], "slow": [100, 150, 200, 250]},
    "donchian_breakout": {"entry_window": [20, 55, 100], "exit_window": [10, 20, 50]},
}
DEMO_SETTINGS = {"stop": "atr"}
#: The intraday step: RSI mean reversion on 15-minute bars, a day trader's book.
INTRADAY = {
    "strategy": "rsi_reversion",
    "symbols": ["AAPL", "BA", "CAT", "GE"],
    "bar_size": "15m",
    "grid": {"window": [7, 14], "lower": [25.0, 30.0]},
    "folds": 3,
}
#: Months of intraday bars researched, ending where the daily bars end (Yahoo keeps 60 days).
INTRADAY_MONTHS = 3
INTRADAY_SETTINGS: dict = {}
DEMO_ACTOR = "demo"
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "strategy_research.ipynb"


def yahoo_reachable(timeout: float = 3.0) -> bool:
    """True when Yahoo Finance answers a TCP connection within ``timeout`` seconds."""
    if os.environ.get("WB_OFFLINE"):
        return False
    try:
        with socket.create_connection(("query1.finance.yahoo.com", 443), timeout=timeout):
            return True
    except OSError:
        return False


class DemoStepFailed(WorkbenchError):
    """A step of the demo failed: the message names the step and why; the exit code is the cause's."""

    def __init__(self, number: int, title: str, reason: str, *, hint=None, exit_code: int = 1):
        super().__init__(f"demo step {number} ({title}) failed: {reason}", hint=hint)
        self.exit_code = exit_code


def step(number: int, title: str, text: str, fn, *args):
    """Print the step's heading and run ``fn(*args)``; any failure becomes a DemoStepFailed."""
    click.secho(f"\n{number}. {text}", bold=True)
    try:
        return fn(*args)
    except DemoStepFailed:
        raise
    except WorkbenchError as exc:
        raise DemoStepFailed(
            number, title, exc.message, hint=exc.hint, exit_code=exc.exit_code
        ) from exc
    except Exception as exc:  # a bug: still say which step, and --debug shows the traceback
        raise DemoStepFailed(
            number, title, f"{type(exc).__name__}: {exc}", hint="wb --debug demo shows where",
            exit_code=70,
        ) from exc


def ingest_bars(ctx: Context, offline: bool) -> tuple[list[str], str, str]:
    """Bars for the demo universe; returns (symbols, first date, last date) of what is stored."""
    from engine.cli.data import store_summary
    from engine.data.ingest import ingest
    from engine.data.sources import SampleSource, YahooSource

    store = ctx.store()
    if not offline and yahoo_reachable():
        click.echo("   from Yahoo Finance (the network answered)")
        source, symbols, start = YahooSource(), DEMO_UNIVERSE, "2014-01-01"
    else:
        click.echo("   from the bundled sample bars (Yahoo is not reachable from here, or --offline)")
        source, symbols, start = SampleSource(), DEMO_UNIVERSE, None
    result = ingest(store, source, symbols, start, policy="reject", actor=DEMO_ACTOR)
    click.echo(f"   {result.rows_added} bars added, {result.rows_already_stored} already stored")
    summary = store_summary(store)
    summary = summary[summary["symbol"].isin(DEMO_UNIVERSE)]
    return DEMO_UNIVERSE, str(summary["first"].max()), str(summary["last"].min())


def research(ctx: Context, symbols: list[str], first: str, last: str) -> list:
    """Run the research notebook for each demo strategy; returns the proposed config records."""
    from engine.research.config_registry import get_config
    from engine.research.runs import run_notebook

    proposed, failed = [], []
    for strategy, grid in DEMO_STRATEGIES.items():
        started = time.monotonic()
        record = run_notebook(
            ctx.store(), NOTEBOOK,
            {"strategy": strategy, "symbols": symbols, "start": first, "end": last, "grid": grid,
             "folds": 4, "settings": DEMO_SETTINGS},
            data_dir=ctx.data_dir, actor=DEMO_ACTOR,
        )
        took = time.monotonic() - started
        if not record.succeeded:
            reason = record.error.describe() if record.error else record.status
            click.secho(f"   {strategy}: the run failed ({reason}); "
                        f"see {record.output_path}", fg="red")
            failed.append(f"{strategy}: {reason} (executed notebook: {record.output_path})")
            continue
        click.echo(f"   {strategy}: run {record.run_id} in {took:.0f}s -> {record.output_path}")
        for proposal in record.configs_proposed:
            config = get_config(ctx.store(), proposal.config_id)
            colour = "green" if config.status == "validated" else "yellow"
            click.secho(f"     config {config.config_id} {config.status.upper()} "
                        f"params {config.config.params}", fg=colour)
            for reason in config.reasons:
                click.echo(f"       - {reason}")
            proposed.append(config)
    if failed:
        raise DemoStepFailed(
            2, "research", f"{len(failed)} of {len(DEMO_STRATEGIES)} notebook runs failed: "
            + "; ".join(failed),
            hint="open the executed notebook to see the failing cell, or wb research show RUN_ID",
        )
    return proposed


def approve_best(ctx: Context, proposed: list):
    """Approve the validated config with the best out-of-sample Sharpe, as a labelled demo act."""
    from engine.research.config_registry import act, get_config

    def oos_sharpe(record) -> float:
        evidence = record.config.evidence
        value = (evidence.out_of_sample or {}).get("sharpe") if evidence else None
        return float("-inf") if value is None else float(value)

    candidates = [get_config(ctx.store(), p.config_id) for p in proposed]
    validated = [c for c in candidates if c.status in ("validated", "approved")]
    if not validated:
        click.secho("   no config was validated, so nothing is approved: the policy did its job",
                    fg="yellow")
        return None
    best = max(validated, key=oos_sharpe)
    if best.status == "validated":
        best = act(ctx.store(), best.config_id, "approve", DEMO_ACTOR,
                   "DEMO APPROVAL by `wb demo`, not a trader's decision")
    click.echo(f"   approved {best.config_id} ({best.strategy}, OOS Sharpe {oos_sharpe(best):.2f});"
               " the audit log records it as a demo approval")
    return best


def replay_last_year(ctx: Context, config, last: str) -> None:
    """Replay the approved config over the last year of bars with the paper broker, a line a month."""
    import pandas as pd

    from engine.live.runner import run_replay
    from engine.live.setup import open_loop

    # The default limits: the loop decides after each close and its orders wait for the
    # next open, which the session rule judges them against.
    end = pd.Timestamp(last).date()
    start = (pd.Timestamp(last) - pd.DateOffset(years=1)).date()
    opened = open_loop(ctx.store(), mode="replay", config_ids=[config.config_id], broker="paper",
                       start=start, end=end, account="demo")
    months: dict[str, dict] = {}

    def on_step(report) -> None:
        month = months.setdefault(report.bar.strftime("%Y-%m"), {"orders": 0, "fills": 0, "denied": 0})
        month["orders"] += len(report.submitted)
        month["fills"] += report.fills
        month["denied"] += len(report.denied)
        if report.equity is not None:
            month.setdefault("first", report.equity)
            month["equity"] = report.equity

    run_replay(opened.loop, opened.days, on_step=on_step)
    before = None
    for name, m in months.items():
        start_equity = before if before is not None else m.get("first")
        change = (m["equity"] / start_equity - 1) if start_equity and "equity" in m else 0.0
        click.echo(f"   {name}: equity {m.get('equity', float('nan')):>12,.2f} ({change:+.1%}),"
                   f" {m['orders']} orders, {m['fills']} fills, {m['denied']} denied by the gate")
        before = m.get("equity", before)
    account = opened.loop.broker.account()
    click.echo(f"   paper book {opened.loop.book}: equity {account.equity:,.2f}, cash {account.cash:,.2f}")


def ingest_intraday(ctx: Context, offline: bool, last: str) -> tuple[str, str, bool]:
    """15-minute bars for the intraday step: (first date, last date, whether they are SYNTHETIC).

    Yahoo's when it answers (its 15-minute bars go back 60 days), else SYNTHETIC bars made
    from the sample's daily bars over the last INTRADAY_MONTHS of them.
    """
    import pandas as pd

    from engine.data.ingest import ingest
    from engine.data.sources import SyntheticSource, YahooSource

    symbols, bar_size = INTRADAY["symbols"], INTRADAY["bar_size"]
    end = pd.Timestamp(last)
    if not offline and yahoo_reachable():
        start = end - pd.Timedelta(days=58)
        try:
            result = ingest(ctx.store(), YahooSource(), symbols, start.date(), end.date(),
                            bar_size=bar_size, actor=DEMO_ACTOR, progress=False)  # fmt: skip
            click.echo(f"   {result.rows_added} {bar_size} bars from Yahoo Finance")
            return str(start.date()), str(end.date()), False
        except WorkbenchError as exc:
            click.echo(f"   Yahoo's {bar_size} bars did not come ({exc.message}): SYNTHETIC bars instead")
    start = end - pd.DateOffset(months=INTRADAY_MONTHS) + pd.Timedelta(days=1)
    result = ingest(ctx.store(), SyntheticSource(), symbols, start.date(), end.date(),
                    bar_size=bar_size, actor=DEMO_ACTOR, progress=False)  # fmt: skip
    click.secho(f"   {result.rows_added} SYNTHETIC {bar_size} bars generated from the sample's "
                "real daily bars (each day within its real open, high, low and close; not real "
                "trades: this shows the workflow, not an edge)", fg="magenta")  # fmt: skip
    return str(start.date()), str(end.date()), True


def research_intraday(ctx: Context, offline: bool, last_daily: str):
    """Research, validate and show the 15-minute strategy; gives back its config record."""
    from engine.backtest import run_backtest
    from engine.backtest.report import write_report
    from engine.data import load_bars
    from engine.research.config_registry import get_config
    from engine.research.runs import run_notebook

    first, last, synthetic = ingest_intraday(ctx, offline, last_daily)
    started = time.monotonic()
    record = run_notebook(
        ctx.store(), NOTEBOOK,
        {**INTRADAY, "start": first, "end": last, "settings": INTRADAY_SETTINGS},
        data_dir=ctx.data_dir, actor=DEMO_ACTOR,
    )  # fmt: skip
    if not record.succeeded:
        reason = record.error.describe() if record.error else record.status
        raise DemoStepFailed(
            5, "intraday", f"the {INTRADAY['bar_size']} research run failed: {reason}",
            hint=f"open the executed notebook {record.output_path} to see the failing cell",
        )  # fmt: skip
    click.echo(f"   {INTRADAY['strategy']} on {INTRADAY['bar_size']} bars: run {record.run_id} "
               f"in {time.monotonic() - started:.0f}s -> {record.output_path}")  # fmt: skip
    proposal = get_config(ctx.store(), record.configs_proposed[0].config_id)
    config, evidence = proposal.config, proposal.config.evidence
    colour = "green" if proposal.status == "validated" else "yellow"
    click.secho(f"     config {proposal.config_id} {proposal.status.upper()} params {config.params}"
                + (" (SYNTHETIC bars)" if synthetic else ""), fg=colour)  # fmt: skip
    for reason in proposal.reasons:
        click.echo(f"       - {reason}")
    sharpe, trades = evidence.out_of_sample.get("sharpe"), evidence.out_of_sample.get("trades")
    click.echo(f"     out of sample: Sharpe {'n/a' if sharpe is None else f'{sharpe:.2f}'}, "
               f"{trades or 0:.0f} trades; figures {evidence.annualisation}")  # fmt: skip

    bars = load_bars(ctx.store(), config.universe, first, last, bar_size=config.bar_size)
    result = run_backtest(bars, config.strategy, config.params, config.settings)
    name = f"demo-{config.bar_size}-{proposal.config_id}.html"
    report = write_report(result, ctx.data_dir / "reports" / name)
    click.echo(f"     its backtest on every bar: {report} (equity, drawdown, trades on bar times)")
    click.echo("     the control room shows it under Strategies"
               + (", marked SYNTHETIC bars" if synthetic else ""))  # fmt: skip
    return proposal


def serve_ui(ctx: Context) -> None:
    """Run the job scheduler and the control room until Ctrl-C, then stop both cleanly."""
    import secrets
    import signal
    import subprocess
    import sys

    from engine.users import user_line

    password = secrets.token_urlsafe(9)
    env = {**os.environ, "WB_DATA_DIR": str(ctx.data_dir.resolve()),
           "WB_APP_USERS": user_line("demo-trader", "trader", password)}
    wb = [sys.executable, "-m", "engine.cli", "--data-dir", str(ctx.data_dir)]
    children = [
        subprocess.Popen([*wb, "jobs", "scheduler"], env=env),
        subprocess.Popen([*wb, "app", "--port", "8501"], env=env),
    ]
    click.secho("\n   control room: http://127.0.0.1:8501", bold=True)
    click.echo(f"   log in as demo-trader / {password} (a demo login, made for this run only)")
    click.echo("   the job scheduler is running too; Ctrl-C stops everything")
    try:
        while all(child.poll() is None for child in children):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        click.echo("   stopped the control room and the scheduler")


@click.command()
@click.option("--no-ui", is_flag=True, help="Run the steps and exit (for scripts and tests).")
@click.option("--offline", is_flag=True, help="Do not try Yahoo; use the bundled sample bars.")
@pass_context
def demo(ctx: Context, no_ui: bool, offline: bool):
    """Run the demo: ingest, research two strategies, approve the best, replay it on paper."""
    started = time.monotonic()
    click.echo(f"demo data dir: {ctx.data_dir.resolve()}")
    symbols, first, last = step(1, "ingest", "Ingesting daily bars", ingest_bars, ctx, offline)
    click.echo(f"   universe {', '.join(symbols)}: {first} .. {last}")
    proposed = step(
        2, "research", "Researching two strategies with the research notebook (papermill)",
        research, ctx, symbols, first, last,
    )  # fmt: skip
    approved = step(3, "approve", "Approving the best validated config", approve_best, ctx, proposed)
    if approved is not None:
        step(
            4, "replay", "Replaying the live loop over the last year of bars (paper broker)",
            replay_last_year, ctx, approved, last,
        )  # fmt: skip
    step(
        5, "intraday", f"Researching a {INTRADAY['bar_size']} strategy on intraday bars",
        research_intraday, ctx, offline, last,
    )  # fmt: skip
    click.echo(f"\ndemo steps done in {time.monotonic() - started:.0f}s")
    if not no_ui:
        step(6, "serve", "Starting the job scheduler and the control room", serve_ui, ctx)


COMMANDS = [demo]
