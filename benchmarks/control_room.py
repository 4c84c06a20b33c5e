"""How long each control-room page takes to load its data from a big store.

    .venv/bin/python benchmarks/control_room.py [--events 1000000] [--fills 100000] [--repeat 7]

Seeds a store with the bundled sample bars, 1,000,000 events and 100,000 orders with
their fills (bulk inserts in DuckDB from range(), not the engine's one-row writes), ten
years of the loop's equity and position marks, configs, research runs and commands. Then
times the facade call behind each page (what a page waits for before it draws) and
writes the median, p90 and worst milliseconds to benchmarks/results/control_room.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import facade  # noqa: E402
from benchmarks._common import save  # noqa: E402
from engine.data.ingest import ingest  # noqa: E402
from engine.data.sources import SampleSource  # noqa: E402
from engine.store import Store  # noqa: E402

SYMBOLS = ["AAPL", "BA", "CAT", "DELL", "EBAY", "F", "GE"]
KINDS = [
    "paper.order.submitted",
    "paper.order.filled",
    "paper.order.expired",
    "command.submitted",
    "command.applied",
    "command.denied",
    "config.validated",
    "config.approved",
    "ingest",
    "loop.step",
    "risk.denied",
    "research.run.started",
    "research.run.succeeded",
]
ACTORS = ["loop", "ana", "bob", "tina", "scheduler", "paper", "cli:ops"]


def seed(store: Store, events: int, fills: int) -> dict:
    """Fill the store in bulk; returns what it holds."""
    steps = tqdm(total=6, desc="seeding", unit="step")
    ingest(store, SampleSource(), SYMBOLS, progress=False, actor="bench")
    steps.update()

    def bulk(con) -> None:
        con.execute(
            "CREATE TEMP TABLE sessions AS SELECT row_number() OVER (ORDER BY date) - 1 AS n, date"
            " FROM (SELECT DISTINCT date FROM bars WHERE symbol = 'GE')"
        )
        sessions = con.execute("SELECT count(*) FROM sessions").fetchone()[0]
        kinds, actors, symbols = (
            f"[{', '.join(repr(x) for x in xs)}]" for xs in (KINDS, ACTORS, SYMBOLS)
        )
        con.execute(
            "INSERT INTO events (ts, actor, kind, subject, payload)"
            f" SELECT TIMESTAMP '2015-01-01' + to_seconds(i * 60), {actors}[1 + i % {len(ACTORS)}],"
            f" {kinds}[1 + (i * 7) % {len(KINDS)}], {symbols}[1 + i % {len(SYMBOLS)}],"
            " json_object('i', i, 'qty', i % 500, 'price', 10 + i % 90)"
            f" FROM range({events}) t(i)"
        )
        steps.update()
        # Orders decided on session n (after_bar), filled at the open of session n + 1.
        con.execute(
            "INSERT INTO paper_orders (id, seq, account, client_order_id, symbol, side, qty, type,"
            " time_in_force, status, filled_qty, filled_avg_price, submitted_at, updated_at, after_bar)"
            f" SELECT 'o' || i, i, 'paper', 'cfg-' || i, {symbols}[1 + i % {len(SYMBOLS)}],"
            " CASE WHEN i % 2 = 0 THEN 'buy' ELSE 'sell' END, 10 + i % 90, 'market', 'day', 'filled',"
            " 10 + i % 90, NULL, TIMESTAMP '2004-01-01' + to_seconds(i * 3000),"
            " TIMESTAMP '2004-01-01' + to_seconds(i * 3000), s.date"
            f" FROM range({fills}) t(i) JOIN sessions s ON s.n = i % ({sessions} - 1)"
        )
        con.execute(
            "INSERT INTO paper_fills (id, seq, account, order_id, client_order_id, symbol, side, qty,"
            " price, fee, bar_date, filled_at)"
            " SELECT 'f' || o.seq, o.seq, 'paper', o.id, o.client_order_id, o.symbol, o.side, o.qty,"
            " b.open * CASE WHEN o.side = 'buy' THEN 1.0005 ELSE 0.9995 END, 0.5, nxt.date,"
            " nxt.date::TIMESTAMP + INTERVAL 14 HOUR + INTERVAL 30 MINUTE"
            " FROM paper_orders o JOIN sessions s ON s.date = o.after_bar"
            " JOIN sessions nxt ON nxt.n = s.n + 1 JOIN bars b ON b.symbol = o.symbol AND b.date = nxt.date"
        )
        con.execute(
            "UPDATE paper_orders SET filled_avg_price = f.price FROM paper_fills f WHERE f.order_id = paper_orders.id"
        )
        steps.update()
        # Ten years of the loop's daily marks: five positions held throughout.
        con.execute(
            "INSERT INTO heartbeats (loop_id, mode, broker, pid, started_at, beat_at, trading_state,"
            " configs, book) VALUES ('bench-loop', 'replay', 'paper', 1, now(), now(), 'ACTIVE', '[]',"
            " 'paper:paper')"
        )
        con.execute(
            "INSERT INTO equity_snapshots SELECT 'bench-loop', s.date::TIMESTAMP + INTERVAL 21 HOUR, s.date,"
            " 100000 + 20000 * sin(s.n / 50.0) + s.n * 10, 30000, 70000 + 20000 * sin(s.n / 50.0) + s.n * 10"
            " FROM sessions s"
        )
        con.execute(
            "INSERT INTO position_snapshots SELECT 'bench-loop', b.date, b.symbol, 100, b.close * 0.95,"
            " b.close, b.close * 0.9, 'cfg' FROM bars b WHERE b.symbol IN ('AAPL', 'BA', 'CAT', 'F', 'GE')"
            " AND b.date IN (SELECT date FROM sessions)"
        )
        steps.update()
        con.execute(
            "INSERT INTO research_runs (run_id, notebook, name, parameters, status, actor, started_at,"
            " finished_at, duration_s, pid) SELECT 'run-' || i, 'notebooks/x.ipynb', 'x', '{\"fast\": 10}',"
            " 'succeeded', 'scheduler', TIMESTAMP '2020-01-01' + to_seconds(i * 3600),"
            " TIMESTAMP '2020-01-01' + to_seconds(i * 3600 + 60), 60, 1 FROM range(2000) t(i)"
        )
        con.execute(
            "INSERT INTO commands (created_at, actor, kind, payload, status, decided_at, decided_by, result)"
            " SELECT TIMESTAMP '2020-01-01' + to_seconds(i * 600), 'tina', 'kill_switch', '{\"kind\": \"kill_switch\", \"on\": false}',"
            " 'applied', TIMESTAMP '2020-01-01' + to_seconds(i * 600 + 5), 'bench-loop', 'ok' FROM range(10000) t(i)"
        )
        steps.update()

    store.transaction(bulk)
    from engine.research.config_registry import act, save_proposal
    from engine.research.validation import Verdict
    from tests.config.factories import make_config

    for fast in range(5, 25):
        config = make_config(params={"fast": fast, "slow": 60}, universe=SYMBOLS[:3])
        save_proposal(store, config, Verdict(status="validated"), actor="ana")
        if fast % 4 == 0:
            act(store, config.config_id, "approve", "bob", "bench")
    steps.update()
    steps.close()
    return {
        table: int(store.scalar(f"SELECT count(*) FROM {table}"))
        for table in (
            "events",
            "paper_orders",
            "paper_fills",
            "bars",
            "equity_snapshots",
            "position_snapshots",
            "configs",
            "research_runs",
            "commands",
        )
    }


def loads(store: Store) -> dict:
    """Each page's data load, as the page calls it."""
    return {
        "status strip (every page)": lambda: facade.status(store),
        "overview": lambda: facade.overview(store),
        "positions": lambda: facade.book(store),
        "orders and fills (newest 500)": lambda: facade.orders_and_fills(store),
        "orders and fills (one symbol, sells)": lambda: facade.orders_and_fills(
            store, symbols=["GE"], side="sell"
        ),
        "risk (VaR, correlation, limits)": lambda: facade.risk(store),
        "strategies (registry)": lambda: facade.strategies(store),
        "research (newest 100 runs)": lambda: facade.research_runs(store),
        "audit (newest 500)": lambda: facade.audit(store),
        "audit (kind prefix + actor)": lambda: facade.audit(
            store, facade.AuditFilter(kind="command.", actor="tina")
        ),
        "audit (one subject)": lambda: facade.audit(store, facade.AuditFilter(subject="GE")),
        "audit (older page, before an id)": lambda: facade.audit(
            store, facade.AuditFilter(before_id=500_000)
        ),
        "audit filter menus (distinct kinds, actors)": lambda: facade.audit_choices(store),
        "settings (limits in force)": lambda: facade.trading_status(store),
        "performance (round trips over every fill)": lambda: facade.performance(store),
        "price chart (GE, a year of daily bars)": lambda: facade.price_bars(
            store, "GE", "2013-01-01", "2013-12-31"
        ),
    }


def time_ms(work, repeat: int) -> list[float]:
    work()  # warm: imports, the OS file cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(folder)
        started = time.perf_counter()
        counts = seed(store, args.events, args.fills)
        seeding_s = time.perf_counter() - started
        figures = {f"rows: {table}": n for table, n in counts.items()}
        figures["seeding seconds"] = round(seeding_s, 1)
        figures["store size MiB"] = round(store.path.stat().st_size / 2**20, 1)
        figures["open + close one connection ms (median)"] = round(
            statistics.median(time_ms(lambda: store.connect().__enter__().close(), args.repeat)), 1
        )
        for name, work in tqdm(loads(store).items(), desc="timing pages", unit="page"):
            times = sorted(time_ms(work, args.repeat))
            p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
            figures[f"{name} ms (median / p90 / max)"] = (
                f"{statistics.median(times):.0f} / {p90:.0f} / {times[-1]:.0f}"
            )
    save("control_room", figures)


if __name__ == "__main__":
    main()
