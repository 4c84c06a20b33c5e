"""A loop running in its own process: the trader's kill switch reaches it, its heartbeat shows it.

The test process plays the control room: it writes a command into the store the running
loop is using, and reads the loop's heartbeat, while the loop keeps stepping.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from engine.live.commands import KillSwitch, submit_command
from engine.live.heartbeat import loop_status
from engine.store.events import utcnow

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition, what: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def steps(store) -> int:
    return int(store.scalar("SELECT count(*) FROM events WHERE kind = 'loop.step'") or 0)


def test_a_running_loop_applies_the_kill_switch_and_its_heartbeat_goes_stale_when_killed(
    replay_store, data_dir
):
    command = [
        sys.executable, "-m", "engine.cli", "--data-dir", str(data_dir), "live",
        "--config", replay_store.config.config_id, "--start", "2012-01-03", "--end", "2012-12-31",
        "--no-progress",
    ]  # fmt: skip
    child = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_for(lambda: steps(replay_store) >= 3, "the loop to step")
        health = loop_status(replay_store)
        assert (health.status, health.pid, health.mode) == ("running", child.pid, "replay")

        command_id = submit_command(replay_store, KillSwitch(on=True), actor="alice")
        row = wait_for(
            lambda: replay_store.query(
                "SELECT status, decided_by, result FROM commands WHERE id = ? AND status <> 'pending'",
                [command_id],
            ).to_dict("records"),
            "the loop to apply the kill switch",
        )[0]
        assert row["status"] == "applied" and row["decided_by"].startswith("loop:replay-")
        applied_at = steps(replay_store)
        wait_for(lambda: steps(replay_store) >= applied_at + 5, "more steps")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    # After the kill switch the loop kept deciding: no buy went out, exits and stops still did.
    applied = replay_store.scalar(
        "SELECT id FROM events WHERE kind = 'command.applied' AND subject = ?", [str(command_id)]
    )
    later = replay_store.query(
        "SELECT kind, payload FROM events WHERE kind IN ('order.submitted', 'order.denied')"
        " AND id > ?",
        [int(applied)],
    )
    orders = [
        (kind, json.loads(p)) for kind, p in zip(later["kind"], later["payload"], strict=True)
    ]
    assert orders
    assert all(o["side"] == "sell" for kind, o in orders if kind == "order.submitted")
    assert {o["rule"] for kind, o in orders if kind == "order.denied"} <= {"kill_switch"}

    # Killed, the loop can no longer apply anything: the heartbeat says so.
    health = loop_status(replay_store)
    assert health.status == "gone" and not health.running
    later_on = loop_status(replay_store, now=utcnow() + timedelta(minutes=5))
    assert later_on.status == "stale" and "stale after 120s" in later_on.why
