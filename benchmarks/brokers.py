"""What the brokers cost the live loop per step.

    .venv/bin/python benchmarks/brokers.py

Figures: the paper broker's submit of one order; submit_many and process_bar for 500
symbols (a step's worth of orders and fills); positions and account with 500 positions
held; AlpacaBroker's submit round trip on the loopback stand-in, clean and with faults
on a third of the calls.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save  # noqa: E402
from engine.brokers import OrderRequest, PaperBroker  # noqa: E402
from engine.store import Store  # noqa: E402

SYMBOLS = [f"S{i:03d}" for i in range(500)]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bar(prices: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"open": prices, "high": prices * 1.01, "low": prices * 0.99, "close": prices},
        index=SYMBOLS,
    )


def paper_figures() -> dict:
    store = Store.open(tempfile.mkdtemp())
    broker = PaperBroker(store, cash=1e9, fees=0.0005, slippage=0.0005)
    rng = np.random.default_rng(1)
    prices = rng.uniform(10, 300, len(SYMBOLS))
    broker.process_bar("2024-01-02", bar(prices))
    one = [
        timed(lambda i=i: broker.submit(OrderRequest(symbol="S000", side="buy", qty=1,
                                                     client_order_id=f"one-{i}")))
        for i in range(10)
    ]  # fmt: skip
    batch = [
        OrderRequest(symbol=s, side="buy", qty=10, client_order_id=f"batch-{s}") for s in SYMBOLS
    ]
    submit_many = timed(lambda: broker.submit_many(batch))
    fills = []
    process = timed(lambda: fills.extend(broker.process_bar("2024-01-03", bar(prices * 1.01))))
    assert len(fills) == len(SYMBOLS) + 10
    positions = [timed(broker.positions) for _ in range(5)]
    account = [timed(broker.account) for _ in range(5)]
    return {
        "paper submit one order, median ms": round(statistics.median(one) * 1e3, 1),
        "paper submit_many 500 orders, s": round(submit_many, 2),
        "paper process_bar 500 symbols, 510 fills, s": round(process, 2),
        "paper positions() with 500 held, median ms": round(statistics.median(positions) * 1e3, 1),
        "paper account() with 500 held, median ms": round(statistics.median(account) * 1e3, 1),
    }


def alpaca_figures() -> dict:
    from engine.brokers.alpaca import AlpacaBroker, RetryPolicy
    from tests.standins.alpaca import API_KEY, SECRET_KEY, AlpacaStandIn

    with AlpacaStandIn() as server:
        server.set_prices({"AAPL": 100.0})
        broker = AlpacaBroker(
            api_key=API_KEY, secret_key=SECRET_KEY, url_override=server.url, timeout=0.25,
            retry=RetryPolicy(max_attempts=12, backoff=0.002),
        )  # fmt: skip

        def fifty_buys(prefix: str) -> list[float]:
            """Seconds each of 50 one-share AAPL buys took to submit, ids ``{prefix}-0`` on."""
            return [
                timed(lambda i=i: broker.submit(OrderRequest(symbol="AAPL", side="buy", qty=1,
                                                             client_order_id=f"{prefix}-{i}")))
                for i in range(50)
            ]  # fmt: skip

        clean = fifty_buys("c")
        server.faults.add(
            ["500", "503", "429", "drop", "drop_after_accept", "slow"],
            count=None, probability=1 / 3, delay=0.4,
        )  # fmt: skip
        faulty = fifty_buys("f")
        assert server.order_count() == 100
        return {
            "alpaca (stand-in) submit, median ms": round(statistics.median(clean) * 1e3, 1),
            "alpaca (stand-in) submit with 1/3 faults, mean ms": round(
                statistics.mean(faulty) * 1e3, 1
            ),
            "alpaca (stand-in) faults injected over 50 faulty submits": sum(
                server.faults.counts().values()
            ),
        }


if __name__ == "__main__":
    save("brokers", {**paper_figures(), **alpaca_figures()})
