"""`wb backup` and `wb restore`: the store copied while everything runs, and put back when the disk lies.

Engine imports happen inside the commands so that `wb --help` stays quick.
"""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli._common import Context, emit_json, json_option, pass_context
from engine.cli.configs import _actor, user_option

dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="The backup folder [env WB_BACKUP_DIR; default: backups/ in the data dir]. Another "
    "disk keeps backups safe from the store's own disk.",
)


def _size(size: int) -> str:
    from engine.backtest.grids import format_bytes

    return format_bytes(size)


@click.command()
@dir_option
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=7,
    show_default=True,
    help="Backups kept; older ones are removed once the new one is checked.",
)
@click.option("--list", "list_only", is_flag=True, help="List the backups instead of taking one.")
@user_option
@json_option
@pass_context
def backup(ctx: Context, directory, keep, list_only, user, as_json):
    """Copy the store to a checked backup (safe while the live loop and the control room run).

    The copy holds the store's lock only as long as copying its bytes takes; every backup
    is then read in full, so a damaged store fails here, loudly, and the older backups are
    kept. `wb restore` puts one back.
    """
    from engine.store.backup import backup_dir, list_backups, take_backup

    folder = backup_dir(ctx.data_dir, directory)
    if list_only:
        backups = list_backups(folder)
        if as_json:
            emit_json([b.to_dict() for b in backups])
            return
        if not backups:
            click.echo(f"no backups in {folder} (take one with: wb backup)")
            return
        click.echo(f"backups in {folder}, newest first:")
        for b in backups:
            click.echo(f"  {b.path.name}  {b.taken_at:%Y-%m-%d %H:%M:%S} UTC  {_size(b.size):>8}")
        return
    taken, removed = take_backup(ctx.store(), folder, keep=keep, actor=_actor(user) or "cli")
    if as_json:
        emit_json({**taken.to_dict(), "removed": [str(p) for p in removed]})
        return
    click.echo(
        f"backup {taken.path} ({_size(taken.size)}): {taken.tables} tables, {taken.rows:,} rows, "
        f"{taken.events:,} events, checked whole"
    )
    if removed:
        click.echo(f"removed {len(removed)} older backup(s), keeping {keep}")


@click.command()
@click.argument("backup_name", metavar="[BACKUP]", required=False)
@dir_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@user_option
@json_option
@pass_context
def restore(ctx: Context, backup_name, directory, yes, user, as_json):
    """Put a backup in place of the store (the newest, or BACKUP: a file, name or prefix).

    The backup is checked first. The store it replaces is kept beside it
    (workbench.duckdb.replaced-<time>), and any events that file still holds beyond the
    backup are written to events-after-backup-<time>.jsonl. Refused while a live loop runs:
    stop it first. After a restore, the loop's start-up reconciles with the broker.
    """
    from engine.errors import InputError, StoreDamagedError
    from engine.live.heartbeat import loop_status
    from engine.store.backup import backup_dir, find_backup, inspect_backup, restore_backup

    path = find_backup(backup_dir(ctx.data_dir, directory), backup_name)
    checked = inspect_backup(path)
    try:
        health = loop_status(ctx.store())
    except StoreDamagedError:
        health = None  # nothing can be trading on a store that cannot be read
    if health is not None and health.running:
        raise InputError(
            f"a live loop is running on this store ({health.loop_id}, pid {health.pid}, "
            f"{health.why})",
            hint="stop it (Ctrl-C, or SIGTERM to its pid) and restore again",
        )
    if not yes and not click.confirm(
        f"Replace the store in {ctx.data_dir} with {path.name}, taken "
        f"{checked.taken_at:%Y-%m-%d %H:%M:%S} UTC ({checked.events:,} events)? The current "
        "file is kept beside it.",
        err=True,
    ):
        raise click.exceptions.Abort()
    restored = restore_backup(ctx.data_dir, path, actor=_actor(user) or "cli")
    summary = {
        "backup": restored.backup.to_dict(),
        "replaced_file": str(restored.replaced) if restored.replaced else None,
        "later_events": restored.later_events,
        "later_events_file": str(restored.later_events_file)
        if restored.later_events_file
        else None,
    }
    if as_json:
        emit_json(summary)
        return
    click.echo(
        f"restored {path.name} (taken {checked.taken_at:%Y-%m-%d %H:%M:%S} UTC, "
        f"{checked.events:,} events)"
    )
    if restored.replaced:
        click.echo(f"  the replaced store is kept at {restored.replaced}")
    if restored.later_events is None:
        click.echo("  the replaced store is too damaged to read the events it had after the backup")
    elif restored.later_events:
        click.echo(
            f"  {restored.later_events} event(s) recorded after the backup are in "
            f"{restored.later_events_file}: check them against the broker before trading"
        )


COMMANDS = [backup, restore]
