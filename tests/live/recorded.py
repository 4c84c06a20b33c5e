"""Books as the live loop records them, written with the loop's own writers (for read-side tests)."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pandas as pd

from engine.live import heartbeat, ledger
from engine.live.records import LiveOrder, LivePosition
from engine.store.events import utcnow
from tests.app.conftest import process_started


def record_step(store, day: date, orders: list[LiveOrder], positions: list[LivePosition]):
    """The alpaca:paper book as a running loop in this process records a step on ``day``."""
    now = utcnow()

    def write(con):
        ledger.save_orders(con, "alpaca:paper", orders, now)
        ledger.save_positions(con, "alpaca:paper", positions, [], now)
        ledger.snapshot(con, "paper-alpaca1", day, now, cash=90_000.0, equity=100_000.0,
                       positions=[(p, p.avg_price) for p in positions])  # fmt: skip
        ledger.save_book(con, "alpaca:paper", mode="paper", broker="alpaca", configs={}, cash=90_000.0,
                        equity=100_000.0, bar=day, now=now)  # fmt: skip
        heartbeat.beat(con, "paper-alpaca1", mode="paper", broker="alpaca", book="alpaca:paper",
                   pid=os.getpid(), started_at=process_started(), bar=day, state="ACTIVE",
                   configs=[])  # fmt: skip

    store.transaction(write)


def filled_order(cid: str, side: str, qty: float, price: float, day: date) -> LiveOrder:
    """A manual AAPL order the loop saw fill whole at ``price`` on ``day``'s session."""
    at = pd.Timestamp(day).replace(hour=15).to_pydatetime()  # 10:00 in New York
    return LiveOrder(client_order_id=cid, config_id=None, symbol="AAPL", side=side, purpose="manual",
                     qty=qty, status="filled", filled_qty=qty, filled_avg_price=price,
                     filled_at=at, created_at=at - timedelta(minutes=5))  # fmt: skip
