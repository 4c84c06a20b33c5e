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
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from engine.brokers import PaperBroker
from engine.live import ids
from engine.store import Store
from tests.live.conftest import REPLAY_LIMITS, approve
from tests.live.test_intraday_market import PARAMS, SYMBOLS, rising_minutes
from tests.standins.alpaca_data import API_KEY, SECRET_KEY, AlpacaDataStandIn

pytestmark = pytest.mark.slow  # real processes or long replays: run early (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
NY = "America/New_York"


def _stepped(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM events WHERE kind = 'loop.step'") or 0)


def test_a_paper_process_on_the_clock_steps_each_bar_survives_a_kill_and_is_flat_on_time(
    store, data_dir, tmp_path
):
    from engine.live.commands import SetRiskLimits, submit_command

    config = approve(store, "donchian_breakout", PARAMS, SYMBOLS, bar_size="5m", size="fraction",
                     fraction=0.3, max_positions=2, flat_by_close=True,
                     flat_minutes_before_close=30)  # fmt: skip
    submit_command(store, SetRiskLimits(limits=REPLAY_LIMITS.to_mapping()), actor="bob")
    def command(start: str, *leap: str) -> list[str]:
        return [sys.executable, "-m", "tests.live.compressed_clock", f"2024-11-29 {start}", "60",
                *leap, "--data-dir", str(data_dir), "live", "--mode", "paper", "--config",
                config.config_id, "--feed", "alpaca", "--sessions", "1", "--tick", "60",
                "--json"]  # fmt: skip

    errors = tmp_path / "stderr.txt"
    with AlpacaDataStandIn(page_size=10_000) as server:
        for symbol, start in zip(SYMBOLS, (50.0, 80.0), strict=True):
            server.add_minutes(symbol, rising_minutes(start))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "APCA_API_KEY_ID": API_KEY,
               "APCA_API_SECRET_KEY": SECRET_KEY, "WB_ALPACA_DATA_URL": server.url,
               "WB_HEARTBEAT_STALE_S": "600"}  # fmt: skip
        with errors.open("w") as sink:
            first = subprocess.Popen(command("12:10"), cwd=ROOT, env=env, stderr=sink,
                                     stdout=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 120
        while _stepped(store) < 2:  # the 12:15 step (its entries) and the next
            assert first.poll() is None, errors.read_text()[-2000:]
            assert time.monotonic() < deadline, "the paper loop made no progress"
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait()
        # Started again three minutes (of the clock) after the last step it finished.
        last = store.scalar("SELECT max(bar_at) FROM live_books")
        again_at = pd.Timestamp(last).tz_localize("UTC").tz_convert(NY) + pd.Timedelta(minutes=3)
        with errors.open("w") as sink:
            again = subprocess.run(command(f"{again_at:%H:%M}", "--leap"), cwd=ROOT, env=env,
                                   stderr=sink, stdout=subprocess.PIPE, text=True,
                                   timeout=300)  # fmt: skip
    assert again.returncode == 0, errors.read_text()[-2000:]
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
