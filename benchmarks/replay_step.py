"""What a replay step costs at the margin, and what a year of 5-minute bars takes.

    .venv/bin/python benchmarks/replay_step.py [--steps N] [--sessions N]

A replay (``wb live --mode replay``) on the paper broker, in a store file of its own:

- daily: the demo's config (7 symbols of the bundled sample, a Donchian breakout with its
  own stops), stepping the sessions of 2012. Each step is timed on its own (the loop's
  ``on_step`` callback), wall clock and this process's CPU time; the figures are medians
  over the steps after the first five (start-up and first-use costs left out): the
  marginal cost the issue's target (10 ms) is about.
- a year of 5-minute bars for 20 symbols: SYNTHETIC bars (engine/data/synthetic.py) drawn
  inside the real daily bars of 2013 for the sample's 11 symbols and 9 renamed copies of
  them (seeded by name, so each path differs), a Donchian breakout on all 20, every bar
  close of 2013 (19,5xx steps). ``--sessions`` replays the first N sessions only and
  scales its steps to the year (labelled so; the replay's start, paid once, is not
  scaled). A step's signals see the paper loop's lookback (300
  bars) whatever the date, but the books it reads grow with its trades, so a scaled
  figure is still a floor.

The machine is shared: the load average (``uptime``) is reported at the start and the
end, and CPU time beside wall time, the less noisy of the two. The 500-symbol step against
its signals alone is ``benchmarks/live_step.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save  # noqa: E402
from engine.data import calendar  # noqa: E402
from engine.data.ingest import ingest  # noqa: E402
from engine.data.sources import SampleSource  # noqa: E402
from engine.live.runner import run_replay  # noqa: E402
from engine.store import Store  # noqa: E402
from tests.live.conftest import allow_replay, approve, open_replay  # noqa: E402

DEMO_UNIVERSE = ["AAPL", "BA", "CAT", "F", "GE", "IBM", "MSFT"]
PARAMS = {"entry_window": 20, "exit_window": 10, "atr_window": 14}
WARM = 5
YEAR = 2013


def load() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` shows them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def step_times(store, start: str, end: str, steps: int | None) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each replay step (all of them for None; else the first
    ``steps`` after :data:`WARM` more)."""
    opened = open_replay(store, start=start, end=end)
    days = opened.days if steps is None else opened.days[: steps + WARM]
    wall, cpu, last = [], [], [time.perf_counter(), time.process_time()]

    def on_step(_report):
        now = [time.perf_counter(), time.process_time()]
        wall.append(now[0] - last[0])
        cpu.append(now[1] - last[1])
        last[:] = now

    run_replay(opened.loop, days, on_step=on_step)
    return (wall, cpu) if steps is None else (wall[WARM:], cpu[WARM:])


def daily(steps: int) -> dict:
    store = Store.open(Path(tempfile.mkdtemp()))
    ingest(store, SampleSource(), DEMO_UNIVERSE, progress=False, actor="bench")
    store.config = approve(store, "donchian_breakout", PARAMS, DEMO_UNIVERSE, stop="strategy",
                           size="risk", max_positions=5)  # fmt: skip
    allow_replay(store)
    wall, cpu = step_times(store, "2012-01-03", "2012-12-31", steps)
    name = "replay step, demo config (daily, 7 symbols)"
    return {
        f"{name}: median ms": round(statistics.median(wall) * 1e3, 1),
        f"{name}: median CPU ms": round(statistics.median(cpu) * 1e3, 1),
        f"{name}: p90 ms": round(statistics.quantiles(wall, n=10)[-1] * 1e3, 1),
        f"{name}: steps timed": len(wall),
    }


class TwentySymbols:
    """SYNTHETIC 5-minute bars for 20 symbols: the sample's 11 and 9 renamed copies."""

    name = "sample-synthetic"
    bar_sizes = frozenset({"5m"})
    remote = False

    def __init__(self):
        from engine.data.sample import sample_rows

        daily = sample_rows(None, f"{YEAR}-01-01", f"{YEAR}-12-31")
        base = sorted(daily["symbol"].unique())
        copies = daily[daily["symbol"].isin(base[:9])].assign(symbol=lambda f: f["symbol"] + "X")
        self.daily = pd.concat([daily, copies], ignore_index=True)

    def symbols(self) -> list[str]:
        return sorted(self.daily["symbol"].unique())

    def fetch(self, symbols, start=None, end=None, *, bar_size="5m", extended_hours=False):
        from engine.data.synthetic import intraday_from_daily

        daily = self.daily[self.daily["symbol"].isin(symbols or self.symbols())]
        return intraday_from_daily(daily, bar_size)


def year_of_5m(sessions: int) -> dict:
    store = Store.open(Path(tempfile.mkdtemp()))
    source = TwentySymbols()
    symbols = source.symbols()
    ingest(store, source, symbols, f"{YEAR}-01-01", f"{YEAR}-12-31", bar_size="5m",
           progress=False, actor="bench")  # fmt: skip
    store.config = approve(store, "donchian_breakout", PARAMS, symbols, bar_size="5m",
                           stop="strategy", size="fraction", fraction=0.1, max_positions=10)  # fmt: skip
    allow_replay(store)
    days = calendar.sessions(f"{YEAR}-01-01", f"{YEAR}-12-31")
    # The strategy warms up on the first session's bars (its windows are 20 bars long).
    first, last = days[0], days[min(sessions, len(days)) - 1]
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    wall, cpu = step_times(store, str(first.date()), str(last.date()), None)
    total_wall, total_cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
    scale = len(days) / len(calendar.sessions(first, last))
    label = "a year of 5m bars, 20 symbols" + ("" if scale == 1 else " (scaled from the sessions run)")

    def year(total: float, steps: list[float]) -> float:
        """Minutes for the year: the start (opening the replay, its first window), paid once,
        and the steps, scaled from the sessions run to the year's."""
        return round((total - sum(steps) + sum(steps) * scale) / 60, 1)

    return {
        "5m, 20 symbols: sessions replayed": len(calendar.sessions(first, last)),
        "5m, 20 symbols: steps replayed": len(wall),
        "5m, 20 symbols: median step ms": round(statistics.median(wall) * 1e3, 1),
        "5m, 20 symbols: median step CPU ms": round(statistics.median(cpu) * 1e3, 1),
        "5m, 20 symbols: start seconds (once a replay)": round(total_wall - sum(wall), 1),
        f"{label}: minutes": year(total_wall, wall),
        f"{label}: CPU minutes": year(total_cpu, cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="daily steps timed")
    parser.add_argument("--sessions", type=int, default=252,
                        help="sessions of 5-minute bars replayed (252: the year)")  # fmt: skip
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the replay's alerts are not the benchmark's output
    figures = {"load average at start (1, 5, 15 min)": load()}
    figures |= daily(args.steps)
    figures |= year_of_5m(args.sessions)
    figures["load average at end (1, 5, 15 min)"] = load()
    save("replay_step", figures)


if __name__ == "__main__":
    main()
