"""`wb app`: serve the Streamlit control room on the data dir in use; `wb app hash-password`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from engine.cli._common import Context, pass_context
from engine.users import check_bind, load_users, user_line

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8501


@click.group("app", invoke_without_command=True)
@click.option(
    "--address",
    default=DEFAULT_ADDRESS,
    show_default=True,
    help="Interface to listen on. Anything but loopback needs users configured (a login).",
)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@pass_context
@click.pass_context
def app(click_ctx: click.Context, ctx: Context, address: str, port: int):
    """Serve the control room (Streamlit) on the data dir in use, at http://ADDRESS:PORT.

    With users configured (WB_APP_USERS, or .streamlit/secrets.toml; make a line with
    `wb app hash-password`) everyone logs in. Without users it serves this machine only:
    any other --address is refused.
    """
    if click_ctx.invoked_subcommand:
        return
    users = load_users()  # an InputError here names the bad entry
    check_bind(address, users)
    data_dir = ctx.data_dir.resolve()
    env = {**os.environ, "WB_DATA_DIR": str(data_dir)}
    login = f"login required ({len(users)} users)" if users else "no login (loopback only)"
    click.echo(f"control room: http://{address}:{port}  data dir {data_dir}  {login}", err=True)
    command = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
        "--server.address", address, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    os.chdir(ROOT)  # Streamlit reads .streamlit/config.toml and secrets from the working dir
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the server, so that signals (Ctrl-C, a supervisor's TERM) reach it directly.
    os.execve(sys.executable, command, env)


@app.command("hash-password")
@click.option("--user", "name", required=True, help="The user name (letters, digits, . _ @ -).")
@click.option(
    "--role", type=click.Choice(["trader", "viewer"]), default="trader", show_default=True,
    help="trader may override; viewer only watches.",
)  # fmt: skip
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from stdin (for scripts) instead of a prompt.",
)
def hash_password(name: str, role: str, password_stdin: bool):
    """Print the `name:role:salt:hash` line that configures a control-room user.

    The password needs 12 or more characters and must not be a well-known one (a
    common password with digits or symbols added counts as well known). Only the salted
    scrypt hash is printed, never the password. Put the line (several joined with ';') in
    WB_APP_USERS, or under WB_APP_USERS in .streamlit/secrets.toml.
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    click.echo(user_line(name, role, password))


COMMANDS = [app]
