"""A store that looks like a day in the life of the control room, built with the engine itself.

Four months of paper trading on the bundled bars (real orders and fills through the paper
broker), the marks a live loop writes each step (heartbeat, equity, positions with
stops), configs in several states of the registry, a research run, and commands applied,
denied and pending.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from engine.brokers import OrderRequest, PaperBroker
from engine.data.repository import load_bars
from engine.live.commands import (
    KillSwitch,
    ManualOrder,
    PauseStrategy,
    resolve_command,
    submit_command,
)
from engine.research.config_registry import act, save_proposal
from engine.research.validation import Verdict
from engine.store.events import append_event, utcnow
from tests.config.factories import make_config, make_evidence

LOOP_ID = "replay-seed"
UNIVERSE = ["AAPL", "BA", "CAT", "F", "GE"]
START, END = "2013-03-01", "2013-06-28"
NOTEBOOKS = Path(__file__).parent / "notebooks"


def seed_control_room(store) -> dict:
    """Fill ``store`` (holding the sample bars) with trading, registry and research history."""
    configs = _registry(store)
    last_day = _paper_trading(store, configs["approved"])
    _loop_state(store, last_day, configs["approved"])
    _commands(store, configs["approved"])
    return {"configs": configs, "last_day": last_day}


def _registry(store) -> dict[str, str]:
    approved = make_config(universe=["AAPL", "GE", "CAT"], params={"fast": 10, "slow": 50})
    save_proposal(store, approved, Verdict(status="validated"), actor="ana")
    act(store, approved.config_id, "approve", "bob", "solid out-of-sample evidence")
    paused = make_config(universe=["F", "BA"], params={"fast": 5, "slow": 30})
    save_proposal(store, paused, Verdict(status="validated"), actor="ana")
    act(store, paused.config_id, "approve", "bob", "second book")
    act(store, paused.config_id, "pause", "bob", "earnings season")
    waiting = make_config(universe=["GE"], params={"fast": 20, "slow": 100})
    save_proposal(store, waiting, Verdict(status="validated"), actor="ana")
    rejected = make_config(
        universe=["AAPL"],
        params={"fast": 3, "slow": 10},
        evidence=make_evidence(pbo=0.7, oos={"sharpe": 0.1}),
    )
    save_proposal(
        store, rejected, Verdict(status="rejected", reasons=["PBO 0.70 is above 0.50"]), actor="ana"
    )
    return {
        "approved": approved.config_id,
        "paused": paused.config_id,
        "validated": waiting.config_id,
        "rejected": rejected.config_id,
    }


def _paper_trading(store, config_id: str):
    """Four months of a simple rotation through the paper broker, and the loop's daily marks.

    The broker processes only the bars that matter (a decision, the fill the next day, the
    last day for the marks); the loop's snapshots are then computed for every day from
    the fills, as the loop would have marked them.
    """
    bars = load_bars(store, UNIVERSE, START, END, adjust=False)
    days = list(bars.index)
    broker = PaperBroker(store, cash=100_000, fees=0.0005, slippage=0.0005, actor="loop")
    held: dict[str, tuple[int, float]] = {}  # symbol -> (day bought, shares)
    for i in range(0, len(days) - 1, 8):
        day = days[i]
        broker.process_bar(day, bars)
        for symbol, (bought, qty) in list(held.items()):
            if i - bought >= 24:
                broker.submit(
                    OrderRequest(
                        symbol=symbol,
                        side="sell",
                        qty=qty,
                        client_order_id=f"{config_id}-{symbol}-sell-{day.date()}",
                    )
                )
                del held[symbol]
        symbol = UNIVERSE[(i // 8) % len(UNIVERSE)]
        if symbol not in held and len(held) < 4:
            qty = round(15_000 / float(bars.close.loc[day, symbol]))
            broker.submit(
                OrderRequest(
                    symbol=symbol,
                    side="buy",
                    qty=qty,
                    client_order_id=f"{config_id}-{symbol}-buy-{day.date()}",
                )
            )
            held[symbol] = (i, qty)
        broker.process_bar(days[i + 1], bars)
    broker.process_bar(days[-1], bars)
    # One manual order that has not filled, to show an open order.
    broker.submit(
        OrderRequest(
            symbol="GE",
            side="buy",
            qty=10,
            type="limit",
            limit_price=20.0,
            time_in_force="gtc",
            client_order_id="manual-ge-limit",
        )
    )
    _snapshots(store, bars, config_id)
    return days[-1].date()


def _snapshots(store, bars, config_id: str) -> None:
    """Equity and positions per day from the paper fills, marked at each close."""
    from engine.brokers.paper_rules import positions_from_fills

    fills = store.query(
        "SELECT bar_date, symbol, side, qty, price, fee FROM paper_fills ORDER BY seq"
    )
    fills["bar_date"] = pd.to_datetime(fills["bar_date"])
    clock = datetime(2013, 3, 1, 21, 0)
    equity_rows, position_rows = [], []
    for n, day in enumerate(bars.index):
        done = fills[fills["bar_date"] <= day]
        signed = done["qty"].where(done["side"] == "buy", -done["qty"])
        book = positions_from_fills(zip(done["symbol"], signed, done["price"], strict=True))
        cash = 100_000 - float((signed * done["price"]).sum() + done["fee"].sum())
        value = 0.0
        for symbol, (qty, avg) in book.items():
            price = float(bars.close.loc[day, symbol])
            value += qty * price
            stop = None if symbol == "F" else round(avg * 0.92, 2)
            position_rows.append((LOOP_ID, day.date(), symbol, qty, avg, price, stop, config_id))
        equity_rows.append(
            (LOOP_ID, clock + timedelta(minutes=n), day.date(), cash + value, cash, value)
        )

    def write(con) -> None:
        con.executemany("INSERT INTO equity_snapshots VALUES (?, ?, ?, ?, ?, ?)", equity_rows)
        con.executemany(
            "INSERT INTO position_snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?)", position_rows
        )

    store.transaction(write)


def _loop_state(store, last_day, config_id: str) -> None:
    now = utcnow()

    def write(con) -> None:
        con.execute(
            "INSERT INTO heartbeats (loop_id, mode, broker, pid, started_at, beat_at, bar_date,"
            " trading_state, configs, book) VALUES (?, 'replay', 'paper', ?, ?, ?, ?, 'ACTIVE', ?,"
            " 'paper:paper')",
            [LOOP_ID, os.getpid(), now, now, last_day, json.dumps([config_id])],
        )
        limits = {"max_positions": 6, "risk_per_trade": 0.008}
        for key, value in (
            ("state", {"state": "ACTIVE", "reason": ""}),
            ("kill_switch", False),
            ("paused_configs", []),
            ("risk_limits", limits),
        ):
            con.execute(
                "INSERT INTO trading_state VALUES (?, ?, ?, 'loop')", [key, json.dumps(value), now]
            )
        append_event(con, "loop.started", LOOP_ID, LOOP_ID, {"mode": "replay", "broker": "paper"})

    store.transaction(write)


def _commands(store, config_id: str) -> None:
    applied = submit_command(store, PauseStrategy(config_id=config_id), "bob")
    resolve_command(store, applied, applied=True, result="paused new entries", by=LOOP_ID)
    denied = submit_command(store, ManualOrder(symbol="CAT", side="buy", qty=900), "bob")
    resolve_command(store, denied, applied=False, result="position cap: 20% of equity", by=LOOP_ID)
    submit_command(store, KillSwitch(on=False), "bob")


def make_stale(store, minutes: int = 30) -> None:
    """Age the loop's heartbeat, as when the loop has died."""
    store.execute("UPDATE heartbeats SET beat_at = beat_at - ?::INTERVAL", [f"{minutes} minutes"])


def research_run(store, data_dir: Path) -> str:
    """One real papermill run of the test notebook; returns its run id."""
    from engine.research.runs import run_notebook

    record = run_notebook(
        store,
        NOTEBOOKS / "momentum_check.ipynb",
        {"lookback": 30},
        data_dir=data_dir,
        actor="ana",
        cell_timeout=120,
    )
    assert record.succeeded, record.error
    return record.run_id


def frame_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)
