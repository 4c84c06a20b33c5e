"""Ingest throughput and the cost of a short store write under contention.

    .venv/bin/python benchmarks/ingest.py

Figures: bars/s ingesting the bundled sample; bars/s for a synthetic 500 symbols x 10 years;
median and p95 milliseconds of one short write transaction alone, and while two other
processes write to the same store.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save  # noqa: E402
from engine.data import calendar  # noqa: E402
from engine.data.ingest import ingest  # noqa: E402
from engine.data.sources import SampleSource  # noqa: E402
from engine.store import Store, append_event  # noqa: E402


class FrameSource:
    name = "synthetic"

    def __init__(self, rows):
        self.rows = rows

    def fetch(self, symbols, start=None, end=None, progress=None):
        return self.rows


def synthetic_rows(symbols: int, years: int, seed: int = 7) -> pd.DataFrame:
    """Geometric random walks on the real NYSE calendar, valid OHLC."""
    days = calendar.sessions("2014-01-01", f"{2014 + years - 1}-12-31")
    rng = np.random.default_rng(seed)
    n = len(days)
    frames = []
    for i in range(symbols):
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
        spread = close * rng.uniform(0.001, 0.02, n)
        frames.append(pd.DataFrame({
            "date": days, "symbol": f"S{i:03d}", "open": close + spread * rng.uniform(-1, 1, n),
            "high": close + spread * 1.5, "low": close - spread * 1.5, "close": close,
            "volume": rng.integers(1e5, 1e7, n).astype(float), "adj_close": close,
        }))
    rows = pd.concat(frames, ignore_index=True)
    rows["open"] = rows["open"].clip(rows["low"], rows["high"])
    return rows


def write_cost(store: Store, n: int) -> list[float]:
    times = []
    for i in range(n):
        t = time.perf_counter()
        store.transaction(lambda con, i=i: append_event(con, "bench.write", "bench", str(i)))
        times.append((time.perf_counter() - t) * 1000)
    return times


CONTENDER = """
import sys, time
from engine.store import Store, append_event
store = Store.open(sys.argv[1]); end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    store.transaction(lambda con: append_event(con, "bench.other", "other"))
"""


def main() -> None:
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "sample")
        t = time.perf_counter()
        result = ingest(store, SampleSource(), progress=False)
        elapsed = time.perf_counter() - t
        figures["sample ingest: bars"] = result.rows_added
        figures["sample ingest: seconds"] = round(elapsed, 2)
        figures["sample ingest: bars/s"] = round(result.rows_added / elapsed)
        t = time.perf_counter()
        ingest(store, SampleSource(), progress=False)
        figures["sample re-ingest (nothing new): seconds"] = round(time.perf_counter() - t, 2)

        rows = synthetic_rows(500, 10)
        big = Store.open(Path(tmp) / "synthetic")
        t = time.perf_counter()
        result = ingest(big, FrameSource(rows), progress=True)
        elapsed = time.perf_counter() - t
        figures["synthetic 500x10y ingest: bars"] = result.rows_added
        figures["synthetic 500x10y ingest: seconds"] = round(elapsed, 1)
        figures["synthetic 500x10y ingest: bars/s"] = round(result.rows_added / elapsed)

        alone = write_cost(store, 40)
        figures["short write alone: median ms"] = round(statistics.median(alone), 1)
        figures["short write alone: p95 ms"] = round(np.percentile(alone, 95), 1)
        root = Path(__file__).resolve().parents[1]
        others = [subprocess.Popen([sys.executable, "-c", CONTENDER, str(Path(tmp) / "sample"), "20"],
                                   cwd=root) for _ in range(2)]
        time.sleep(2)
        contended = write_cost(store, 40)
        for p in others:
            p.wait()
        figures["short write, 2 other writers: median ms"] = round(statistics.median(contended), 1)
        figures["short write, 2 other writers: p95 ms"] = round(np.percentile(contended, 95), 1)
        figures["short write, 2 other writers: lock waits per write"] = round(store.retries / 40, 1)
    save("ingest", figures)


if __name__ == "__main__":
    main()
