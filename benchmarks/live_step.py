"""What one step of the live loop costs: 500 symbols, one strategy, a year of lookback.

    .venv/bin/python benchmarks/live_step.py

The paper loop as it runs every evening: bars read from the store (252 bars of history
per step), a Donchian breakout with ATR stops and risk sizing over 500 symbols (up to 20
positions), the full risk gate, the paper broker in the same store file. Synthetic random
walks stand in for 500 real symbols (the bundled sample has 11). Each step's time is split
into data (reading the bars), signals (the strategy), gate (the account state and every
check), broker (the paper broker's bar, reads and orders) and store (the loop's own reads
and its one write); the ratio is a step's time over computing the same signals alone, in
wall time (means) and in this process's CPU time (medians; the machine may be shared), with
the load average at the start and the end.

Three loops on three stores step the same days, one loop after the other (see ``RUNS``):
as the paper runner runs it, the store file kept open from step to step, nobody waiting,
the steps one after the other as a replay runs them (the figures without a label); the
same with the CPU's caches filled with other memory before each step, as when a paper
runner's step comes after it slept since the last bar (``after_wait_``, its ratio to the
signals alone after a wait too); and opening the file at each step's start and closing it
at its end, as a paper step did before the hold (``per_step_open_``).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save  # noqa: E402
from engine.backtest.settings import BacktestSettings  # noqa: E402
from engine.brokers import PaperBroker  # noqa: E402
from engine.config.models import StrategyConfig  # noqa: E402
from engine.data import calendar  # noqa: E402
from engine.live import ledger  # noqa: E402
from engine.live import loop as loop_module  # noqa: E402
from engine.live import router as router_module  # noqa: E402
from engine.live.alerts import LogNotifier, Notifiers  # noqa: E402
from engine.live.clock import ReplayClock  # noqa: E402
from engine.live.commands import SetRiskLimits, submit_command  # noqa: E402
from engine.live.feed import StoreFeed  # noqa: E402
from engine.live.loop import LiveLoop, LoopOptions  # noqa: E402
from engine.risk import RiskGate, RiskLimits  # noqa: E402
from engine.store import Store  # noqa: E402
from engine.strategies import compute_signals  # noqa: E402

SYMBOLS = [f"S{i:03d}" for i in range(500)]
LOOKBACK = 252
STEPS = 15
PARAMS = {"entry_window": 20, "exit_window": 10, "atr_window": 14}


def synthetic_rows(days: pd.DatetimeIndex) -> pd.DataFrame:
    """Daily OHLCV random walks for every symbol (drift and volatility vary by symbol)."""
    rng = np.random.default_rng(7)
    n, m = len(days), len(SYMBOLS)
    vol = rng.uniform(0.01, 0.03, m)
    returns = rng.normal(0.0004, 1.0, (n, m)) * vol
    close = rng.uniform(20, 200, m) * np.exp(np.cumsum(returns, axis=0))
    open_ = close * np.exp(rng.normal(0, 0.3, (n, m)) * vol)
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 1, (n, m)) * vol)
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 1, (n, m)) * vol)
    frame = pd.DataFrame(
        {
            "symbol": np.tile(SYMBOLS, n),
            "date": np.repeat(days.date, m),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "volume": rng.uniform(1e6, 5e6, n * m),
        }
    )
    frame["adj_close"] = frame["close"]
    frame["source"] = "synthetic"
    frame["ingested_at"] = pd.Timestamp("2024-01-01")
    return frame


def prepared_store(days) -> Store:
    store = Store.open(tempfile.mkdtemp(prefix="wb-live-step-"))
    rows = synthetic_rows(days)

    def insert(con):
        con.register("synthetic", rows)
        con.execute("INSERT INTO bars SELECT symbol, date, open, high, low, close, volume,"
                    " adj_close, source, ingested_at FROM synthetic")  # fmt: skip

    store.transaction(insert)
    return store


class Phases:
    """Seconds spent per phase within the current step, and each step's, by how it ran."""

    def __init__(self):
        self.now: dict[str, float] = defaultdict(float)
        self.steps: dict[str, list[dict[str, float]]] = defaultdict(list)

    @contextmanager
    def timing(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.now[phase] += time.perf_counter() - start

    def wrap(self, owner, name: str, phase: str) -> None:
        original = getattr(owner, name)
        phases = self

        def timed(*args, **kwargs):
            with phases.timing(phase):
                return original(*args, **kwargs)

        setattr(owner, name, timed)

    def close_step(self, run: str, total: float) -> None:
        self.now["total"] = total
        self.steps[run].append(dict(self.now))
        self.now = defaultdict(float)


#: The functions timed, by the phase of a step they belong to, in the modules.
MODULE_PHASES = {
    "signals": [(loop_module, "bar_signals")],
    "gate": [(loop_module, "account_state"), (RiskGate, "check_all")],
    "store": [(ledger, "known_orders"), (router_module, "controls_now"),
              (loop_module, "pending_commands")],
}  # fmt: skip


def loop_phases(loop: LiveLoop) -> dict[str, list[tuple[object, str]]]:
    """The functions timed, by phase, in one loop's own objects."""
    return {
        "data": [(loop.feed, "window")],
        "broker": [(loop.broker, n) for n in ("process_bar", "snapshot", "cancel_many", "submit_many")],
        "store": [(loop.kept, "shared"), (loop.kept, "records"), (loop.kept, "actions"),
                  (loop, "_record_step")],
    }  # fmt: skip


def paper_loop(days, config: StrategyConfig, limits: RiskLimits) -> LiveLoop:
    """A paper loop over 500 symbols in a store of its own."""
    store = prepared_store(days)
    submit_command(store, SetRiskLimits(limits=limits.to_mapping()), actor="benchmark")
    clock = ReplayClock()
    broker = PaperBroker(store, cash=1_000_000, fees=0.0005, slippage=0.0005, now=clock.now)
    feed = StoreFeed(store, SYMBOLS, lookback=LOOKBACK)
    return LiveLoop(
        store, broker, [config], feed, clock,
        options=LoopOptions(mode="paper", check_registry=False),
        notifier=Notifiers(LogNotifier()),
    )  # fmt: skip


#: How each loop runs its steps: (holding the store file, caches filled before each step).
#: "kept hold": as the paper runner runs it (run_market), the store file held from step to
#: step, nobody waiting, the steps one after the other as a replay runs them; "after a
#: wait": the same, each step starting with the CPU's caches filled with other memory, as a
#: paper runner's step does after it slept since the last bar; "per-step open": as before
#: the hold, each step opening the file at its start and closing it at its end.
RUNS = {"kept_hold": (True, False), "after_wait": (True, True), "per_step_open": (False, False)}

_FLUSH = np.zeros(2**24)  # 128 MiB: four times a large L3 cache


def as_after_a_wait() -> None:
    """The CPU's caches filled with other memory, as when a runner's step starts after it
    slept since the last bar (other processes ran): nothing timed next finds its memory in
    them. A step reaches its objects and DuckDB's through pointers, and pays for this more
    than the signals' streaming over arrays do."""
    np.add(_FLUSH, 1.0, out=_FLUSH)


def setting() -> tuple[pd.DatetimeIndex, StrategyConfig, RiskLimits]:
    """The sessions stepped over, the config and the risk limits of the 500-symbol step."""
    days = calendar.sessions("2022-01-03", "2023-03-31")
    limits = RiskLimits(
        allow_outside_session=True,
        max_positions=20,
        max_position_pct=0.2,
        max_order_notional=1e9,
        max_orders_per_minute=1000,
        day_trade_policy="off",
    )
    config = StrategyConfig(
        strategy="donchian_breakout",
        params=PARAMS,
        universe=SYMBOLS,
        settings=BacktestSettings(
            stop="strategy",
            size="risk",
            risk_per_trade=0.005,
            max_positions=20,
            trailing_stop=True,
            init_cash=1_000_000,
        ),  # fmt: skip
        created_by="benchmark",
    )
    return days, config, limits


def timed_steps(days, count: int = STEPS) -> list:
    """The ``count`` sessions whose steps are timed, from a few after the window fills."""
    return [d.date() for d in days[LOOKBACK + 5 : LOOKBACK + 5 + count]]


def main() -> None:
    days, config, limits = setting()
    phases = Phases()
    for phase, functions in MODULE_PHASES.items():
        for owner, name in functions:
            phases.wrap(owner, name, phase)

    steps = timed_steps(days)
    load_at_start = os.getloadavg()
    cpu = defaultdict(list)  # this process's CPU seconds a step: less noisy than wall time
    loops = {}
    alone = {False: ([], []), True: ([], [])}  # signals alone, after a wait: (wall, CPU s)
    # One run after the other, each loop stepping all the days alone, as the paper runner
    # runs its one loop in its process: two loops stepping in turn in one process slowed
    # the kept hold's step by about a tenth (its ratio 3.9-4.3 against 3.3-3.9 alone).
    for run, (holds, after_wait) in RUNS.items():
        loop = loops[run] = paper_loop(days, config, limits)
        for phase, functions in loop_phases(loop).items():
            for owner, name in functions:
                phases.wrap(owner, name, phase)
        with loop.holding() if holds else nullcontext() as held:
            loop.start(steps[0])
            phases.now.clear()
            for day in steps:
                if after_wait:
                    as_after_a_wait()
                start, start_cpu = time.perf_counter(), time.process_time()
                report = loop.step(day)
                cpu[run].append(time.process_time() - start_cpu)
                phases.close_step(run, time.perf_counter() - start)
                print(f"{run:14} {report.summary()}")
                if after_wait:  # the signals alone on the step's window, right after it
                    time_signals(config, loop.feed.window(day), *alone[True])
                    phases.now.clear()  # the window asked for is no step's
                if held is not None:
                    with held.idle():  # as between the runner's steps: nobody waiting
                        pass

    # The same signals alone on the same windows, for the ratios: after each step of the run
    # after a wait (each after a wait too: the two figures of a step under the same load,
    # whatever the machine does meanwhile), and one after the other for the other runs.
    for day in steps:
        time_signals(config, loops["kept_hold"].feed.window(day), *alone[False], wait=False)

    figures = {"symbols": len(SYMBOLS), "lookback_bars": LOOKBACK, "steps_timed": len(steps)}
    for run, loop in loops.items():
        # The step as the paper runner runs it unlabelled; the others labelled.
        label = "" if run == "kept_hold" else f"{run}_"
        found = step_figures(loop, phases.steps[run], cpu[run], *alone[RUNS[run][1]])
        figures |= {f"{label}{key}": value for key, value in found.items()}
    for after_wait, (wall, cpu_seconds) in alone.items():
        label = "after_wait_" if after_wait else ""
        figures |= {
            f"{label}signals_alone_seconds_mean": round(statistics.fmean(wall), 4),
            f"{label}signals_alone_cpu_seconds_median": round(statistics.median(cpu_seconds), 4),
        }
    figures |= {
        "load_average_at_start": ", ".join(f"{x:.2f}" for x in load_at_start),
        "load_average_at_end": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    save("live_step", figures)


def time_signals(config: StrategyConfig, window, wall: list, cpu_seconds: list, *,
                 wait: bool = True) -> None:  # fmt: skip
    """Times computing ``config``'s signals alone on ``window`` (after a wait: see
    :func:`as_after_a_wait`) into ``wall`` and ``cpu_seconds``."""
    if wait:
        as_after_a_wait()
    start, start_cpu = time.perf_counter(), time.process_time()
    compute_signals(config.strategy, window, config.params)
    wall.append(time.perf_counter() - start)
    cpu_seconds.append(time.process_time() - start_cpu)


def step_figures(loop: LiveLoop, steps: list[dict[str, float]], cpu, alone, alone_cpu) -> dict:
    """One run's figures: the step's time, its phases, and its ratio to the signals alone."""

    def mean(key: str) -> float:  # means, so that the phases add up to the step
        return round(statistics.fmean(s.get(key, 0.0) for s in steps), 4)

    total = mean("total")
    return {
        "positions_at_end": len(loop.broker.positions()),
        "orders_sent": int(loop.store.scalar("SELECT count(*) FROM paper_orders")),
        "step_seconds_mean": total,
        "step_seconds_median": round(statistics.median(s["total"] for s in steps), 4),
        "step_seconds_max": round(max(s["total"] for s in steps), 4),
        "data_seconds_mean": mean("data"),
        # The first step reads the window whole (a new process); the others extend it.
        "data_seconds_median": round(statistics.median(s.get("data", 0.0) for s in steps), 4),
        "signals_seconds_mean": mean("signals"),
        "gate_seconds_mean": mean("gate"),
        "broker_seconds_mean": mean("broker"),
        "store_seconds_mean": mean("store"),
        "other_seconds_mean": round(
            total - sum(mean(k) for k in ("data", "signals", "gate", "broker", "store")), 4
        ),
        "step_over_signals_alone": round(total / statistics.fmean(alone), 2),
        "step_cpu_seconds_median": round(statistics.median(cpu), 4),
        "step_over_signals_alone_cpu_medians": round(
            statistics.median(cpu) / statistics.median(alone_cpu), 2
        ),
        # Each step over the signals alone on its window (after a wait: timed right after
        # the step, so that a change of the machine's load moves both), the median of those.
        "step_over_signals_alone_cpu_median_of_steps": round(
            statistics.median(a / b for a, b in zip(cpu, alone_cpu, strict=True)), 2
        ),
    }


if __name__ == "__main__":
    main()
