"""`wb limits show|set|edit`: the risk limits from the command line, as the Settings page sets them.

Same validation as the control room and a limits file; an infinite limit is refused. With
a live loop running a change goes to it as a ``set_risk_limits`` command; with none it is
written straight to the store. Either way the audit trail says who changed what.
Engine imports happen inside the commands so that `wb --help` stays quick.
"""

from __future__ import annotations

import click

from engine.cli._common import Context, emit_json, json_option, pass_context
from engine.cli.configs import _actor, user_option

EDIT_HEADER = """\
# Risk limits: edit the values, save and close the editor; nothing changes until you save.
# Lines starting with # are ignored; a limit left out takes its default. Losses are
# positive fractions (0.02 = down 2%); max_price: null means no cap.
"""


@click.group()
def limits():
    """The risk limits the gate enforces: show them, set some, or edit them all in $EDITOR.

    Changes are validated as the control room's Settings page validates them (an infinite
    limit such as max_order_notional: .inf is refused: it would switch a guard off). With
    a live loop running, a change is queued as a set_risk_limits command that the loop
    applies at its next step; with none running, it is written to the store at once.
    Every change is in the audit trail with who made it.
    """


@limits.command("show")
@json_option
@pass_context
def show(ctx: Context, as_json):
    """The limits in force, which differ from the defaults, and changes still queued."""
    from engine.risk.limits import RiskLimits

    in_force = _in_force(ctx)
    if as_json:
        emit_json(in_force.to_dict())
        return
    if in_force.set_by is None:
        click.echo("risk limits in force: the defaults (never changed)")
    else:
        click.echo(
            f"risk limits in force: set by {in_force.set_by} at {in_force.set_at:%Y-%m-%d %H:%M} UTC"
        )
    defaults = RiskLimits().to_mapping()
    for name, value in in_force.limits.to_mapping().items():
        note = "" if value == defaults[name] else f"  (default {_shown(defaults[name])})"
        click.echo(f"  {name:40} {_shown(value)}{note}")
    if in_force.pending:
        listed = ", ".join(str(i) for i in in_force.pending)
        click.echo(f"queued for the live loop: set_risk_limits command(s) {listed}")


@limits.command("set")
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=VALUE...")
@user_option
@json_option
@pass_context
def set_(ctx: Context, assignments, user, as_json):
    """Change some limits: NAME=VALUE each, e.g. max_positions=8 restricted_symbols=[GME,AMC].

    VALUE is read as YAML (true, 0.5, null, [A, B]); the other limits keep their values.
    """
    from engine.live.risk_limits import change_limits, limits_with, parse_assignment

    updates = dict(parse_assignment(text) for text in assignments)
    store = ctx.store()
    change = change_limits(store, limits_with(store, updates), _actor(user) or "cli")
    _report(change, as_json)


@limits.command("edit")
@user_option
@json_option
@pass_context
def edit(ctx: Context, user, as_json):
    """Edit every limit in $EDITOR (YAML with each limit's meaning); saved edits are validated.

    An invalid edit reopens the editor with the problems at the top; saving it unchanged
    gives up.
    """
    from engine.config.loading import parse_yaml_mapping
    from engine.errors import InputError
    from engine.live.risk_limits import change_limits
    from engine.risk.limits import LimitsError, limits_from_mapping

    store = ctx.store()
    text = editable(_in_force(ctx).limits)
    problem = None
    while True:
        shown = text if problem is None else _with_problem(text, problem)
        edited = click.edit(shown, extension=".yaml", require_save=True)
        if edited is None:
            click.echo("not saved: nothing changed", err=True)
            return
        if problem is not None and edited == shown:
            raise InputError(
                f"the edited limits are invalid: {problem}", hint="run wb limits edit again"
            )
        text = edited
        try:
            data = parse_yaml_mapping(text, source="the edited limits")
            new = limits_from_mapping(data, source="the edited risk limits")
        except LimitsError as exc:
            problem = "; ".join(f"{name}: {msg}" for name, msg in exc.problems.items())
            continue
        except InputError as exc:  # not YAML, or not a mapping
            problem = exc.message
            continue
        break
    _report(change_limits(store, new, _actor(user) or "cli"), as_json)


def editable(current) -> str:
    """The limits as the YAML `wb limits edit` opens: each with its meaning as a comment."""
    import yaml

    from engine.risk.limits import RiskLimits

    lines = [EDIT_HEADER]
    for name, value in current.to_mapping().items():
        line = (
            f"{name}: [{', '.join(value)}]"  # restricted symbols, on one line
            if isinstance(value, list)
            else yaml.safe_dump({name: value}, default_flow_style=False).strip()
        )
        lines.append(f"# {RiskLimits.model_fields[name].description}\n{line}\n")
    return "\n".join(lines)


def _with_problem(text: str, problem: str) -> str:
    body = "\n".join(line for line in text.splitlines() if not line.startswith("# problem:"))
    said = [*problem.splitlines(), "fix it and save again (save it unchanged to give up)"]
    return "".join(f"# problem: {line}\n" for line in said) + body + "\n"


def _in_force(ctx: Context):
    from engine.errors import InputError
    from engine.live.risk_limits import limits_in_force
    from engine.risk.limits import LimitsError

    try:
        return limits_in_force(ctx.store())
    except LimitsError as exc:
        raise InputError(
            exc.message,
            hint="set a valid value with `wb limits set NAME=VALUE`; the loop will not start "
            "until the stored limits validate",
        ) from None


def _shown(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return "null" if value is None else str(value)


def _report(change, as_json: bool) -> None:
    if as_json:
        emit_json(change.to_dict())
        return
    if not change.changes:
        click.echo("nothing changed: those are the limits in force")
        return
    for name, (was, now) in change.changes.items():
        click.echo(f"  {name}: {_shown(was)} -> {_shown(now)}")
    if change.command_id is not None:
        click.echo(
            f"queued as command {change.command_id} (set_risk_limits): the live loop validates "
            "and applies it at its next step"
        )
        return
    click.echo("written to the store: no live loop is running; the next one starts with them")
    if change.superseded:
        listed = ", ".join(str(i) for i in change.superseded)
        click.echo(f"pending set_risk_limits command(s) {listed} superseded by this change")


COMMANDS = [limits]
