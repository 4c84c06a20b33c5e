"""What the Alpaca feed's held bars cost a 1-minute step: ``HeldBars.add`` + ``window``, before and after.

    .venv/bin/python benchmarks/alpaca_feed.py [--steps 30] [--rounds 3] [--before OTHER_CHECKOUT]

A 1-minute paper/live loop on Alpaca, lookback 300, for 20 and 500 symbols: the session's
first step holds the lookback's history (three sessions of generated minute bars, as the
REST feed's first ask gives them); each later step adds what the REST feed asks for (the
last bar again, which Alpaca may have corrected, and the new one) and takes the window.
Two cases: the last bar sent again as it was, and corrected (every close a cent off).
"after" is this checkout's HeldBars; with ``--before``, the HeldBars of the code at that
checkout too (an A/B against an older commit, e.g. a ``git worktree`` of it); each runs
in a process of its own, alternating within each round so both see the same load. Figures: medians of the process's CPU time per step, in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
DAY = "2024-03-12"
HISTORY = ["2024-03-07", "2024-03-08", "2024-03-11"]
LOOKBACK = 300


def minute_rows(symbols: int, days: list[str]):
    """Random-walk minute bars of S000... over the regular sessions of ``days``, as the REST feed gives them."""
    import numpy as np
    import pandas as pd

    from engine.data.bars import INTRADAY_COLUMNS

    rng = np.random.default_rng(7)
    stamps = pd.DatetimeIndex([]).tz_localize("America/New_York")
    for day in days:
        stamps = stamps.append(pd.date_range(f"{day} 09:30", f"{day} 16:00", freq="1min",
                                             tz="America/New_York", inclusive="left"))  # fmt: skip
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.001, (len(stamps), symbols)), axis=0))
    names = [f"S{i:03d}" for i in range(symbols)]
    frame = pd.DataFrame({
        "timestamp": np.repeat(stamps, symbols), "symbol": np.tile(names, len(stamps)),
        "open": close.ravel() * 0.999, "high": close.ravel() * 1.002, "low": close.ravel() * 0.997,
        "close": close.ravel(), "volume": rng.integers(100, 5000, close.size).astype(float),
    })  # fmt: skip
    frame["adj_close"] = frame["close"]
    return names, frame[INTRADAY_COLUMNS]


def worker(repo: str, symbols: int, steps: int, corrected: bool) -> dict:
    """CPU ms of the first step (the history held) and of each later step, with ``repo``'s HeldBars."""
    sys.path.insert(0, repo)
    from engine.live.alpaca_feed import HeldBars
    from engine.live.clock import session_bars

    names, history = minute_rows(symbols, HISTORY)
    _, today = minute_rows(symbols, [DAY])
    minutes = session_bars(DAY, "1m")
    at = {bar.label: rows for bar, (_, rows) in zip(minutes, today.groupby("timestamp"), strict=False)}
    held = HeldBars(names, "1m", LOOKBACK, "alpaca")
    start = time.process_time()
    held.reset(history)
    held.window(minutes[0])
    first = (time.process_time() - start) * 1e3
    times = []
    for previous, bar in zip(minutes[:steps], minutes[1 : steps + 1], strict=True):
        again = at[previous.label]
        if corrected:
            again = again.assign(close=again["close"] + 0.01)
        asked = __import__("pandas").concat([again, at[bar.label]], ignore_index=True)
        start = time.process_time()
        held.add(asked)
        window = held.window(bar)
        times.append((time.process_time() - start) * 1e3)
        assert window.index[-1] == bar.label and len(window) == LOOKBACK
    return {"first": first, "steps": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", default=None, help="another checkout to time beside this one")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        repo, symbols, steps, corrected = args.worker
        print(json.dumps(worker(repo, int(symbols), int(steps), corrected == "1")))
        return
    sys.path.insert(0, str(HERE))
    from benchmarks._common import save

    figures: dict = {"load_at_start": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
                     "lookback": LOOKBACK, "steps": args.steps, "before": args.before}  # fmt: skip
    timed: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for symbols in (20, 500):
            for corrected in (False, True):
                trees = [("before", args.before)] if args.before else []
                for label, repo in [*trees, ("after", str(HERE))]:
                    out = subprocess.run(
                        [sys.executable, __file__, "--worker", repo, str(symbols), str(args.steps),
                         "1" if corrected else "0"],
                        check=True, capture_output=True, text=True, cwd=repo,
                    ).stdout  # fmt: skip
                    result = json.loads(out)
                    case = "last bar corrected" if corrected else "last bar again"
                    timed.setdefault(f"{symbols} symbols, {case}: add+window ms, {label}", []).extend(
                        result["steps"])
                    if not corrected:
                        timed.setdefault(f"{symbols} symbols, session's first step ms, {label}",
                                         []).append(result["first"])  # fmt: skip
    figures |= {key: round(statistics.median(values), 3) for key, values in sorted(timed.items())}
    figures["load_at_end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    save("alpaca_feed", figures)


if __name__ == "__main__":
    main()
