"""`wb configs`: list, show and the trader's actions, as a user types them."""

from __future__ import annotations

import json

import pytest

from engine.cli import cli
from engine.cli._common import run_cli
from engine.config.models import StrategyConfig
from engine.research.config_registry import get_config, save_proposal
from engine.research.validation import Verdict
from engine.store import read_events
from tests.config.factories import make_config


@pytest.fixture
def wb(data_dir, capsys):
    """Run `wb --data-dir <test dir> ARGS...`; gives back (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = run_cli(cli, ["--data-dir", str(data_dir), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def validated_id(store) -> str:
    return save_proposal(store, make_config(), Verdict(status="validated"), "ana").config_id


def test_list_shows_each_config_with_status(wb, store, validated_id):
    rejected = save_proposal(
        store,
        make_config(universe=["F"]),
        Verdict(status="rejected", reasons=["too few trades"]),
        "ana",
    ).config_id
    code, out, _ = wb("configs", "list")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "validated" in lines[validated_id]
    assert "rejected" in lines[rejected]
    intraday = save_proposal(store, make_config(bar_size="15m"), Verdict(status="validated"),
                             "ana").config_id  # fmt: skip
    code, out, _ = wb("configs", "list")
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert lines[intraday].split()[4] == "15m" and lines[validated_id].split()[4] == "1d"
    code, out, _ = wb("configs", "list", "--status", "rejected", "--json")
    assert [row["config_id"] for row in json.loads(out)] == [rejected]
    assert json.loads(out)[0]["reasons"] == ["too few trades"]
    assert json.loads(out)[0]["bar_size"] == "1d"


def test_show_prints_yaml_that_loads_back_with_its_history(wb, validated_id):
    code, out, _ = wb("configs", "show", validated_id[:6])
    assert code == 0
    assert "# status: validated" in out
    assert "config.validated" in out
    assert StrategyConfig.from_yaml(out) == make_config()
    code, out, _ = wb("configs", "show", validated_id, "--json")
    shown = json.loads(out)
    assert shown["status"] == "validated"
    assert shown["history"][0]["payload"]["to"] == "validated"
    assert StrategyConfig.model_validate(shown["config"]) == make_config()


def test_approve_pause_resume_retire_with_who_and_why(wb, store, validated_id):
    steps = [
        ("approve", "approved"),
        ("pause", "paused"),
        ("resume", "approved"),
        ("retire", "retired"),
    ]
    for action, status in steps:
        code, out, err = wb(
            "configs", action, validated_id, "--reason", f"{action} now", "--user", "tom", "--json"
        )
        assert code == 0, err
        assert json.loads(out)["status"] == status
    events = read_events(store, kinds=["config."], subject=validated_id)
    newest = json.loads(events.iloc[0]["payload"])
    assert events.iloc[0]["actor"] == "tom"
    assert newest == {"why": "retire now", "from": "approved", "to": "retired"}


def test_the_actor_defaults_to_the_login_user(wb, store, validated_id, monkeypatch):
    monkeypatch.setenv("USER", "carla")
    code, _, err = wb("configs", "approve", validated_id, "--reason", "ok")
    assert code == 0, err
    assert read_events(store, kinds=["config.approved"]).iloc[0]["actor"] == "carla"


def test_an_illegal_action_is_one_clear_error_and_changes_nothing(wb, store, validated_id):
    code, out, err = wb("configs", "resume", validated_id, "--reason", "go")
    assert code == 2
    assert "error: config" in err and "is validated, not paused" in err
    assert "what to do: a validated config is approved, not resumed" in err
    assert get_config(store, validated_id).status == "validated"


def test_an_action_without_a_reason_asks_for_one(wb, validated_id):
    code, _, err = wb("configs", "approve", validated_id)
    assert code == 2
    assert "--reason" in err


def test_an_unknown_id_says_how_to_find_one(wb, validated_id):
    code, _, err = wb("configs", "show", "ffffffff")
    assert code == 2
    assert "no config with id 'ffffffff'" in err
    assert "wb configs list" in err
