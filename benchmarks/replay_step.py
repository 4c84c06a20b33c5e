"""What one replay step costs at the margin: the demo's daily config and a 5-minute one.

    .venv/bin/python benchmarks/replay_step.py [--steps N]

A replay (``wb live --mode replay``) on the paper broker, in a store file of its own:

- daily: the demo's universe (7 symbols of the bundled sample), a Donchian breakout with
  its own stops, stepping the sessions of 2012;
- 5m: the same strategy on 3 symbols of the SYNTHETIC 5-minute sample, stepping every
  bar close from 2013-11-01.

Each step is timed on its own (the loop's ``on_step`` callback); the figure is the median
step after the first five (start-up and first-use costs left out): the marginal cost the
issue's target (10 ms) is about. A year of 5-minute bars for 20 symbols is extrapolated
from it (19,500 steps; the step's cost grows with the symbols, so this is a floor).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save  # noqa: E402
from engine.data.ingest import ingest  # noqa: E402
from engine.data.sources import SampleSource, SyntheticSource  # noqa: E402
from engine.live.runner import run_replay  # noqa: E402
from engine.store import Store  # noqa: E402
from tests.live.conftest import allow_replay, approve, open_replay  # noqa: E402

DEMO_UNIVERSE = ["AAPL", "BA", "CAT", "F", "GE", "IBM", "MSFT"]
PARAMS = {"entry_window": 20, "exit_window": 10, "atr_window": 14}
WARM = 5
STEPS_PER_YEAR_5M = 252 * 78


def step_times(store, start: str, end: str, steps: int) -> list[float]:
    """Seconds each of the first ``steps`` replay steps took (after :data:`WARM` more)."""
    opened = open_replay(store, start=start, end=end)
    times, last = [], [time.perf_counter()]

    def on_step(_report):
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    run_replay(opened.loop, opened.days[: steps + WARM], on_step=on_step)
    return times[WARM:]


def daily(steps: int) -> list[float]:
    store = Store.open(Path(tempfile.mkdtemp()))
    ingest(store, SampleSource(), DEMO_UNIVERSE, progress=False, actor="bench")
    store.config = approve(store, "donchian_breakout", PARAMS, DEMO_UNIVERSE, stop="strategy",
                           size="risk", max_positions=5)  # fmt: skip
    allow_replay(store)
    return step_times(store, "2012-01-03", "2012-12-31", steps)


def intraday(steps: int) -> list[float]:
    store = Store.open(Path(tempfile.mkdtemp()))
    symbols = ["AAPL", "F", "GE"]
    ingest(store, SyntheticSource(), symbols, "2013-10-01", "2013-11-29", bar_size="5m",
           progress=False, actor="bench")  # fmt: skip
    store.config = approve(store, "donchian_breakout", PARAMS, symbols, bar_size="5m",
                           stop="strategy", size="fraction", fraction=0.3, max_positions=3)  # fmt: skip
    allow_replay(store)
    return step_times(store, "2013-11-01", "2013-11-29", steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="steps timed per case")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the replay's alerts are not the benchmark's output
    figures = {}
    for name, run in (("daily, 7 symbols", daily), ("5m, 3 symbols", intraday)):
        times = run(args.steps)
        median = statistics.median(times)
        figures[f"replay step {name}: median ms"] = round(median * 1e3, 1)
        figures[f"replay step {name}: p90 ms"] = round(
            statistics.quantiles(times, n=10)[-1] * 1e3, 1
        )
        figures[f"replay step {name}: steps timed"] = len(times)
    five_minute = figures["replay step 5m, 3 symbols: median ms"] / 1e3
    figures["a year of 5m bars at that step (minutes, a floor for 20 symbols)"] = round(
        five_minute * STEPS_PER_YEAR_5M / 60, 1
    )
    save("replay_step", figures)


if __name__ == "__main__":
    main()
