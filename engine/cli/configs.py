"""`wb validate` and `wb configs`: turn a strategy into a validated config, and manage configs.

Imports of the engine happen inside the commands so that `wb --help` stays quick.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

import click

from engine.cli._common import Context, emit_json, json_option, pass_context, split_symbols
from engine.cli.backtest import (
    backtest_settings,
    executor_options,
    grid_option,
    parameter_grid,
    resolve_cli_executor,
    settings_options,
    strategy_option,
)
from engine.cli.data import SYNTHETIC_NOTE, bar_size_option

user_option = click.option(
    "--user",
    default=None,
    help="Who is acting, for the audit trail [default: $USER].",
)


def _actor(user: str | None) -> str:
    """The person acting: --user, else $USER, else the login name."""
    if user and user.strip():
        return user.strip()
    if os.environ.get("USER"):
        return os.environ["USER"]
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return ""  # the registry then asks for --user


# -- wb validate -------------------------------------------------------------------------------


@click.command()
@strategy_option
@click.option("--symbols", required=True, help="Comma-separated tickers: the universe.")
@grid_option
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML file of validation thresholds [default: the built-in policy].",
)
@click.option(
    "--folds", default=3, show_default=True, type=click.IntRange(min=2), help="Walk-forward folds."
)
@click.option(
    "--anchored", is_flag=True, help="Anchored walk-forward: every fold trains from the first bar."
)
@click.option(
    "--objective",
    default="sharpe",
    show_default=True,
    help="Metric the in-sample picks the best params by.",
)
@bar_size_option
@settings_options  # the same execution, cost and sizing flags and --setting as wb backtest
@executor_options  # --executor ray [--ray-address ADDR], as wb sweep
@click.option("--run-id", help="The notebook run that produced this proposal, if any.")
@user_option
@json_option
@pass_context
def validate(
    ctx: Context,
    strategy,
    symbols,
    grid_args,
    policy_file,
    folds,
    anchored,
    objective,
    setting_args,
    run_id,
    user,
    as_json,
    bar_size,
    start,
    end,
    executor,
    ray_address,
    **setting_flags,
):
    """Walk-forward STRATEGY over a grid, apply the guards and the policy, register the config.

    Prints the config id and whether it was validated or rejected, with every reason.
    """
    symbol_list = split_symbols(symbols)
    grid = parameter_grid(grid_args, symbol_list)

    from engine.data.repository import load_bars
    from engine.research.config_registry import get_config, yaml_path
    from engine.research.propose import propose
    from engine.research.validation import load_policy

    policy = load_policy(policy_file)
    settings = backtest_settings(strategy, setting_args, **setting_flags)
    runner = resolve_cli_executor(executor, ray_address, as_json=as_json)
    store = ctx.store()
    bars = load_bars(store, symbol_list, _day(start), _day(end), bar_size=bar_size)
    config, verdict = propose(
        store,
        bars,
        strategy,
        grid,
        settings,
        policy,
        folds=folds,
        anchored=anchored,
        objective=objective,
        run_id=run_id,
        actor=_actor(user),
        progress=not as_json,
        executor=runner,
    )
    record = get_config(store, config.config_id)
    if as_json:
        emit_json(
            {
                **record.summary(),
                "verdict": verdict.status,
                "evidence": config.evidence,
                "yaml": yaml_path(ctx.data_dir, config.config_id),
            }
        )
        return
    click.echo(_verdict_text(record, verdict, yaml_path(ctx.data_dir, config.config_id)))


def _verdict_text(record, verdict, path) -> str:
    config, evidence = record.config, record.config.evidence
    oos, ins = evidence.out_of_sample, evidence.in_sample
    params = " ".join(f"{k}={v}" for k, v in config.params.items())
    last = evidence.folds[-1] if evidence.folds else None
    lines = [
        f"config {record.config_id}  {config.strategy} on {', '.join(config.universe)}, "
        f"{config.bar_size} bars: {verdict.status.upper()}",
        f"  params: {params}"
        + (
            f"  (the last fold's in-sample best, {last.train_start}..{last.train_end})"
            if last
            else ""
        ),
        f"  out of sample: Sharpe {_fmt(oos.get('sharpe'))}, max drawdown "
        f"{_pct(oos.get('max_drawdown'))}, {_fmt(oos.get('trades'), '.0f')} trades, "
        f"total return {_fmt(oos.get('total_return'), '+.1%')}; in sample: Sharpe {_fmt(ins.get('sharpe'))}",
        f"  guards: deflated Sharpe {_fmt(evidence.deflated_sharpe)} "
        f"({_trials_text(evidence)}), PBO {_fmt(evidence.pbo)}",
        f"  peeking: look-ahead {'passed' if evidence.lookahead_passed else 'FAILED'}, warm-up "
        f"{_passed(evidence.warmup_passed)}",
    ]
    if "auc" in oos:  # a classifier's evidence
        lines.append(
            f"  classifier out of sample: AUC {_fmt(oos.get('auc'), '.3f')}, precision at the "
            f"threshold {_pct(oos.get('precision_at_threshold'))} (base rate "
            f"{_pct(oos.get('base_rate'))})"
        )
    lines += _confidence_lines(evidence) + _provenance_lines(evidence)
    if evidence.annualisation:
        lines.append(f"  {evidence.annualisation}")
    if evidence.synthetic_bars:
        lines.insert(1, f"  bars: {SYNTHETIC_NOTE}")
    if record.status != verdict.status:
        lines.append(f"  status stays {record.status}: a trader has already acted on this config")
    lines += [f"  warning: {warning}" for warning in evidence.warnings]
    if verdict.reasons:
        lines.append("  why rejected:")
        lines += [f"   - {reason}" for reason in verdict.reasons]
    lines.append(f"  written to {path}")
    if record.status == "validated":
        lines.append(f"  next: wb configs approve {record.config_id} --reason '...'")
    return "\n".join(lines)


def _trials_text(evidence) -> str:
    if evidence.trials is None:
        return f"{evidence.n_trials} tried in this run, no trial ledger"
    return evidence.trials.describe()


def _passed(flag) -> str:
    return "not run" if flag is None else "passed" if flag else "FAILED"


def _confidence_lines(evidence) -> list[str]:
    spread = evidence.confidence
    if spread is None:
        return []

    def interval(figure, spec) -> str:
        return f"{_fmt(figure.p05, spec)} .. {_fmt(figure.p95, spec)}"

    return [
        f"  90% intervals (bootstrap): Sharpe {interval(spread.sharpe, '.2f')}, max drawdown "
        f"{interval(spread.max_drawdown, '.1%')}, profit factor "
        f"{interval(spread.profit_factor, '.2f')}; trades reshuffled: max drawdown "
        f"{interval(spread.reshuffled_drawdown, '.1%')}"
    ]


def _provenance_lines(evidence) -> list[str]:
    origin = evidence.provenance
    if origin is None:
        return ["  provenance: not recorded (validated before the workbench kept it)"]
    libraries = ", ".join(f"{k} {v}" for k, v in origin.libraries.items() if v)
    lines = [
        f"  provenance: bars {origin.bars_sha256[:12]}, code {origin.source_sha256} over "
        f"{len(origin.sources)} modules, engine {origin.engine_version}; {libraries}"
    ]
    if origin.run_id:
        lines.append(
            f"  notebook run {origin.run_id}: {origin.notebook or '?'} -> "
            f"{origin.executed_notebook or 'no executed notebook'}"
        )
    lines += [f"  artifact {name}: {sha}" for name, sha in origin.artifacts.items()]
    return lines


def _fmt(value, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _pct(value) -> str:
    return "n/a" if value is None else f"{abs(value):.1%}" if value < 0 else f"{value:.1%}"


def _day(value):
    return None if value is None else value.date()


# -- wb configs --------------------------------------------------------------------------------


@click.group()
def configs():
    """List, show, approve, pause, resume and retire strategy configs."""


@configs.command("list")
@click.option(
    "--status",
    help="Only configs in this status (draft, validated, rejected, approved, paused, retired).",
)
@json_option
@pass_context
def list_command(ctx: Context, status, as_json):
    """List configs, most recently changed first."""
    from engine.research.config_registry import list_configs

    records = list_configs(ctx.store(), status)
    if as_json:
        emit_json([r.summary() for r in records])
        return
    if not records:
        click.echo(
            "no configs" + (f" in status {status}" if status else "") + "; wb validate proposes one"
        )
        return
    for r in records:
        oos = (r.config.evidence.out_of_sample if r.config.evidence else {}).get("sharpe")
        params = " ".join(f"{k}={v}" for k, v in r.config.params.items())
        click.echo(
            f"{r.config_id}  {r.status:9}  {r.strategy:20}  {','.join(r.config.universe):24}  "
            f"{r.config.bar_size:3}  {params}  OOS Sharpe {_fmt(oos)}  {r.updated_at:%Y-%m-%d %H:%M}"
        )


@configs.command("show")
@click.argument("config_id")
@json_option
@pass_context
def show(ctx: Context, config_id, as_json):
    """Show config CONFIG_ID (an id or unique prefix) as YAML, with its history."""
    from engine.research.config_registry import get_config, record_yaml
    from engine.store import read_events

    store = ctx.store()
    record = get_config(store, config_id)
    history = read_events(store, kinds=["config."], subject=record.config_id)
    drift = _code_drift(record.config)
    if as_json:
        events = [
            {**row, "payload": json.loads(row["payload"])} for row in history.to_dict("records")
        ]
        emit_json(
            {
                **record.summary(),
                "config": record.config,
                "code": {"unchanged": drift is None, "drift": drift.text if drift else None},
                "history": events,
            }
        )
        return
    click.echo(record_yaml(record), nl=False)
    evidence = record.config.evidence
    if evidence is not None:
        click.echo("# where it came from:")
        for line in _provenance_lines(evidence) + _confidence_lines(evidence):
            click.echo("# " + line.strip())
        click.echo(f"# trials: {_trials_text(evidence)}")
        click.echo(
            "# code: "
            + (
                "the code that would trade it is the code it was validated on"
                if drift is None
                else drift.text
            )
        )
    click.echo("# history (newest first):")
    for event in history.itertuples():
        click.echo(
            f"#   {event.ts:%Y-%m-%d %H:%M:%S}  {event.kind:18}  by {event.actor}: "
            f"{_why(event.payload)}"
        )


def _code_drift(config):
    from engine.research.provenance import code_drift

    return code_drift(config) if config.evidence is not None else None


def _why(payload: str) -> str:
    return str(json.loads(payload).get("why", ""))


def _action_command(action: str, summary: str):
    @click.argument("config_id")
    @click.option("--reason", default="", help="Why, for the audit trail (required).")
    @user_option
    @json_option
    @pass_context
    def command(ctx: Context, config_id, reason, user, as_json):
        from engine.research.config_registry import act

        record = act(ctx.store(), config_id, action, _actor(user), reason)
        if as_json:
            emit_json(record.summary())
            return
        click.echo(f"config {record.config_id} ({record.strategy}) is now {record.status}")

    command.__doc__ = summary
    return configs.command(action)(command)


_action_command("approve", "Approve validated config CONFIG_ID for the live loop to trade.")
_action_command(
    "pause", "Pause approved config CONFIG_ID: the live loop stops trading it until resumed."
)
_action_command("resume", "Resume paused config CONFIG_ID: it is approved again.")
_action_command("retire", "Retire config CONFIG_ID for good.")

# -- wb trials ---------------------------------------------------------------------------------


@click.command()
@strategy_option
@click.option(
    "--symbols",
    help="The family's universe, comma-separated, any order [default: every universe tried].",
)
@json_option
@pass_context
def trials(ctx: Context, strategy, symbols, as_json):
    """List the trial ledger of STRATEGY: every run that evaluated its parameter combinations.

    The deflated Sharpe of a validation counts the distinct combinations of its family (the
    strategy on the same symbols): each run's new ones add up to the ledger's count.
    """
    from engine.research.trials import family_runs
    from engine.strategies import get

    name = get(strategy).name
    runs = family_runs(ctx.store(), name, split_symbols(symbols))
    if as_json:
        emit_json(runs.to_dict("records"))
        return
    if runs.empty:
        where = f" on {symbols}" if symbols else ""
        click.echo(f"no trials of {name}{where} recorded yet; wb sweep and wb validate record them")
        return
    for family_id, family in runs.groupby("family_id", sort=False):
        first = family.iloc[0]
        click.echo(
            f"{name} on {','.join(first['universe'])} ({first['bar_size']}): "
            f"{int(family['new_combinations'].sum())} combinations in the ledger since "
            f"{first['recorded_at']:%Y-%m-%d}  [family {family_id}]"
        )
        for run in family.itertuples():
            grid = " ".join(
                f"{k}={_values(v)}"
                for k, v in run.grid.items()
                if isinstance(v, list) and len(v) > 1
            )
            source = f"run {run.run_id}" if run.run_id else run.actor
            click.echo(
                f"  {run.recorded_at:%Y-%m-%d %H:%M}  {run.kind:12} {run.combinations:6} tried "
                f"{run.new_combinations:6} new  {run.in_ledger:7} in ledger  {run.executor:5}  "
                f"{source}  {grid}"
            )


def _values(values: list) -> str:
    shown = ",".join(str(v) for v in values[:6])
    return shown + (f",.. ({len(values)})" if len(values) > 6 else "")


COMMANDS = [validate, configs, trials]
