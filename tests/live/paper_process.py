"""`wb live --mode paper` as a person runs it, a real process on a compressed clock.

A 5-minute flat-by-close Donchian config on two rising symbols, its bars from alpaca-py's
real data client pointed at the loopback stand-in (WB_ALPACA_DATA_URL), the NYSE clock
running 60 times fast on the early close of 2024-11-29 (tests/live/compressed_clock.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine.live.commands import SetRiskLimits, submit_command
from tests.live.conftest import REPLAY_LIMITS, approve
from tests.live.test_intraday_market import PARAMS, SYMBOLS, rising_minutes
from tests.standins.alpaca_data import API_KEY, SECRET_KEY, AlpacaDataStandIn

ROOT = Path(__file__).resolve().parents[2]


NY = "America/New_York"


@dataclass(frozen=True)
class PaperProcess:
    """How to run the paper loop on the config: its command, environment and stderr."""

    config_id: str
    data_dir: Path
    env: dict[str, str]
    errors: Path  # the stderr of the last process started

    def command(self, start: str, *leap: str) -> list[str]:
        """The loop from ``start`` (New York, "HH:MM") to the close; ``--leap`` skips its waits."""
        return [sys.executable, "-m", "tests.live.compressed_clock", f"2024-11-29 {start}", "60",
                *leap, "--data-dir", str(self.data_dir), "live", "--mode", "paper", "--config",
                self.config_id, "--feed", "alpaca", "--sessions", "1", "--tick", "60",
                "--json"]  # fmt: skip

    def start(self, at: str) -> subprocess.Popen:
        """The loop started at ``at`` on the clock, running on its own."""
        with self.errors.open("w") as sink:
            return subprocess.Popen(self.command(at), cwd=ROOT, env=self.env, stderr=sink,
                                    stdout=subprocess.DEVNULL)  # fmt: skip

    def again(self, store) -> subprocess.CompletedProcess:
        """The loop started again three minutes (of the clock) after the last step it
        finished, leaping over its waits, run to the close."""
        last = store.scalar("SELECT max(bar_at) FROM live_books")
        at = pd.Timestamp(last).tz_localize("UTC").tz_convert(NY) + pd.Timedelta(minutes=3)
        with self.errors.open("w") as sink:
            return subprocess.run(self.command(f"{at:%H:%M}", "--leap"), cwd=ROOT, env=self.env,
                                  stderr=sink, stdout=subprocess.PIPE, text=True,
                                  timeout=300)  # fmt: skip

    def said(self) -> str:
        """The end of what the last process wrote to stderr."""
        return self.errors.read_text()[-2000:]


def stepped(store) -> int:
    """How many steps the loops finished."""
    return int(store.scalar("SELECT count(*) FROM events WHERE kind = 'loop.step'") or 0)


@contextmanager
def paper_process(store, data_dir: Path, errors: Path) -> Iterator[PaperProcess]:
    """The config approved in ``store`` and the data stand-in serving its minutes, while
    the block runs."""
    config = approve(store, "donchian_breakout", PARAMS, SYMBOLS, bar_size="5m", size="fraction",
                     fraction=0.3, max_positions=2, flat_by_close=True,
                     flat_minutes_before_close=30)  # fmt: skip
    submit_command(store, SetRiskLimits(limits=REPLAY_LIMITS.to_mapping()), actor="bob")
    with AlpacaDataStandIn(page_size=10_000) as server:
        for symbol, start in zip(SYMBOLS, (50.0, 80.0), strict=True):
            server.add_minutes(symbol, rising_minutes(start))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "APCA_API_KEY_ID": API_KEY,
               "APCA_API_SECRET_KEY": SECRET_KEY, "WB_ALPACA_DATA_URL": server.url,
               "WB_HEARTBEAT_STALE_S": "600"}  # fmt: skip
        yield PaperProcess(config.config_id, data_dir, env, errors)
