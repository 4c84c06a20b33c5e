"""Paper trading on the NYSE clock: waiting for the close, staying alive, a stale feed.

A fake clock stands in for the wall clock: it starts on the afternoon of the bundled
sample's last session (2013-12-31) and moves forward only when the loop sleeps.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.live.alerts import Notifiers
from engine.live.clock import MarketClock, session_close
from engine.live.commands import PauseStrategy, submit_command
from engine.live.runner import run_market
from engine.live.setup import open_loop
from engine.store import read_events


class FakeTime:
    def __init__(self, start: datetime):
        self.now = start
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def test_the_paper_loop_waits_for_the_close_stays_alive_and_then_steps(replay_store, monkeypatch):
    monkeypatch.setenv("WB_HEARTBEAT_STALE_S", "1200")  # it beats every 5 (simulated) minutes
    last = datetime(2013, 12, 31).date()
    time = FakeTime(session_close(last) - timedelta(hours=2))  # 2 pm in New York
    config_id = replay_store.config.config_id
    paused = []

    def sleep(seconds):  # a trader pauses the config an hour before the close
        time.sleep(seconds)
        if time.now > session_close(last) - timedelta(hours=1) and not paused:
            paused.append(submit_command(replay_store, PauseStrategy(config_id=config_id), "bob"))

    clock = MarketClock(after_close=timedelta(minutes=20), sleep=sleep, now=lambda: time.now)
    opened = open_loop(replay_store, mode="paper", config_ids=[config_id], clock=clock)
    loop = opened.loop
    beats = []
    beat = loop.heartbeat
    loop.heartbeat = lambda: (beats.append(time.now), beat())

    (report,) = run_market(loop, clock, tick=300, sessions=1)

    assert report.bar == last and not report.skipped
    # It slept in ticks of at most five minutes until 20 minutes after the close...
    assert max(time.slept) <= 300 and time.now >= session_close(last) + timedelta(minutes=20)
    # ...beating its heartbeat every tick and applying the trader's command as it came.
    assert len(beats) == len(time.slept) >= 28
    decided = replay_store.query("SELECT status, decided_by FROM commands WHERE id = ?", paused)
    assert decided.iloc[0].tolist() == ["applied", loop.actor]
    assert [cid for cid in report.submitted if "-buy-" in cid] == []  # paused: no entries


def test_a_stale_feed_skips_the_step_and_alerts(replay_store):
    alerts = Notifiers()
    opened = open_loop(replay_store, mode="paper", config_ids=[replay_store.config.config_id],
                       notifier=alerts)  # fmt: skip
    loop = opened.loop
    loop.start()
    report = loop.step(datetime(2014, 1, 2).date())  # the sample's bars end on 2013-12-31
    assert report.skipped == "no bar for 2014-01-02 yet (newest: 2013-12-31)"
    assert [a.kind for a in alerts.sent] == ["stale_data"]
    assert read_events(replay_store, kinds=["loop.stale_data"])["subject"].tolist() == [
        "2014-01-02"
    ]
