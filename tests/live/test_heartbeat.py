"""One judge of the loop's heartbeat, with one setting, for the control room, `wb` and the loop."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest

from app import facade
from engine.errors import InputError
from engine.live import heartbeat
from engine.live.clock import MarketClock, session_close
from engine.live.runner import run_market
from engine.live.setup import open_loop
from engine.store.events import utcnow
from tests.app.conftest import process_started
from tests.live.test_cli import wb


def beat(store, age_s: float) -> None:
    """A heartbeat of a loop in this process, ``age_s`` seconds old."""
    store.transaction(
        lambda con: heartbeat.beat(
            con, "paper-1", mode="paper", broker="paper", book="paper:paper", pid=os.getpid(),
            started_at=process_started(), bar=None, state="ACTIVE", configs=[],
        )
    )  # fmt: skip
    store.execute("UPDATE heartbeats SET beat_at = ?", [utcnow() - timedelta(seconds=age_s)])


def test_the_stale_setting_is_the_one_the_control_room_and_wb_judge_by(
    store, data_dir, monkeypatch, capsys
):
    beat(store, age_s=300)
    monkeypatch.setenv("WB_HEARTBEAT_STALE_S", "600")
    assert facade.loop_status(store).running
    code, out, _ = wb(data_dir, "loop-status", capsys=capsys)
    assert code == 0 and out.startswith("running: heartbeat 5 min ago")

    monkeypatch.setenv("WB_HEARTBEAT_STALE_S", "120")
    shown = facade.loop_status(store)
    assert not shown.running and "5 min old (stale after 120s)" in shown.why
    code, out, _ = wb(data_dir, "loop-status", capsys=capsys)
    assert code == 1 and out.startswith(f"stale: {shown.why}")


def test_a_bad_stale_setting_is_refused_with_what_to_set(store, monkeypatch):
    beat(store, age_s=1)
    monkeypatch.setenv("WB_HEARTBEAT_STALE_S", "two minutes")
    with pytest.raises(InputError, match="WB_HEARTBEAT_STALE_S") as refused:
        facade.loop_status(store)
    assert "seconds" in refused.value.hint


def test_a_loop_that_would_beat_less_often_than_the_stale_setting_is_refused(
    replay_store, monkeypatch
):
    monkeypatch.setenv("WB_HEARTBEAT_STALE_S", "120")
    afternoon = session_close(datetime(2013, 12, 31).date()) - timedelta(hours=2)
    clock = MarketClock(sleep=lambda seconds: None, now=lambda: afternoon)
    opened = open_loop(replay_store, mode="paper", config_ids=[replay_store.config.config_id],
                       clock=clock)  # fmt: skip
    with pytest.raises(InputError, match="every 300s") as refused:
        run_market(opened.loop, clock, tick=300, sessions=1)
    assert "stale after 120s" in refused.value.message and "--tick" in refused.value.hint
    assert replay_store.scalar("SELECT count(*) FROM heartbeats") == 0  # it never started


def test_a_replay_beats_about_once_a_second_and_its_stop_says_the_last_session(
    replay_store, monkeypatch
):
    """Nobody reads every step's beat: a replay stepping many sessions a second writes its
    heartbeat once a second, a change of trading state at once, and its clean stop the
    last session it stepped."""
    from engine.live.runner import run_replay
    from engine.risk import TradingState
    from tests.live.conftest import open_replay
    from tests.store_statements import watch_statements

    beats = []
    watch_statements(monkeypatch, lambda sql, _n: beats.append(sql)
                     if sql.startswith("UPDATE heartbeats") else None)  # fmt: skip
    clock = [0.0]  # a second every ten steps
    monkeypatch.setattr(heartbeat, "seconds", lambda: clock[0])
    opened = open_replay(replay_store, start="2012-01-03", end="2012-03-30")

    def on_step(_report):
        clock[0] += 0.1

    run_replay(opened.loop, opened.days, on_step=on_step)
    steps = len(opened.days)
    stepped = len(beats) - 2  # the start's and the stop's
    assert steps // 12 <= stepped <= steps // 10 + 1, (stepped, steps)
    row = replay_store.query("SELECT bar_date, stopped_at FROM heartbeats").iloc[0]
    assert row["bar_date"].date() == opened.days[-1] and row["stopped_at"] is not None
    # A halt is said at once, whenever the last beat was.
    loop = opened.loop
    assert loop.pace.due(TradingState.HALTED.value) and not loop.pace.due(TradingState.ACTIVE.value)
