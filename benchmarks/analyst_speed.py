"""What an analyst waits for: whole `wb` processes, the notebook's setup cell, sweep JSON.

    .venv/bin/python benchmarks/analyst_speed.py [--repeats 7] [--skip-sweep]

Every figure is the median of ``--repeats`` runs after one warm-up run (which fills
numba's on-disk cache and the OS file cache), each a fresh process as a user starts it:

- ``wb --help`` and ``wb strategies``;
- ``wb backtest --strategy sma_crossover --symbols GOOG`` on the bundled sample bars,
  against backtesting.py doing the same backtest as a whole process (SMA 10/30 crossover,
  next-open fills, 20% of equity per entry, 0.05% commission, on the same adjusted GOOG
  bars read from a CSV). backtesting.py is installed into ``benchmarks/results/peers``,
  never into the project's environment;
- the research notebook's setup cell (its parameters cell, then the setup cell, timed in
  a process that has already imported IPython and ipykernel, as a kernel has);
- ``wb sweep`` of 8,546 SMA combinations x 20 synthetic symbols (10 years of daily bars)
  with and without ``--json``: what writing the JSON adds.

To measure another checkout (e.g. main, for a before/after), run this file with that
checkout's source first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import save  # noqa: E402
from benchmarks.research_core import synthetic_bars  # noqa: E402
from benchmarks.run_all import install_peers  # noqa: E402

NOTEBOOK = ROOT / "notebooks" / "strategy_research.ipynb"
#: fast 1..73 step 2 x slow 4..498 step 2 with fast < slow: 8,546 combinations.
SWEEP_GRID = ["--grid", "fast=1:74:2", "--grid", "slow=4:500:2"]

PEER_SCRIPT = '''
import sys
import pandas as pd
from backtesting import Backtest
from benchmarks.peer_sma_cross import SmaCross

data = pd.read_csv(sys.argv[1], index_col=0, parse_dates=True)
backtest = Backtest(data, SmaCross, cash=100_000, commission=0.0005, finalize_trades=True)
print(backtest.run(entry_size=0.2))
'''

SETUP_CELL_SCRIPT = '''
import json, sys, time
import IPython, ipykernel  # a kernel has these loaded before any cell runs
cells = [c for c in json.load(open(sys.argv[1]))["cells"] if c["cell_type"] == "code"]
namespace = {}
exec("".join(cells[0]["source"]), namespace)
namespace["data_dir"] = sys.argv[2]
start = time.perf_counter()
exec("".join(cells[1]["source"]), namespace)
print(json.dumps({"setup_cell_seconds": time.perf_counter() - start}))
'''


def wall(command: list[str], env: dict, repeats: int, cwd: Path) -> float:
    """Median wall seconds of ``command`` over ``repeats`` runs, after a warm-up run.

    ``cwd`` is outside the checkout: ``python -m`` puts its working directory first on the
    path, which would shadow a PYTHONPATH that names another checkout.
    """
    times = []
    for turn in range(repeats + 1):
        # The output goes to a file, as `wb ... > out.json` would: reading 90 MB of JSON
        # through a pipe into this process would time this process, not the command.
        with open(cwd / "output.txt", "wb") as output:
            start = time.perf_counter()
            done = subprocess.run(
                command, env=env, stdout=output, stderr=subprocess.PIPE, text=True, cwd=cwd
            )
            took = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
        if turn:
            times.append(took)
    return statistics.median(times)


def wb(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli", *args]


def prepare(folder: Path) -> tuple[Path, Path, Path]:
    """(a data dir with the sample bars, GOOG's adjusted bars as CSV, one with 20 synthetic symbols)."""
    from engine.data import load_bars
    from engine.data.ingest import ingest
    from engine.data.sources import CsvSource, SampleSource
    from engine.store import Store

    sample_dir = folder / "sample"
    store = Store.open(sample_dir)
    ingest(store, SampleSource(), None, progress=False, actor="benchmark")
    goog = load_bars(store, ["GOOG"])
    csv = folder / "goog.csv"
    goog.to_long().drop(columns="symbol").rename(columns=str.title).set_index("Date").to_csv(csv)

    synthetic_dir = folder / "synthetic"
    long = synthetic_bars().to_long()
    long["adj_close"] = long["close"]
    (folder / "synthetic.csv").write_text(long.to_csv(index=False))
    ingest(
        Store.open(synthetic_dir), CsvSource(folder / "synthetic.csv"), None,
        policy="drop", progress=False, actor="benchmark",
    )  # fmt: skip
    return sample_dir, csv, synthetic_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    peers = install_peers()["WB_BACKTESTING_PATH"]
    figures: dict = {"load_average_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="wb-analyst-") as tmp:
        sample_dir, goog_csv, synthetic_dir = prepare(Path(tmp))
        at_sample = ["--data-dir", str(sample_dir)]
        here = Path(tmp)
        figures["wb_help_seconds"] = wall(wb("--help"), env, args.repeats, here)
        figures["wb_strategies_seconds"] = wall(
            wb(*at_sample, "strategies"), env, args.repeats, here
        )
        figures["wb_backtest_goog_seconds"] = wall(
            wb(*at_sample, "backtest", "--strategy", "sma_crossover", "--symbols", "GOOG"),
            env,
            args.repeats,
            here,
        )
        peer = Path(tmp) / "peer_backtest.py"
        peer.write_text(PEER_SCRIPT)
        peer_env = {**env, "PYTHONPATH": os.pathsep.join([peers, str(ROOT), env.get("PYTHONPATH", "")])}
        figures["backtesting_py_goog_seconds"] = wall(
            [sys.executable, str(peer), str(goog_csv)], peer_env, args.repeats, here
        )
        figures["wb_backtest_over_backtesting_py"] = (
            figures["wb_backtest_goog_seconds"] / figures["backtesting_py_goog_seconds"]
        )

        setup = Path(tmp) / "setup_cell.py"
        setup.write_text(SETUP_CELL_SCRIPT)
        cell_times = []
        for turn in range(args.repeats + 1):
            done = subprocess.run(
                [sys.executable, str(setup), str(NOTEBOOK), str(sample_dir)],
                env=env, capture_output=True, text=True, cwd=here, check=True,
            )  # fmt: skip
            if turn:
                cell_times.append(json.loads(done.stdout.strip().splitlines()[-1])["setup_cell_seconds"])
        figures["notebook_setup_cell_seconds"] = statistics.median(cell_times)

        if not args.skip_sweep:
            symbols = ",".join(f"SYN{k:02d}" for k in range(20))
            sweep = wb(
                "--data-dir", str(synthetic_dir), "sweep", "--strategy", "sma_crossover",
                "--symbols", symbols, *SWEEP_GRID,
            )  # fmt: skip
            repeats = max(1, args.repeats // 2)  # each sweep takes seconds
            figures["sweep_8546x20_text_seconds"] = wall(sweep, env, repeats, here)
            figures["sweep_8546x20_json_seconds"] = wall([*sweep, "--json"], env, repeats, here)
            figures["sweep_json_adds"] = (
                figures["sweep_8546x20_json_seconds"] / figures["sweep_8546x20_text_seconds"] - 1
            )
    figures["load_average_after"] = os.getloadavg()[0]
    figures["repeats"] = args.repeats
    figures["engine_measured"] = subprocess.run(  # which checkout the `wb` processes ran
        [sys.executable, "-c", "import engine; print(engine.__file__)"],
        env=env, capture_output=True, text=True, cwd=tempfile.gettempdir(), check=True,
    ).stdout.strip()  # fmt: skip
    save("analyst_speed", {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()})


if __name__ == "__main__":
    main()
