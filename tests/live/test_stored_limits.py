"""Stored risk limits are read by one function: the loop refuses bad ones, the control room says why.

A limits row that no longer validates (a renamed limit after an upgrade, a hand edit) is
never replaced by the defaults: the loop will not trade on it, and the control room shows
the same problem with the way to fix it (the Settings page, or `wb limits set`).
"""

from __future__ import annotations

import json

import pytest

from app import facade
from engine.cli import cli
from engine.cli._common import run_cli
from engine.live import ledger
from engine.live.controls import StoredLimitsError
from engine.live.runner import run_replay
from engine.live.setup import open_loop
from engine.risk import RiskLimits
from engine.store.events import utcnow
from tests.live.conftest import REPLAY_LIMITS

BAD = [
    ({"max_positionz": 3}, "max_positionz: unknown limit (did you mean 'max_positions'?)"),
    ({"weekly_soft_loss": 0.09}, "must be smaller than weekly_hard_loss"),
    (["max_positions", 3], "must be a mapping"),
]


def store_limits(store, value) -> None:
    store.execute(
        "INSERT INTO trading_state VALUES ('risk_limits', ?, ?, 'ops') ON CONFLICT (key)"
        " DO UPDATE SET value = excluded.value",
        [json.dumps(value), utcnow()],
    )


@pytest.mark.parametrize("value, problem", BAD)
def test_bad_stored_limits_stop_the_loop_and_the_control_room_shows_why_and_how_to_fix(
    store, value, problem
):
    store_limits(store, value)
    with pytest.raises(StoredLimitsError) as refused:
        ledger.read_controls(store).limits  # noqa: B018 - what the loop reads before it sizes
    shown = facade.trading_status(store)
    assert shown.limits is None  # never the defaults in their place
    assert shown.limits_problem == str(refused.value)
    assert problem in shown.limits_problem
    assert "Settings page" in refused.value.hint and "wb limits set" in refused.value.hint


@pytest.mark.parametrize(
    "value, limits", [({}, RiskLimits()), ({"max_positions": 7}, RiskLimits(max_positions=7))]
)
def test_good_stored_limits_are_the_same_limits_for_the_loop_and_the_control_room(
    store, value, limits
):
    store_limits(store, value)
    assert ledger.read_controls(store).limits == limits == facade.trading_status(store).limits
    assert facade.trading_status(store).limits_problem is None


def test_the_loop_refuses_to_trade_on_bad_stored_limits(replay_store):
    replay_store.execute("DELETE FROM commands")  # no new limits on their way
    store_limits(replay_store, {"max_positionz": 3})
    opened = open_loop(replay_store, mode="replay", config_ids=[replay_store.config.config_id],
                       start="2012-02-01", end="2012-02-10")  # fmt: skip
    with pytest.raises(StoredLimitsError, match="max_positionz"):
        run_replay(opened.loop, opened.days)
    assert not replay_store.scalar("SELECT count(*) FROM live_orders")


def test_a_set_risk_limits_command_replaces_bad_stored_limits_as_the_loop_starts(replay_store):
    store_limits(replay_store, {"max_positionz": 3})  # the fixture's new limits are queued
    opened = open_loop(replay_store, mode="replay", config_ids=[replay_store.config.config_id],
                       start="2012-02-01", end="2012-02-10")  # fmt: skip
    reports = run_replay(opened.loop, opened.days)
    assert len(reports) == len(opened.days)
    assert ledger.read_controls(replay_store).limits == REPLAY_LIMITS
    applied = replay_store.query("SELECT status, result FROM commands").iloc[0]
    assert (
        applied["status"] == "applied" and "replaced the invalid stored limits" in applied["result"]
    )


def test_wb_limits_says_what_the_loop_says_and_mends_a_renamed_limit(store, capsys):
    store_limits(store, {"max_positionz": 3, "max_positions": 4})
    with pytest.raises(StoredLimitsError) as refused:
        ledger.read_controls(store).limits  # noqa: B018
    assert run_cli(cli, ["--data-dir", str(store.data_dir), "limits", "show"]) == 2
    assert refused.value.message in capsys.readouterr().err

    # Setting a limit drops the name that is none (it could never be mended).
    code = run_cli(cli, ["--data-dir", str(store.data_dir), "limits", "set", "max_positions=6"])
    assert code == 0
    assert ledger.read_controls(store).limits == RiskLimits(max_positions=6)
    assert facade.trading_status(store).limits_problem is None
