"""Benchmark of the risk gate and the portfolio analytics.

Figures:
- gate decision time per order (median and p99, microseconds) with 50 open positions and a
  year of history: day trades, 5-minute equity marks, sent orders and realised sales;
- building the AccountState the loop hands the gate each step (once per step, not per order);
- VaR/CVaR (historical and parametric) and the correlation matrix for 500 symbols x 1 year.

Run: ``.venv/bin/python benchmarks/risk.py`` (writes benchmarks/results/risk.json).
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.data import calendar  # noqa: E402
from engine.risk import (  # noqa: E402
    AccountState,
    EquityMark,
    OrderIntent,
    Position,
    RealisedSale,
    RiskGate,
    RiskLimits,
    SubmittedOrder,
    SymbolSnapshot,
)
from engine.risk.analytics import correlation_matrix, portfolio_var  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "risk.json"
NOW = datetime(2024, 11, 26, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
CHECKS = 20_000


def year_of_history(rng: np.random.Generator) -> dict:
    """A year of an active account: 50 positions, day trades, marks, orders and sales."""
    sched = calendar.schedule("2023-11-27", "2024-11-26")
    days = [d.date() for d in sched.index]
    symbols = [f"S{i:03d}" for i in range(80)]
    market = {s: SymbolSnapshot(float(rng.uniform(20, 200)), 5e7) for s in symbols}
    positions = {}
    for s in symbols[:50]:
        opened = NOW - timedelta(days=int(rng.integers(0, 60)), hours=int(rng.integers(0, 5)))
        price = market[s].last_price
        positions[s] = Position(s, float(rng.integers(10, 200)), price * 0.98, opened, price * 0.9)
    # Three day trades in most 5-session windows: a busy small account.
    day_trades = tuple(d for i, d in enumerate(days) if i % 5 < 3)
    marks = []
    for opened, closed in zip(sched["market_open"], sched["market_close"], strict=True):
        t = opened.to_pydatetime()
        while t < closed.to_pydatetime():
            marks.append(EquityMark(t, 1_000_000 * (1 + rng.normal(0, 0.002))))
            t += timedelta(minutes=5)
    orders, sales = [], []
    for i in range(len(days) * 10):
        day = days[i // 10]
        at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=15, minutes=i % 10)
        s = symbols[int(rng.integers(0, 80))]
        orders.append(
            SubmittedOrder(s, "buy" if i % 2 else "sell", 10, at, config_id="cfg", bar=at)
        )
        if i % 3 == 0:
            sales.append(RealisedSale(s, at, 10, float(rng.normal(0, 200))))
    return {
        "equity": 1_000_000.0,
        "cash": 600_000.0,
        "positions": positions,
        "market": market,
        "day_trades": day_trades,
        "equity_marks": tuple(marks),
        "recent_orders": tuple(orders),
        "realised_sales": tuple(sales),
    }


def intents(rng: np.random.Generator, state: AccountState) -> list[OrderIntent]:
    """A mix of what the loop and traders send: entries, adds, exits, stops, manual orders."""
    held = sorted(state.positions)
    mix = []
    for i in range(CHECKS):
        kind = i % 5
        bar = NOW - timedelta(minutes=i)
        if kind == 0:  # a new entry
            mix.append(OrderIntent(f"S{50 + i % 30:03d}", "buy", 20, config_id="cfg", bar=bar))
        elif kind == 1:  # adding to a position
            mix.append(OrderIntent(held[i % 50], "buy", 5, config_id="cfg", bar=bar))
        elif kind == 2:  # an exit
            mix.append(
                OrderIntent(held[i % 50], "sell", 5, purpose="exit", config_id="cfg", bar=bar)
            )
        elif kind == 3:  # tightening a stop
            p = state.positions[held[i % 50]]
            mix.append(
                OrderIntent(
                    p.symbol,
                    "sell",
                    p.qty,
                    purpose="stop",
                    order_type="stop",
                    stop_price=p.stop_price * 1.01,
                    config_id="cfg",
                    bar=bar,
                )
            )
        else:  # a trader's manual order
            mix.append(OrderIntent(held[i % 50], "sell", 1, purpose="manual", actor="alice"))
    return mix


def micros(samples_ns: list[int]) -> dict:
    ordered = sorted(samples_ns)
    return {
        "median_us": round(statistics.median(ordered) / 1e3, 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99) - 1] / 1e3, 1),
        "max_us": round(ordered[-1] / 1e3, 1),
        "n": len(ordered),
    }


def bench_gate() -> dict:
    rng = np.random.default_rng(7)
    history = year_of_history(rng)
    state = AccountState(**history)
    limits = RiskLimits(max_positions=60, max_order_notional=50_000, pdt_equity_threshold=25_000)
    gate = RiskGate(limits)
    mix = intents(rng, state)
    for intent in mix[:500]:  # warm the calendar caches, as a running loop has them
        gate.check(intent, state, NOW)
    samples, by_kind, outcomes = [], {}, {}
    kinds = ["entry", "add", "exit", "stop", "manual"]
    for i, intent in enumerate(tqdm(mix, desc="gate checks", unit="order", mininterval=1)):
        t = time.perf_counter_ns()
        decision = gate.check(intent, state, NOW)
        elapsed = time.perf_counter_ns() - t
        samples.append(elapsed)
        by_kind.setdefault(kinds[i % 5], []).append(elapsed)
        outcomes[decision.rule] = outcomes.get(decision.rule, 0) + 1
    # The first order of a step pays for the figures a state works out once (losses, the
    # day-trade window, indexes of orders and sales); measure it on fresh states.
    first, builds = [], []
    for intent in mix[:100]:
        t = time.perf_counter_ns()
        fresh = AccountState(**history)
        builds.append(time.perf_counter_ns() - t)
        t = time.perf_counter_ns()
        gate.check(intent, fresh, NOW)
        first.append(time.perf_counter_ns() - t)
    return {
        "first_decision_of_a_step": micros(first),
        "account_state_build_ms": round(statistics.median(builds) / 1e6, 1),
        "positions": len(state.positions),
        "day_trades": len(state.day_trades),
        "equity_marks": len(state.equity_marks),
        "recent_orders": len(state.recent_orders),
        "realised_sales": len(state.realised_sales),
        "decision": micros(samples),
        "decision_by_kind": {k: micros(v) for k, v in by_kind.items()},
        "outcomes": outcomes,
    }


def bench_analytics(symbols: int = 500, days: int = 252, repeats: int = 5) -> dict:
    rng = np.random.default_rng(11)
    market = rng.normal(0.0003, 0.01, days)
    betas = rng.uniform(0.5, 1.5, symbols)
    returns = pd.DataFrame(
        market[:, None] * betas + rng.normal(0, 0.015, (days, symbols)),
        index=pd.bdate_range("2024-01-02", periods=days),
        columns=[f"S{i:03d}" for i in range(symbols)],
    )
    holdings = dict(zip(returns.columns, rng.uniform(1_000, 20_000, symbols), strict=True))
    ragged = returns.copy()
    for j in range(0, symbols, 10):  # every 10th symbol listed part-way through the year
        ragged.iloc[: int(rng.integers(20, 120)), j] = np.nan

    def timed(fn) -> float:
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            runs.append((time.perf_counter() - t) * 1e3)
        return round(statistics.median(runs), 2)

    return {
        "symbols": symbols,
        "days": days,
        "historical_var_cvar_ms": timed(lambda: portfolio_var(holdings, returns, 0.99, 1)),
        "historical_var_cvar_10d_ms": timed(lambda: portfolio_var(holdings, returns, 0.99, 10)),
        "parametric_var_cvar_ms": timed(
            lambda: portfolio_var(holdings, returns, 0.99, 1, method="parametric")
        ),
        "correlation_full_panel_ms": timed(lambda: correlation_matrix(returns)),
        "correlation_ragged_pairwise_ms": timed(lambda: correlation_matrix(ragged)),
    }


def main() -> None:
    print("risk gate: 50 positions, a year of history ...")
    gate = bench_gate()
    print("portfolio analytics: 500 symbols x 1 year ...")
    analytics = bench_analytics()
    result = {
        "benchmark": "risk",
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "gate": gate,
        "analytics": analytics,
    }
    d = gate["decision"]
    print(
        f"\ngate decision per order: median {d['median_us']} us, p99 {d['p99_us']} us "
        f"(n={d['n']}, {gate['positions']} positions, {gate['day_trades']} day trades, "
        f"{gate['equity_marks']} equity marks, {gate['recent_orders']} sent orders)"
    )
    for kind, figures in gate["decision_by_kind"].items():
        print(f"  {kind:>6}: median {figures['median_us']} us, p99 {figures['p99_us']} us")
    print(f"  outcomes: {gate['outcomes']}")
    f = gate["first_decision_of_a_step"]
    print(f"first decision on a fresh state: median {f['median_us']} us, p99 {f['p99_us']} us")
    print(f"account state build (once per step): {gate['account_state_build_ms']} ms")
    print(f"analytics, {analytics['symbols']} symbols x {analytics['days']} days (median of 5):")
    for name, value in analytics.items():
        if name.endswith("_ms"):
            print(f"  {name[:-3]}: {value} ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
