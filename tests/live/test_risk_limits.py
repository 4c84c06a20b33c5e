"""`wb limits`: the loop's risk limits from the command line, validated and audited like the Settings page."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from app.forms import limits_from_form
from engine.cli import cli
from engine.cli._common import run_cli
from engine.live import ledger
from engine.live.commands import SetRiskLimits, submit_command
from engine.live.risk_limits import limits_in_force
from engine.risk.limits import LimitsError, RiskLimits, limits_from_mapping
from engine.store import read_events
from tests.live.test_overrides import command_row, stepping  # noqa: F401  (a fixture)


def wb(capsys, store, *args) -> tuple[int, str, str]:
    code = run_cli(cli, ["--data-dir", str(store.data_dir), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_an_unbounded_order_size_is_refused_by_every_door(value):
    for door in (
        lambda: limits_from_mapping({"max_order_notional": value}),  # a file, a command
        lambda: limits_from_form({**RiskLimits().to_mapping(), "max_order_notional": value}),
    ):
        with pytest.raises(LimitsError) as caught:
            door()
        assert "switches off the fat-finger guard" in caught.value.problems["max_order_notional"]


def test_show_gives_the_defaults_then_what_was_set_and_by_whom(store, capsys):
    code, out, _ = wb(capsys, store, "limits", "show")
    assert code == 0 and out.startswith("risk limits in force: the defaults (never changed)")
    assert "max_order_notional                       25000.0\n" in out

    code, out, _ = wb(capsys, store, "limits", "set", "max_positions=8", "--user", "tina")
    assert code == 0
    assert "max_positions: 5 -> 8" in out and "written to the store: no live loop is running" in out
    code, out, _ = wb(capsys, store, "limits", "show", "--json")
    shown = json.loads(out)
    assert shown["limits"]["max_positions"] == 8 and shown["set_by"] == "tina"
    assert shown["defaults"] is False and shown["pending_commands"] == []


def test_set_without_a_loop_writes_the_limits_with_an_audit_event(store, capsys):
    code, out, _ = wb(capsys, store, "limits", "set", "max_positions=8",
                      "restricted_symbols=[gme, amc]", "max_price=250", "--user", "tina")  # fmt: skip
    assert code == 0, out
    limits = limits_in_force(store).limits
    assert (limits.max_positions, limits.restricted_symbols, limits.max_price) == (
        8, frozenset({"GME", "AMC"}), 250.0,
    )  # fmt: skip
    [event] = read_events(store, kinds=["trading.risk_limits"]).itertuples()
    assert event.actor == "tina"
    reason = json.loads(event.payload)["reason"]
    assert "max_positions 5 -> 8" in reason and "no live loop running" in reason
    # Setting again: the rest keep their values; setting the same values changes nothing.
    wb(capsys, store, "limits", "set", "max_price=")
    assert limits_in_force(store).limits.max_positions == 8
    assert limits_in_force(store).limits.max_price is None
    code, out, _ = wb(capsys, store, "limits", "set", "max_positions=8")
    assert out.startswith("nothing changed")


@pytest.mark.parametrize(
    ("assignment", "says"),
    [
        ("max_order_notional=.inf", "switches off the fat-finger guard"),
        ("max_positoins=3", "unknown limit (did you mean 'max_positions'?)"),
        ("max_positions=0", "max_positions: Input should be greater than or equal to 1"),
        ("weekly_soft_loss=0.09", "must be smaller than weekly_hard_loss"),
        ("max_positions", "expected NAME=VALUE"),
    ],
)
def test_set_refuses_bad_limits_in_one_line_and_changes_nothing(store, capsys, assignment, says):
    code, _, err = wb(capsys, store, "limits", "set", assignment)
    assert code == 2 and says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 2  # the error and what to do
    assert read_events(store, kinds=["trading"]).empty


def test_a_direct_write_supersedes_a_set_limits_command_still_queued(store, capsys):
    queued = submit_command(store, SetRiskLimits(limits={"max_positions": 3}), actor="bob")
    assert limits_in_force(store).pending == (queued,)
    code, out, _ = wb(capsys, store, "limits", "set", "max_positions=7", "--user", "tina")
    assert f"command(s) {queued} superseded" in out
    row = store.query("SELECT status, result FROM commands WHERE id = ?", [queued]).iloc[0]
    assert row["status"] == "denied" and "superseded" in row["result"]
    # So a loop starting now applies 7, not bob's older 3.
    assert limits_in_force(store).limits.max_positions == 7 and not limits_in_force(store).pending


@pytest.mark.slow
def test_with_a_loop_running_a_change_is_a_command_the_loop_applies(stepping, capsys):  # noqa: F811
    loop, step, _, _ = stepping
    store = loop.store
    step()
    code, out, _ = wb(capsys, store, "limits", "set", "max_positions=2", "--user", "tina")
    assert code == 0 and "queued as command" in out
    [command_id] = limits_in_force(store).pending
    assert limits_in_force(store).limits.max_positions != 2  # not yet: the loop applies it
    step()
    assert command_row(store, command_id)["status"] == "applied"
    assert limits_in_force(store).limits.max_positions == 2  # what the loop judges under now
    submitted = read_events(store, kinds=["command.submitted"])
    assert submitted["actor"].iloc[0] == "tina"


def test_edit_opens_the_limits_in_an_editor_and_reopens_an_invalid_edit(
    store, capsys, tmp_path, monkeypatch
):
    # An "editor" that makes the user's edits: first an invalid one, then a fix.
    editor = tmp_path / "editor.py"
    editor.write_text(textwrap.dedent(f"""\
        import pathlib, sys
        path = pathlib.Path(sys.argv[1])
        text = path.read_text()
        calls = pathlib.Path({str(tmp_path / "calls")!r})
        n = int(calls.read_text()) if calls.exists() else 0
        calls.write_text(str(n + 1))
        (pathlib.Path({str(tmp_path)!r}) / f"seen{{n}}.yaml").write_text(text)
        if n == 0:
            text = text.replace("max_order_notional: 25000.0", "max_order_notional: .inf")
        else:
            text = text.replace("max_order_notional: .inf", "max_order_notional: 10000")
        path.write_text(text)
    """))  # fmt: skip
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    monkeypatch.delenv("VISUAL", raising=False)
    code, out, err = wb(capsys, store, "limits", "edit", "--user", "tina")
    assert code == 0, err
    first, second = (tmp_path / "seen0.yaml").read_text(), (tmp_path / "seen1.yaml").read_text()
    assert (
        "# Largest buy order in dollars (a fat-finger guard).\nmax_order_notional: 25000.0" in first
    )
    assert second.startswith("# problem: max_order_notional: an unbounded largest buy order")
    assert "max_order_notional: 25000.0 -> 10000.0" in out
    assert limits_in_force(store).limits.max_order_notional == 10_000


def test_an_edit_saved_invalid_and_unchanged_gives_up(store, capsys, tmp_path, monkeypatch):
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import pathlib, sys\np = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('max_positions: 5', 'max_positions: many'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    monkeypatch.delenv("VISUAL", raising=False)
    code, _, err = wb(capsys, store, "limits", "edit")
    assert code == 2 and "the edited limits are invalid: max_positions" in err
    assert limits_in_force(store).set_by is None  # nothing written


def test_limits_stored_unbounded_by_an_older_version_are_refused_then_mended(store, capsys):
    store.transaction(
        lambda con: ledger.set_control(
            con, "risk_limits", {"max_order_notional": float("inf"), "max_positions": 4}, "old"
        )
    )
    code, _, err = wb(capsys, store, "limits", "show")
    assert code == 2 and "switches off the fat-finger guard" in err
    assert "wb limits set NAME=VALUE" in err
    code, out, _ = wb(capsys, store, "limits", "set", "max_order_notional=20000")
    assert code == 0 and out.splitlines()[0] == "  max_order_notional: inf -> 20000.0"
    assert limits_in_force(store).limits.max_positions == 4  # the rest kept
