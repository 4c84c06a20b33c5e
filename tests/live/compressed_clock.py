"""`wb` on a compressed NYSE clock, for real-process tests of paper and live trading.

    python -m tests.live.compressed_clock "2024-11-29 12:20" 60 --data-dir D live --mode paper ...

The wall clock starts at the given New York time (when first read) and runs that many
times faster: every
``MarketClock`` the command makes keeps that time, and so do the paper broker and the
feeds' waits, which take their time from it. Nothing else changes: the same command, the
same process, the real alpaca-py clients (pointed at a stand-in by WB_ALPACA_DATA_URL).
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

import pandas as pd

from engine.live import clock as clocks


def compress(start: str, speed: float) -> None:
    """Make every MarketClock from here on keep compressed time from ``start``."""
    origin = pd.Timestamp(start, tz="America/New_York").tz_convert("UTC").tz_localize(None)
    began: list[float] = []  # the clock starts when first read, not while Python imports

    def now():
        began[:] = began or [time.monotonic()]
        return (origin + timedelta(seconds=(time.monotonic() - began[0]) * speed)).to_pydatetime()

    def sleep(seconds: float) -> None:
        time.sleep(seconds / speed)

    original = clocks.MarketClock.__init__

    def compressed(self, **options):
        original(self, **{**options, "now": now, "sleep": sleep})

    clocks.MarketClock.__init__ = compressed


if __name__ == "__main__":
    start, speed, *args = sys.argv[1:]
    compress(start, float(speed))
    from engine.cli import main

    sys.argv = ["wb", *args]
    main()
