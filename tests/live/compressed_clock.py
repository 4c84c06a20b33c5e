"""`wb` on a compressed NYSE clock, for real-process tests of paper and live trading.

    python -m tests.live.compressed_clock "2024-11-29 12:20" 60 [--leap] --data-dir D live ...

The wall clock starts at the given New York time (when first read) and runs that many
times faster: every
``MarketClock`` the command makes keeps that time, and so do the paper broker and the
feeds' waits, which take their time from it. Nothing else changes: the same command, the
same process, the real alpaca-py clients (pointed at a stand-in by WB_ALPACA_DATA_URL).

With ``--leap``, a wait on the clock (the loop sleeping until a bar's step is due, between
its heartbeats; a feed waiting for a late bar) takes no wall time: the clock leaps over
it. Work still takes its wall time, sped up as before, so a step that runs long still
runs past its bar's moment; only the idle minutes between steps are skipped.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta

import pandas as pd

from engine.live import clock as clocks


def compress(start: str, speed: float, *, leap: bool = False) -> None:
    """Make every MarketClock from here on keep compressed time from ``start`` (waits on it
    leapt over with ``leap``)."""
    origin = pd.Timestamp(start, tz="America/New_York").tz_convert("UTC").tz_localize(None)
    began: list[float] = []  # the clock starts when first read, not while Python imports
    leapt = [0.0]  # seconds of clock time skipped by waits, with ``leap``
    lock = threading.Lock()  # a feed's thread may wait while the loop's does

    def now():
        with lock:
            began[:] = began or [time.monotonic()]
            elapsed = (time.monotonic() - began[0]) * speed + leapt[0]
        return (origin + timedelta(seconds=elapsed)).to_pydatetime()

    def sleep(seconds: float) -> None:
        if not leap:
            time.sleep(seconds / speed)
            return
        now()  # the clock has started: a leap moves it on from here
        with lock:
            leapt[0] += max(seconds, 0.0)
        time.sleep(0)  # give way, as a sleep would, to the process's other threads

    original = clocks.MarketClock.__init__

    def compressed(self, **options):
        original(self, **{**options, "now": now, "sleep": sleep})

    clocks.MarketClock.__init__ = compressed


if __name__ == "__main__":
    start, speed, *args = sys.argv[1:]
    leap = args[:1] == ["--leap"]
    compress(start, float(speed), leap=leap)
    from engine.cli import main

    sys.argv = ["wb", *args[leap:]]
    main()
