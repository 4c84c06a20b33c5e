"""`wb live --mode paper` on a 5-minute config, a real process on a compressed clock.

The command as a person runs it, its bars from alpaca-py's real data client pointed at
the loopback stand-in (WB_ALPACA_DATA_URL), the NYSE clock running 60 times fast from
12:10 on the early close of 2024-11-29 (tests/live/compressed_clock.py). Killed with
SIGKILL after its first steps and started again, it sends no order twice, and its book
is flat by 12:30, thirty minutes before that day's 13:00 close. The run started again
leaps over its waits between steps (``--leap``): it still sleeps until each bar's step
is due on the clock, and steps each bar to the close, without half a minute of idle wall
time.
"""

from __future__ import annotations

import json
import signal
import time

import pandas as pd
import pytest

from engine.brokers import PaperBroker
from engine.live import ids
from engine.store import Store
from tests.live.paper_process import paper_process, stepped

pytestmark = pytest.mark.slow  # real processes or long replays: run early (tests/conftest.py)

NY = "America/New_York"


def test_a_paper_process_on_the_clock_steps_each_bar_survives_a_kill_and_is_flat_on_time(
    store, data_dir, tmp_path
):
    with paper_process(store, data_dir, tmp_path / "stderr.txt") as paper:
        first = paper.start("12:10")
        deadline = time.monotonic() + 120
        while stepped(store) < 2:  # the 12:15 step (its entries) and the next
            assert first.poll() is None, paper.said()
            assert time.monotonic() < deadline, "the paper loop made no progress"
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait()
        again = paper.again(store)
    assert again.returncode == 0, paper.said()
    summary = json.loads(again.stdout)
    assert summary["mode"] == "paper" and summary["last_bar"].startswith("2024-11-29 12:55-13:00")

    orders = store.query("SELECT client_order_id FROM paper_orders")
    assert orders.client_order_id.is_unique  # the restart sent nothing twice
    fills = store.query("SELECT client_order_id, side, filled_at FROM paper_fills")
    filled = pd.to_datetime(fills.filled_at).dt.tz_localize("UTC").dt.tz_convert(NY)
    buys, sells = fills[fills.side == "buy"], fills[fills.side == "sell"]
    assert len(buys) == len(sells) == 2  # bought on the first bar, sold at the flat bar's close
    # Decided at the flat bar's close (or, were a step to run past its moment on a busy
    # machine, at the next), filled in the session.
    assert {ids.parse_decision_id(c).at for c in sells.client_order_id} <= {"1230", "1235"}
    assert (filled.dt.strftime("%H:%M") < "13:00").all()
    assert PaperBroker(Store.open(data_dir), account="paper").positions() == []
