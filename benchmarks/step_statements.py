"""What the 500-symbol paper step's SQL costs, statement by statement: the floor under its ratio.

    .venv/bin/python benchmarks/step_statements.py

The step of ``benchmarks/live_step.py`` (the same synthetic 500 symbols, config and limits,
the store held as the paper runner holds it), with every statement the step runs timed as
it runs (the wall time of DuckDB's ``execute``, its parameters' binding included), by kind:
its verb and table. Beside them, the same signals computed alone, as ``live_step`` computes
them for its ratio.

``signals_and_statements_over_signals`` is the ratio a step would have if nothing but its
signals and its statements took any time: how far a faster loop around them could bring
``live_step``'s ratio, whatever its Python did.

What a step's time owes to its trades: a least-squares fit of each step's CPU time over
the stops it moved up, its other orders and its fills (``fit_*``). The intercept is what a
step costs before it trades; the slopes, what each more stop, order or fill adds.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save, watch_store_statements  # noqa: E402
from benchmarks.live_step import paper_loop, setting, time_signals, timed_steps  # noqa: E402
from engine.live import ids  # noqa: E402

#: Seconds of each statement run while timing is on, by kind ("UPDATE live_orders").
TIMES: dict[str, list[float]] = defaultdict(list)
TIMING = [False]
#: Steps timed: more than live_step's, for the fit.
STEPS = 50


def kind(sql: str) -> str:
    """A statement's verb and table: what it writes or reads."""
    verb = sql.split(None, 1)[0].upper()
    table = re.search(r"\b(?:INTO|UPDATE|FROM)\s+([a-z_]+)", sql, re.IGNORECASE)
    return f"{verb} {table.group(1)}" if table and verb != "COMMIT" else verb


def timed(sql: str, _params, wall: float, _cpu: float) -> None:
    """Keeps a statement's wall time by its kind, while timing is on."""
    if TIMING[0]:
        TIMES[kind(sql)].append(wall)


def main() -> None:
    watch_store_statements(timed)

    days, config, limits = setting()
    loop = paper_loop(days, config, limits)
    steps = timed_steps(days, STEPS + 1)  # the first one untimed
    step_cpu, trades = [], []
    with loop.holding() as held:
        loop.start(steps[0])
        loop.step(steps[0])  # the first step reads the window whole: not timed
        TIMING[0] = True
        for day in steps[1:]:
            start_cpu = time.process_time()
            report = loop.step(day)
            step_cpu.append(time.process_time() - start_cpu)
            actions = [(ids.parse_decision_id(c) or ids.attached_stop_of(c)) for c in report.submitted]
            moved = sum(1 for a in actions if a is not None and a.action == "stop")
            trades.append((moved, len(report.submitted) - moved, report.fills))
            with held.idle():
                pass
        TIMING[0] = False

    alone_cpu = []  # the same signals alone on each step's window
    for day in steps[1:]:
        time_signals(config, loop.feed.window(day), [], alone_cpu, wait=False)

    n = len(steps) - 1
    signals = statistics.median(alone_cpu)
    statements = sum(sum(times) for times in TIMES.values()) / n
    figures = {
        "symbols": len(config.universe),
        "steps_timed": n,
        "statements_per_step": round(sum(len(t) for t in TIMES.values()) / n, 1),
        "statements_seconds_per_step": round(statements, 4),
        "step_cpu_seconds_median": round(statistics.median(step_cpu), 4),
        "signals_alone_cpu_seconds_median": round(signals, 4),
        "signals_and_statements_over_signals": round((signals + statements) / signals, 2),
    }
    # Step CPU = base + per stop moved x stops + per other order x orders + per fill x fills.
    trades = np.array(trades, dtype=float)
    design = np.column_stack([np.ones(len(trades)), trades])
    fit, *_ = np.linalg.lstsq(design, np.array(step_cpu) * 1e3, rcond=None)
    names = ("base", "per_stop_moved", "per_other_order", "per_fill")
    figures |= {f"fit_{name}_ms": round(float(v), 2) for name, v in zip(names, fit, strict=True)}
    figures |= {"mean_stops_moved": round(float(trades[:, 0].mean()), 1),
                "mean_other_orders": round(float(trades[:, 1].mean()), 1),
                "mean_fills": round(float(trades[:, 2].mean()), 1)}  # fmt: skip
    ranked = sorted(TIMES.items(), key=lambda item: -sum(item[1]))
    for name, times in ranked[:12]:
        key = re.sub(r"\W+", "_", name.lower())
        figures[f"{key}_ms_per_step"] = round(sum(times) / n * 1e3, 2)
    save("step_statements", figures)


if __name__ == "__main__":
    main()
