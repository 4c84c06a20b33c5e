"""`wb app`: refuses an open bind without users, hands the data dir to Streamlit; hash-password."""

from __future__ import annotations

import io
import sys

import pytest

from engine import users as user_file
from engine.cli import cli
from engine.cli._common import run_cli


class Exec(Exception):
    """Raised instead of replacing the test process with Streamlit."""


@pytest.fixture
def execve(monkeypatch):
    calls = []

    def fake(path, args, env):
        calls.append((path, args, env))
        raise Exec

    monkeypatch.setattr("os.execve", fake)
    monkeypatch.setattr("os.chdir", lambda path: None)
    return calls


def test_app_refuses_to_serve_beyond_loopback_without_a_login(app_env, data_dir, execve, capsys):
    code = run_cli(
        cli, ["--data-dir", str(data_dir), "app", "--address", "0.0.0.0", "--port", "8600"]
    )
    assert code == 2 and not execve
    err = capsys.readouterr().err
    assert "refusing to serve the control room on 0.0.0.0 without a login" in err
    assert "wb app hash-password" in err


def test_app_serves_the_data_dir_in_use_on_the_address_asked(app_env, data_dir, execve, with_users):
    with pytest.raises(Exec):
        run_cli(cli, ["--data-dir", str(data_dir), "app", "--address", "0.0.0.0", "--port", "8600"])
    [(_, args, env)] = execve
    assert args[args.index("--server.address") + 1] == "0.0.0.0"
    assert args[args.index("--server.port") + 1] == "8600"
    assert args[args.index("run") + 1].endswith("streamlit_app.py")
    assert env["WB_DATA_DIR"] == str(data_dir.resolve())


def test_app_on_loopback_needs_no_users(app_env, data_dir, execve):
    with pytest.raises(Exec):
        run_cli(cli, ["--data-dir", str(data_dir), "app"])
    [(_, args, _)] = execve
    assert args[args.index("--server.address") + 1] == "127.0.0.1"


def test_a_broken_users_setting_stops_the_app_with_the_reason(app_env, data_dir, execve, capsys):
    app_env.setenv("WB_APP_USERS", "ana:trader:nothex")
    assert run_cli(cli, ["--data-dir", str(data_dir), "app"]) == 2 and not execve
    assert "has 3 fields, not 4" in capsys.readouterr().err


def test_hash_password_prints_a_line_that_logs_the_user_in(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret phrase\n"))
    assert (
        run_cli(
            cli, ["app", "hash-password", "--user", "vic", "--role", "viewer", "--password-stdin"]
        )
        == 0
    )
    line = capsys.readouterr().out.strip()
    assert "s3cret" not in line
    users = user_file.parse_users(line)
    assert user_file.verify(users, "vic", "s3cret phrase").role == "viewer"


@pytest.mark.parametrize(
    ("password", "says"),
    [("x", "has 1 characters; use at least 12"), ("Password2024!", "is a well-known password")],
)
def test_hash_password_refuses_a_short_or_well_known_password(monkeypatch, capsys, password, says):
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{password}\n"))
    code = run_cli(cli, ["app", "hash-password", "--user", "vic", "--password-stdin"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""  # no line to paste
    assert err.startswith(f"error: the password for 'vic' {says}") and password not in err
    assert "what to do: choose 12 or more characters" in err
