"""`wb live`, `wb parity`, `wb loop-status`, the command helpers and the live_step job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import cli
from engine.cli._common import run_cli
from engine.errors import InputError
from engine.live.commands import pending_commands
from engine.live.job import run_step
from engine.research.config_registry import act, save_proposal
from engine.research.validation import Verdict
from engine.risk import states
from tests.config.factories import make_config
from tests.live.conftest import approve


def wb(data_dir, *args: str, capsys) -> tuple[int, str, str]:
    code = run_cli(cli, ["--data-dir", str(data_dir), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_parity_prints_both_sides_and_says_it_holds(sample_store, data_dir, capsys):
    config = approve(sample_store, "rsi_reversion", {"window": 5, "lower": 35, "upper": 65},
                     ["AAPL", "GE"], size="fraction", fraction=0.4)  # fmt: skip
    args = (
        "parity",
        "--config",
        config.config_id[:8],
        "--start",
        "2011-01-03",
        "--end",
        "2011-04-29",
    )
    code, out, _ = wb(data_dir, *args, "--json", capsys=capsys)
    report = json.loads(out)
    assert code == 0
    assert report["backtest_trades"] == report["replay_trades"] > 0
    assert (report["differences"], report["matches"]) == ([], True)
    code, out, _ = wb(data_dir, *args, capsys=capsys)
    assert code == 0 and out.strip().endswith("the replay made the same trades: parity holds")


def test_live_trading_needs_the_real_money_flag_and_alpaca(replay_store, data_dir, capsys):
    config_id = replay_store.config.config_id
    code, _, err = wb(data_dir, "live", "--mode", "live", "--config", config_id, capsys=capsys)
    assert code == 2 and "live trading goes through Alpaca" in err
    code, _, err = wb(
        data_dir, "live", "--mode", "live", "--broker", "alpaca", "--config", config_id,
        capsys=capsys,
    )  # fmt: skip
    assert code == 2
    assert "REAL MONEY" in err and "--i-understand-this-is-real-money" in err


def test_the_loop_trades_approved_configs_only(sample_store, data_dir, capsys):
    waiting = make_config()
    save_proposal(sample_store, waiting, Verdict(status="validated"), actor="ana")
    code, _, err = wb(data_dir, "live", "--config", waiting.config_id, "--start", "2012-01-03",
                      capsys=capsys)  # fmt: skip
    assert code == 2
    assert f"config {waiting.config_id} is validated, not approved" in err
    assert f"wb configs approve {waiting.config_id}" in err


def test_paper_trading_an_intraday_config_says_which_feed_and_keys_it_needs(
    store, data_dir, capsys, monkeypatch
):
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    intraday = make_config(bar_size="15m", evidence=None)
    save_proposal(store, intraday, Verdict(status="validated"), actor="ana")
    act(store, intraday.config_id, "approve", "bob", "researched on 15-minute bars")
    paper = ["live", "--mode", "paper", "--config", intraday.config_id]
    for feed, says in (
        ("polygon", "unknown data feed 'polygon'"),
        ("store", "nothing stores 15m bars during the session"),
        ("alpaca", "Alpaca market data needs API keys"),
    ):
        code, _, err = wb(data_dir, *paper, "--feed", feed, capsys=capsys)
        assert code == 2 and says in err, err
    # The loop never started: nothing recorded that it ran.
    assert store.scalar("SELECT count(*) FROM events WHERE kind = 'loop.started'") == 0


def test_parity_on_an_intraday_config_without_its_bars_says_what_to_ingest(
    sample_store, data_dir, capsys
):
    intraday = make_config(bar_size="15m", evidence=None)
    save_proposal(sample_store, intraday, Verdict(status="validated"), actor="ana")
    act(sample_store, intraday.config_id, "approve", "bob", "researched on 15-minute bars")
    code, _, err = wb(data_dir, "parity", "--config", intraday.config_id, capsys=capsys)
    assert code == 2 and "no stored 15m bars" in err and "--bar-size 15m" in err, err


def test_a_replay_from_the_command_line_reports_what_it_did(replay_store, data_dir, capsys):
    code, out, _ = wb(data_dir, "live", "--config", replay_store.config.config_id,
                      "--start", "2012-02-01", "--end", "2012-02-14", "--json", capsys=capsys)  # fmt: skip
    summary = json.loads(out)
    assert code == 0
    assert (summary["mode"], summary["steps"], summary["last_bar"]) == ("replay", 10, "2012-02-14")
    assert summary["orders_sent"] > 0
    code, out, _ = wb(data_dir, "loop-status", "--json", capsys=capsys)
    assert code == 1 and json.loads(out)["status"] == "stopped"  # a replay that finished


def test_command_helpers_queue_what_the_control_room_would(sample_store, data_dir, capsys):
    code, out, _ = wb(data_dir, "kill-switch", "on", "--user", "alice", "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["status"] == "pending"
    wb(data_dir, "close-position", "aapl", "--user", "alice", capsys=capsys)
    wb(data_dir, "flatten", "--user", "alice", capsys=capsys)
    wb(data_dir, "cancel-order", "b4d9e6f0-0158", "--user", "alice", capsys=capsys)
    queued = [(actor, command.kind) for _, actor, command in pending_commands(sample_store)]
    assert queued == [
        ("alice", "kill_switch"),
        ("alice", "close_position"),
        ("alice", "flatten_all"),
        ("alice", "cancel_order"),
    ]
    assert pending_commands(sample_store)[1][2].symbol == "AAPL"
    assert pending_commands(sample_store)[3][2].order_id == "b4d9e6f0-0158"


def test_loop_status_says_when_no_loop_ever_ran(store, data_dir, capsys):
    code, out, _ = wb(data_dir, "loop-status", capsys=capsys)
    assert code == 1 and out.startswith("never: no live loop has run on this data dir")


def test_the_live_step_job_steps_the_newest_session_once(replay_store):
    options = {"configs": [replay_store.config.config_id], "account": "job-paper"}
    first = run_step(replay_store, options, actor="scheduler")
    assert first.startswith("paper:job-paper: 2013-12-31:")
    again = run_step(replay_store, options, actor="scheduler")
    assert again == "paper:job-paper: 2013-12-31 already stepped"
    with pytest.raises(InputError, match="unknown live_step option"):
        run_step(replay_store, {"configz": "approved"}, actor="scheduler")


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    "command, says",
    [
        (("kill-switch",), ["KILL_SWITCH_ON", "KILL_SWITCH_OFF"]),
        (("halt",), ["HALT"]),
        (("resume-trading",), ["RESUME"]),
        (("flatten",), ["FLATTEN"]),
    ],
)
def test_the_trading_controls_help_says_what_the_gate_does(command, says, data_dir, capsys):
    code, out, _ = wb(data_dir, *command, "--help", capsys=capsys)
    assert code == 0
    for name in says:
        assert _words(getattr(states, name)) in _words(out)


def test_the_readme_says_what_each_trading_state_lets_through():
    readme = _words((Path(__file__).resolve().parents[2] / "README.md").read_text())
    for state, meaning in states.MEANING.items():
        assert f"| {state.value} | {meaning} |" in readme


def test_halt_queues_a_halt_with_its_reason(sample_store, data_dir, capsys):
    code, out, _ = wb(data_dir, "halt", "--reason", "broker outage", "--user", "alice", "--json",
                      capsys=capsys)  # fmt: skip
    assert code == 0 and json.loads(out)["kind"] == "halt"
    ((_, actor, command),) = pending_commands(sample_store)
    assert (actor, command.reason) == ("alice", "broker outage")
