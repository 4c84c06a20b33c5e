"""Intraday data at scale: ingesting a year of minute bars for 500 symbols, and reading one back.

    .venv/bin/python benchmarks/intraday_data.py [--symbols 500] [--repeats 3]

Figures (medians over the repeats): rows/s of `ingest` for 500 symbols x the 2023 sessions
of generated 1-minute bars (about 49 million rows), with the time spent generating them
left out; the store's size on disk; the peak memory of the ingesting process (each ingest
runs in a fresh process, so the peak is its own); seconds to read one symbol-year of 1m
bars from that store and resample it to 5m. The machine is shared: rows per CPU-second
of the ingesting process is the steadier figure when others load it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save  # noqa: E402
from engine.data import calendar  # noqa: E402
from engine.data.bars import INTRADAY_COLUMNS  # noqa: E402

YEAR = "2023"


@lru_cache(maxsize=1)
def minute_grid() -> pd.DatetimeIndex:
    """Every regular-hours minute of the year's sessions, New York time (early closes short)."""
    times = calendar.session_times(f"{YEAR}-01-01", f"{YEAR}-12-31")
    parts = [day + pd.to_timedelta(np.arange(o, c), unit="min")
             for day, o, c in zip(times.index, times["open"], times["close"], strict=True)]
    return parts[0].append(parts[1:]).tz_localize(calendar.TZ)


class GeneratedMinutes:
    """A source of random-walk minute bars for S000, S001, ...: valid OHLC on the real calendar."""

    name = "generated"
    bar_sizes = frozenset({"1m"})
    remote = False

    def __init__(self, count: int):
        self.count = count
        self.seconds = 0.0  # time spent generating, left out of the ingest rate

    def symbols(self) -> list[str]:
        return [f"S{i:03d}" for i in range(self.count)]

    def fetch(self, symbols, start=None, end=None, *, bar_size="1m", extended_hours=False):
        started = time.perf_counter()
        grid = minute_grid()
        n = len(grid)
        frames = []
        for symbol in symbols:
            rng = np.random.default_rng(int(symbol[1:]))
            close = 50 * np.exp(np.cumsum(rng.normal(0, 0.0008, n)))
            open_ = np.r_[close[0], close[:-1]]
            wick = close * rng.uniform(0.0001, 0.001, n)
            frames.append(pd.DataFrame({
                "timestamp": grid, "symbol": symbol, "open": open_,
                "high": np.maximum(open_, close) + wick, "low": np.minimum(open_, close) - wick,
                "close": close, "volume": rng.integers(100, 20_000, n).astype(float), "adj_close": close,
            }))
        rows = pd.concat(frames, ignore_index=True)[INTRADAY_COLUMNS]
        self.seconds += time.perf_counter() - started
        return rows


def ingest_once(data_dir: str, count: int) -> dict:
    """One ingest in this process: its figures as a dict (run in a child for its own peak memory)."""
    import resource

    from engine.data.ingest import ingest
    from engine.store import Store

    store = Store.open(data_dir)
    source = GeneratedMinutes(count)
    started = time.perf_counter()
    result = ingest(store, source, source.symbols(), f"{YEAR}-01-01", f"{YEAR}-12-31", bar_size="1m",
                    progress=False, actor="bench", now=pd.Timestamp("2024-06-01", tz=calendar.TZ))
    elapsed = time.perf_counter() - started
    size = sum(p.stat().st_size for p in Path(data_dir).iterdir() if p.is_file())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"rows": result.rows_added, "seconds": elapsed, "generating": source.seconds,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_gib": usage.ru_maxrss / 2**20,
            "store_gib": size / 2**30, "errors": len(result.report.errors)}


def read_and_resample(data_dir: str) -> float:
    from engine.data.repository import load_bars
    from engine.store import Store

    store = Store.open(data_dir)
    started = time.perf_counter()
    symbol = store.scalar("SELECT max(symbol) FROM intraday_bars")  # the last one written
    bars = load_bars(store, [symbol], f"{YEAR}-01-01", f"{YEAR}-12-31", bar_size="1m")
    five = bars.resample("5m")
    elapsed = time.perf_counter() - started
    assert len(bars) == len(minute_grid()) and five.volume.sum().sum() == bars.volume.sum().sum()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(ingest_once(args.child, args.symbols)))
        return
    runs, reads = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            data_dir = Path(tmp) / f"run{i}"
            child = subprocess.run([sys.executable, __file__, "--symbols", str(args.symbols), "--child",
                                    str(data_dir)], capture_output=True, text=True, check=True)
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
            print(f"ingest {i + 1}: {runs[-1]}", flush=True)
            reads += [read_and_resample(str(data_dir)) for _ in range(3)]
            if i:
                for p in data_dir.iterdir():
                    p.unlink()  # keep one store on disk at a time
    rows = runs[0]["rows"]
    figures = {
        "symbols x sessions": f"{args.symbols} x {len(calendar.sessions(f'{YEAR}-01-01', f'{YEAR}-12-31'))}",
        "rows ingested": rows,
        "ingest seconds (median)": round(statistics.median(r["seconds"] for r in runs), 1),
        "ingest rows/s, generation left out (median)": round(statistics.median(
            r["rows"] / (r["seconds"] - r["generating"]) for r in runs)),
        "ingest rows/s, generation included (median)": round(statistics.median(
            r["rows"] / r["seconds"] for r in runs)),
        "ingest rows per CPU-second, whole process (median)": round(statistics.median(
            r["rows"] / r["cpu_seconds"] for r in runs)),
        "store size on disk GiB": round(statistics.median(r["store_gib"] for r in runs), 2),
        "store bytes per row": round(statistics.median(r["store_gib"] for r in runs) * 2**30 / rows, 1),
        "peak memory of the ingest GiB (median)": round(statistics.median(r["peak_rss_gib"] for r in runs), 2),
        "read 1 symbol-year of 1m + resample to 5m: seconds (median)": round(statistics.median(reads), 3),
        "repeats": args.repeats,
    }
    save("intraday_data", figures)


if __name__ == "__main__":
    main()
