"""A loop's start: one loop per book, and a start that is refused leaves only its refusal.

The real-process cases start `wb live` as a person would (two at once; one killed with
SIGKILL and another started straight after); the others start loops in this process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.errors import OperatorError
from engine.live.heartbeat import loop_status
from tests.live.conftest import open_replay
from tests.live.test_cli import wb

ROOT = Path(__file__).resolve().parents[2]


def loop_events(store) -> list[tuple[str, dict]]:
    rows = store.query("SELECT kind, payload FROM events WHERE kind LIKE 'loop.%' ORDER BY id")
    return [
        (kind, json.loads(payload))
        for kind, payload in zip(rows["kind"], rows["payload"], strict=True)
    ]


def heartbeats(store) -> int:
    return int(store.scalar("SELECT count(*) FROM heartbeats"))


@pytest.fixture
def stale_store(sample_store):
    """An approved config whose code changed since validation, under a policy that refuses it."""
    from tests.research.test_provenance import _approved, _config_validated_on, _stale_code

    sample_store.config = _config_validated_on(*_stale_code(), revalidate=True)
    _approved(sample_store, sample_store.config)
    return sample_store


# -- a refused start -------------------------------------------------------------------


def test_a_refused_start_leaves_no_heartbeat_and_no_started_loop(stale_store, data_dir, capsys):
    code, _, err = wb(data_dir, "live", "--config", stale_store.config.config_id,
                      "--start", "2012-01-03", "--end", "2012-01-31", capsys=capsys)  # fmt: skip
    assert code == 2 and "validate it again" in err

    assert [kind for kind, _ in loop_events(stale_store)] == ["loop.refused"]
    ((_, refused),) = loop_events(stale_store)
    assert "code" in refused["reason"]
    assert heartbeats(stale_store) == 0
    code, out, _ = wb(data_dir, "loop-status", capsys=capsys)
    assert out.startswith("never: no live loop has run on this data dir")


# -- one loop per book -----------------------------------------------------------------


def test_a_second_loop_on_a_book_is_refused_with_the_running_loop_named(replay_store):
    running = open_replay(replay_store).loop
    running.start()
    second = open_replay(replay_store).loop
    assert second.book == running.book

    with pytest.raises(OperatorError) as refused:
        second.start()

    message = str(refused.value)
    assert message.startswith(f"another live loop is trading {running.book}: loop {running.loop_id} "
                              f"(replay mode), pid {os.getpid()} on ")  # fmt: skip
    assert re.search(r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", message)
    assert "one loop per account" in message
    assert loop_events(replay_store)[-1] == (
        "loop.refused", {"reason": refused.value.message, "loop_id": second.loop_id}
    )  # fmt: skip
    assert set(replay_store.query("SELECT loop_id FROM heartbeats")["loop_id"]) == {running.loop_id}

    running.stop("done")  # a clean stop lets go of the book
    second.start()


def wb_live(data_dir, config_id: str, *, end: str = "2012-12-31") -> subprocess.Popen:
    command = [
        sys.executable, "-m", "engine.cli", "--data-dir", str(data_dir), "live",
        "--config", config_id, "--account", "shared", "--start", "2012-01-03", "--end", end,
        "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(condition, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_loops_started_together_on_one_account_one_runs_the_other_is_refused(
    replay_store, data_dir
):
    loops = [wb_live(data_dir, replay_store.config.config_id, end="2012-02-29") for _ in range(2)]
    results = [(child.pid, child.wait(timeout=300), *child.communicate()) for child in loops]

    codes = sorted(code for _, code, _, _ in results)
    assert codes == [0, 70], results
    (winner,) = [pid for pid, code, _, _ in results if code == 0]
    (refusal,) = [err for _, code, _, err in results if code == 70]
    assert refusal.startswith("error: another live loop is trading paper:shared: loop replay-")
    assert f"(replay mode), pid {winner} on " in refusal and " UTC" in refusal
    assert "Traceback" not in refusal
    # Only the winner ever stepped: one snapshot per session, one heartbeat, one start.
    duplicates = replay_store.query(
        "SELECT bar_date, count(*) AS n FROM equity_snapshots GROUP BY bar_date HAVING n > 1"
    )
    assert duplicates.empty
    assert replay_store.scalar("SELECT count(DISTINCT loop_id) FROM equity_snapshots") == 1
    assert set(replay_store.query("SELECT pid FROM heartbeats")["pid"]) == {winner}
    kinds = [kind for kind, _ in loop_events(replay_store)]
    assert kinds.count("loop.started") == 1 and kinds.count("loop.refused") == 1


def test_a_loop_killed_with_sigkill_leaves_the_book_free_at_once(replay_store, data_dir):
    config_id = replay_store.config.config_id
    first = wb_live(data_dir, config_id)
    try:
        wait_for(lambda: replay_store.scalar("SELECT count(*) FROM equity_snapshots") >= 2,
                 "the first loop to step")  # fmt: skip
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    second = wb_live(data_dir, config_id, end="2012-12-31")
    try:
        started = wait_for(
            lambda: [p for k, p in loop_events(replay_store) if k == "loop.started"][1:],
            "the second loop to start",
        )
        assert started[0]["pid"] == second.pid
        assert second.poll() is None  # running, not refused
        assert loop_status(replay_store).pid == second.pid
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait()
    assert "loop.refused" not in [kind for kind, _ in loop_events(replay_store)]
