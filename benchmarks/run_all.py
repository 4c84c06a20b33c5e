"""Run every benchmark and write one table of figures: benchmarks/results/summary.{md,json}.

    .venv/bin/python benchmarks/run_all.py [--only ingest,risk] [--skip ray_sweep]

Peers used only for comparison (backtesting.py) are installed here, into a folder of the
benchmark's own (``benchmarks/results/peers``), never into the project's environment.
Each benchmark runs in its own process and writes ``results/<name>.json``; a benchmark
that fails is listed with its error and the others go on. Timings depend on the machine
and its load: the table records both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks._common import RESULTS, machine  # noqa: E402

BENCHMARKS = [
    "ingest", "intraday_data", "strategies_signals", "research_core", "sweep_fast",
    "sweep_fast_intraday", "first_call", "ray_sweep",
    "research_run", "risk", "brokers", "live_step", "step_statements", "store_floor", "replay_step",
    "control_room", "ml",
    "store_backup",
    "peeking", "trial_ledger", "analyst_speed",
]
PEERS = RESULTS / "peers"


def install_peers() -> dict[str, str]:
    """backtesting.py for research_core's side-by-side figure, outside the project's venv."""
    if not (PEERS / "backtesting").exists():
        print("installing backtesting.py (comparison only) into", PEERS, flush=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(PEERS),
             "backtesting", "bokeh", "xyzservices"],
        )
        if done.returncode:
            print("could not install backtesting.py; research_core will skip that figure")
    return {"WB_BACKTESTING_PATH": str(PEERS)}


def flat(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            flat(f"{prefix}{key}: " if not prefix else f"{prefix}{key}: ", inner, out)
    else:
        out[prefix.rstrip(": ")] = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--skip", help="comma-separated benchmark names to leave out")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    if args.skip:
        names = [n for n in names if n not in args.skip.split(",")]
    env = {**os.environ, **install_peers()}
    RESULTS.mkdir(exist_ok=True)
    load_before = os.getloadavg()
    runs = {}
    for index, name in enumerate(names, 1):
        print(f"[{index}/{len(names)}] {name} ...", flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(HERE / f"{name}.py")], env=env,
                              capture_output=True, text=True, cwd=HERE.parent)
        took = time.monotonic() - started
        result_file = RESULTS / f"{name}.json"
        if done.returncode or not result_file.exists():
            runs[name] = {"status": "failed", "seconds": round(took, 1),
                          "error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
            print(f"    failed after {took:.0f}s", flush=True)
            continue
        figures: dict = {}
        data = json.loads(result_file.read_text())
        flat("", data.get("figures", data), figures)
        runs[name] = {"status": "ok", "seconds": round(took, 1), "figures": figures}
        print(f"    done in {took:.0f}s", flush=True)
    summary = {"machine": machine(), "load_average_before": load_before,
               "load_average_after": os.getloadavg(), "benchmarks": runs}
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    lines = ["# Benchmark figures", "",
             f"Machine: {summary['machine']}; load average before {load_before}, after {summary['load_average_after']}.", ""]
    for name, run in runs.items():
        lines += [f"## {name} ({run['status']}, {run['seconds']} s)", ""]
        if run["status"] != "ok":
            lines += [f"    {run['error']}", ""]
            continue
        lines += ["| figure | value |", "| --- | --- |"]
        lines += [f"| {key} | {value} |" for key, value in run["figures"].items()]
        lines.append("")
    (RESULTS / "summary.md").write_text("\n".join(lines))
    print(f"-> {RESULTS / 'summary.md'} and summary.json")


if __name__ == "__main__":
    main()
