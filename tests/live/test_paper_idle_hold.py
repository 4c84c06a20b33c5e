"""A paper loop keeps the store file open between its steps, and lets others in at once.

`wb live --mode paper` on a 5-minute config, a real process on the compressed clock of
tests/live/compressed_clock.py (60 times fast: five seconds between steps), its bars from
the Alpaca data stand-in. The test process plays the control room and a `wb` command:
each finds the loop asleep holding the file, gets in within a couple of seconds, and the
loop acts on what it wrote. Killed (SIGKILL) while it holds the file asleep, the loop
leaves a store that opens, and the loop started again sends no order twice.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from engine.brokers import PaperBroker
from engine.cli import cli
from engine.cli._common import run_cli
from engine.live import ledger
from engine.store import Store
from engine.store.events import utcnow
from tests.live.paper_process import PaperProcess, paper_process, stepped
from tests.store.test_hold import file_is_held, timed

pytestmark = pytest.mark.slow  # real processes: run early (tests/conftest.py)

#: Wall seconds a read or a command may take to get past a loop asleep holding the file: a
#: generous bound (the loop lets go within milliseconds), not a timing figure.
PROMPTLY = 2.0


def wait_for(condition, what: str, loop: subprocess.Popen, paper: PaperProcess, timeout=90.0):
    """``condition()``'s value once true, ``loop`` running meanwhile."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert loop.poll() is None, f"the loop ended:\n{paper.said()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def held_asleep(path: Path, loop: subprocess.Popen, paper: PaperProcess, *, for_s: float = 1.5):
    """Wait until ``loop`` holds the file without a break for ``for_s`` seconds: asleep
    between steps (a step lasts a fraction of that), the file kept open."""
    since = [None]

    def kept() -> bool:
        if not file_is_held(path):
            since[0] = None
            return False
        since[0] = since[0] or time.monotonic()
        return time.monotonic() - since[0] >= for_s

    wait_for(kept, "the loop to hold the file between steps", loop, paper)


def test_a_paper_loop_holds_the_store_asleep_lets_others_in_at_once_and_survives_a_kill(
    store, data_dir, tmp_path
):
    with paper_process(store, data_dir, tmp_path / "stderr.txt") as paper:
        loop = paper.start("12:10")
        try:
            wait_for(lambda: stepped(store) >= 1, "the first step", loop, paper)
            book = store.scalar("SELECT book FROM live_books")

            # The control room reads the book while the loop sleeps holding the file.
            held_asleep(store.path, loop, paper)
            records, seconds = timed(
                lambda: ledger.read_records(store, book, [paper.config_id], utcnow())
            )
            assert seconds < PROMPTLY, f"the control room waited {seconds:.1f}s"
            assert len(records.positions) == 2  # the first step's entries, filled since

            # `wb kill-switch on` while the loop sleeps holding the file again.
            held_asleep(store.path, loop, paper)
            code, seconds = timed(lambda: run_cli(
                cli, ["--data-dir", str(data_dir), "kill-switch", "on", "--user", "alice"]
            ))  # fmt: skip
            assert code == 0 and seconds < PROMPTLY, f"the command waited {seconds:.1f}s"
            # The loop acts on it, and steps on after it.
            applied = wait_for(lambda: store.scalar(
                "SELECT id FROM events WHERE kind = 'command.applied' AND actor LIKE 'loop:%'"
            ), "the loop to apply the kill switch", loop, paper)  # fmt: skip
            stepped_after = "SELECT count(*) FROM events WHERE kind = 'loop.step' AND id > ?"
            wait_for(lambda: store.scalar(stepped_after, [applied]), "a step after the command",
                     loop, paper)  # fmt: skip

            held_asleep(store.path, loop, paper)
        finally:
            loop.send_signal(signal.SIGKILL)  # holding the file, asleep between steps
            loop.wait()

        # The store opens, with every step the loop finished; started again, the loop
        # takes up after the last of them.
        store = Store.open(data_dir)
        assert ledger.read_controls(store).kill_switch  # the command the loop applied, kept
        again = paper.again(store)
    assert again.returncode == 0, paper.said()
    assert json.loads(again.stdout)["last_bar"].startswith("2024-11-29 12:55-13:00")

    orders = store.query("SELECT client_order_id FROM paper_orders")
    assert orders.client_order_id.is_unique  # nothing sent twice across the kill
    fills = store.query("SELECT side FROM paper_fills")
    # Bought on the first bar; under the kill switch the exits still went, at the flat bar.
    assert (fills.side == "buy").sum() == (fills.side == "sell").sum() == 2
    assert PaperBroker(store, account="paper").positions() == []
    steps = store.query("SELECT subject FROM events WHERE kind = 'loop.step'").subject
    assert steps.is_unique  # no bar stepped twice
