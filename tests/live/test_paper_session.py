"""The paper broker's session order, which the backtest shares (engine/brokers/_paper_session.py).

Attached stops live from the fill, buys bounded by the cash at the fill, sells by the shares
held, sells before buys at the open, a closed position's stop canceled, and pending sales
counted as buying power. One-price bars (open = high = low = close) unless a range matters.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from engine.brokers import (
    Costs,
    Order,
    OrderRequest,
    OrderStatus,
    PaperBroker,
)
from engine.brokers._paper_books import BarPrices, bar_prices
from engine.brokers._paper_session import trade_session
from engine.store import read_events
from tests.brokers.orders import broker_order

DAYS = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]


def bar(**prices) -> pd.DataFrame:
    """One day's bars by symbol: ``AAA=10`` (one price) or ``AAA=(open, high, low, close)``."""
    rows = {s: p if isinstance(p, tuple) else (p, p, p, p) for s, p in prices.items()}
    return pd.DataFrame(rows, index=["open", "high", "low", "close"]).T


def prices(**given) -> BarPrices:
    """:func:`bar` as the broker's session reads it."""
    return bar_prices(pd.Timestamp("2024-01-03"), bar(**given))


def order(symbol, side, qty, cid, **kw) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=side, qty=qty, client_order_id=cid, **kw)


@pytest.fixture
def broker(store):
    return PaperBroker(store, cash=1_000.0)


def test_an_attached_stop_is_placed_by_the_fill_and_works_in_the_same_bar(broker):
    broker.process_bar(DAYS[0], bar(XYZ=10))
    broker.submit(order("XYZ", "buy", 10, "e-XYZ", stop_loss_price=9.0))
    # The buy fills at the open (10); the bar then trades down to 8.5: stopped at 9.
    fills = broker.process_bar(DAYS[1], bar(XYZ=(10, 10.5, 8.5, 9.2)))
    assert [(f.client_order_id, f.side, f.price) for f in fills] == [
        ("e-XYZ", "buy", 10.0),
        ("e-XYZ-stop", "sell", 9.0),
    ]
    assert broker.positions() == []


def test_an_attached_stop_waits_for_its_level_good_till_canceled(broker):
    broker.process_bar(DAYS[0], bar(XYZ=10))
    broker.submit(order("XYZ", "buy", 10, "e-XYZ", stop_loss_price=9.0))
    broker.process_bar(DAYS[1], bar(XYZ=(10, 11, 9.5, 10)))
    stop = broker.get_order_by_client_id("e-XYZ-stop")
    assert (stop.type, stop.side, stop.qty, stop.stop_price, stop.status) == (
        "stop", "sell", 10, 9.0, OrderStatus.ACCEPTED
    )  # fmt: skip
    broker.process_bar(DAYS[2], bar(XYZ=(9.8, 9.9, 8.0, 8.5)))
    assert broker.get_order(stop.id).status == OrderStatus.FILLED


def test_a_buy_fills_only_what_the_cash_at_the_open_pays_for(broker, store):
    broker.process_bar(DAYS[0], bar(XYZ=10))
    broker.submit(order("XYZ", "buy", 100, "e-XYZ"))  # 1,000 at the last close of 10
    (fill,) = broker.process_bar(DAYS[1], bar(XYZ=12.5))  # gapped up: 1,000 buys 80
    assert fill.qty == pytest.approx(80)
    placed = broker.get_order_by_client_id("e-XYZ")
    assert (placed.status, placed.filled_qty) == (OrderStatus.CANCELED, pytest.approx(80))
    assert broker.account().cash == pytest.approx(0, abs=1e-9)
    canceled = read_events(store, kinds=["paper.order.canceled"])
    assert "covered 80 of 100 shares" in canceled["payload"].iloc[0]


def test_at_the_open_sells_come_first_and_their_cash_pays_for_the_buys(broker):
    broker.process_bar(DAYS[0], bar(AAA=10, BBB=10))
    broker.submit(order("AAA", "buy", 100, "e-AAA"))
    broker.process_bar(DAYS[1], bar(AAA=10, BBB=10))
    # All the cash is in AAA. A buy of BBB placed before the sale of AAA still gets filled
    # whole at the next open: the sale comes first.
    results = broker.submit_many(
        [order("AAA", "sell", 100, "x-AAA"), order("BBB", "buy", 100, "e-BBB")]
    )
    assert [r.status for r in results] == ["accepted", "accepted"]  # the sale counts as cash
    fills = broker.process_bar(DAYS[2], bar(AAA=10, BBB=10))
    assert [(f.symbol, f.side, f.qty) for f in fills] == [("AAA", "sell", 100), ("BBB", "buy", 100)]


def _waiting(cid, side, qty, type_="market", **prices) -> Order:
    """A good-till-canceled XYZ order accepted the evening before, named ``cid``."""
    now = datetime(2024, 1, 2, 21)
    return broker_order(
        id=cid, client_order_id=cid, symbol="XYZ", side=side, qty=qty, type=type_,
        time_in_force="gtc", status="accepted", submitted_at=now, updated_at=now, **prices,
    )  # fmt: skip


def test_a_position_sold_out_takes_its_other_sells_with_it_and_never_turns_short():
    # Held 10 with a resting stop at 9, and (say, from two sources) a market sell of 10 and
    # a limit sell at 12. The open gaps through the stop: the stop sells the 10 shares;
    # nothing is left for the market sell, and the limit sell goes with the position.
    waiting = [
        _waiting("stop", "sell", 10, "stop", stop_price=9.0),
        _waiting("exit", "sell", 10),
        _waiting("take-profit", "sell", 10, "limit", limit_price=12.0),
    ]
    done = trade_session(
        waiting, {}, prices(XYZ=(8, 13, 8, 12)), cash=0.0, held={"XYZ": 10.0}, costs=Costs(),
        allow_short=False, now=datetime(2024, 1, 3, 21), filled_at=datetime(2024, 1, 3, 14, 30),
    )  # fmt: skip
    assert [(f.client_order_id, f.qty, f.price) for f in done.fills] == [("stop", 10, 8.0)]
    statuses = {u["id"]: u["status"] for u in done.updates}
    assert statuses == {"stop": "filled", "exit": "canceled", "take-profit": "canceled"}
