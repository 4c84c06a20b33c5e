"""How long `wb drift` takes to explain a config's live trading: the backtest re-run, the
book read and the attribution, after the imports (median of 5 runs).

    .venv/bin/python benchmarks/drift.py [DATA_DIR] [CONFIG_ID]

Without arguments it builds a data dir in a temporary folder: the sample bars, a Donchian
config on four symbols replayed by the live loop through the paper broker over 2012.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path


def _replayed(data_dir: Path) -> str:
    from engine.data.ingest import ingest
    from engine.data.sources import SampleSource
    from engine.live.runner import run_replay
    from engine.live.setup import open_loop
    from engine.store import Store
    from tests.live.conftest import allow_replay, approve

    store = Store.open(data_dir)
    ingest(store, SampleSource())
    config = approve(store, "donchian_breakout",
                     {"entry_window": 10, "exit_window": 5, "atr_window": 10},
                     ["AAPL", "BA", "CAT", "GE"], stop="strategy", size="risk", max_positions=3)  # fmt: skip
    allow_replay(store)
    opened = open_loop(store, mode="replay", config_ids=[config.config_id],
                       start="2012-01-03", end="2012-12-31")  # fmt: skip
    run_replay(opened.loop, opened.days, sleep=lambda s: None)
    return config.config_id


def main() -> None:
    from engine.live.drift import drift_report
    from engine.store import Store

    if len(sys.argv) == 3:
        data_dir, config_id = Path(sys.argv[1]), sys.argv[2]
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="wb-drift-"))
        print(f"replaying a config over 2012 in {data_dir} ...", flush=True)
        config_id = _replayed(data_dir)
    store = Store.open(data_dir)
    drift_report(store, config_id)  # the first run compiles and warms the caches
    times = []
    for _ in range(5):
        began = time.perf_counter()
        report = drift_report(store, config_id)
        times.append(time.perf_counter() - began)
    print(f"wb drift {config_id} over {report.start}..{report.end} ({len(report.fills)} fills): "
          f"median {statistics.median(times):.3f} s, min {min(times):.3f} s")  # fmt: skip


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
