"""Bounded work and backups: how fast a huge grid is refused, and what a backup costs others.

    .venv/bin/python benchmarks/store_backup.py

Figures: seconds for `wb sweep` to refuse a ten-billion-combination grid (end to end, a
fresh process; it ran 40 s into a MemoryError before); for a store of 1M events plus the
sample bars: the backup's lock hold (checkpoint and byte copy: what other processes wait
for), the whole backup with its full read-back check, a restore; and a short write's
latency in another process while backups run back to back. Medians of repeated runs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import save  # noqa: E402
from engine.data.ingest import ingest  # noqa: E402
from engine.data.sources import SampleSource  # noqa: E402
from engine.store import Store  # noqa: E402
from engine.store.backup import restore_backup, take_backup  # noqa: E402

WRITER = """
import json, sys, time
from engine.store import Store, append_event
store = Store.open(sys.argv[1]); end = time.monotonic() + float(sys.argv[2]); times = []
while time.monotonic() < end:
    t = time.perf_counter()
    store.transaction(lambda con: append_event(con, "bench.write", "writer"))
    times.append((time.perf_counter() - t) * 1000)
print(json.dumps(times))
"""


def huge_grid_refusal(data_dir: Path) -> float:
    command = [sys.executable, "-m", "engine.cli", "--data-dir", str(data_dir), "sweep",
               "--strategy", "sma_crossover", "--symbols", "AAPL",
               "--grid", "fast=1:100000:1", "--grid", "slow=1:100000:1"]  # fmt: skip
    t = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - t
    assert done.returncode == 2 and "combinations" in done.stderr, done.stderr
    return elapsed


def writes_during(store: Store, seconds: float, backups: bool) -> list[float]:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store.data_dir), str(seconds)],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    end = time.monotonic() + seconds
    while backups and time.monotonic() < end:
        take_backup(store, keep=2)
    out, _ = writer.communicate()
    return json.loads(out)


def main() -> None:
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        refusals = [huge_grid_refusal(Path(tmp) / "empty") for _ in range(3)]
        figures["wb sweep refuses a 1e10-combination grid: median s"] = round(
            statistics.median(refusals), 2
        )

        store = Store.open(Path(tmp) / "store")
        ingest(store, SampleSource(), progress=False)
        store.execute(
            "INSERT INTO events (ts, actor, kind, subject, payload) SELECT now(), 'loop',"
            " 'order.submitted', 'AAPL', json_object('i', i, 'qty', i % 100)"
            " FROM range(1000000) t(i)"
        )
        holds, totals = [], []
        for k in range(5):
            t = time.perf_counter()
            store.copy_to(Path(tmp) / f"copy{k}.duckdb")
            holds.append(time.perf_counter() - t)
            t = time.perf_counter()
            backup, _ = take_backup(store, keep=2)
            totals.append(time.perf_counter() - t)
        figures["store size (1M events + sample bars): MB"] = round(backup.size / 1e6, 1)
        figures["backup lock hold (checkpoint + copy): median ms"] = round(
            statistics.median(holds) * 1000
        )
        figures["backup with full read-back check: median s"] = round(statistics.median(totals), 2)

        t = time.perf_counter()
        restore_backup(store.data_dir, backup.path, actor="bench")
        figures["restore (check + swap + audit): s"] = round(time.perf_counter() - t, 2)

        alone = writes_during(store, 8, backups=False)
        during = writes_during(store, 8, backups=True)
        for label, times in (("alone", alone), ("while backups run", during)):
            figures[f"short write in another process, {label}: median ms"] = round(
                statistics.median(times), 1
            )
            figures[f"short write in another process, {label}: p95 ms"] = round(
                float(np.percentile(times, 95)), 1
            )
            figures[f"short write in another process, {label}: max ms"] = round(max(times), 1)
    save("store_backup", figures)


if __name__ == "__main__":
    main()
