"""The Alpaca stand-in itself: alpaca-py parses what it says, and faults fire as asked.

Other test suites (the live loop's crash tests) lean on the stand-in, so its own
behaviour is pinned here through the unmodified alpaca-py client.
"""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest

from tests.standins.alpaca import API_KEY, SECRET_KEY


@pytest.fixture
def client(alpaca_standin) -> TradingClient:
    alpaca_standin.set_prices({"AAPL": 100.0, "MSFT": 50.0})
    trading = TradingClient(API_KEY, SECRET_KEY, url_override=alpaca_standin.url)
    trading._retry = 0  # see the retries ourselves
    return trading


def market(symbol: str, qty: float, cid: str, side=OrderSide.BUY) -> MarketOrderRequest:
    return MarketOrderRequest(
        symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.DAY, client_order_id=cid
    )


def test_alpaca_py_reads_orders_positions_account_and_clock(client, alpaca_standin):
    placed = client.submit_order(market("AAPL", 10, "s-1"))
    assert placed.status == "filled" and float(placed.filled_avg_price) == 100.0
    assert client.get_order_by_client_id("s-1").id == placed.id
    assert client.get_order_by_id(placed.id).client_order_id == "s-1"
    position = client.get_open_position("AAPL")
    assert float(position.qty) == 10 and position.side == "long"
    account = client.get_account()
    assert float(account.cash) == 99_000 and float(account.equity) == 100_000
    clock = client.get_clock()
    assert clock.next_open != clock.next_close


def test_closing_a_position_places_the_opposite_market_order(client, alpaca_standin):
    client.submit_order(market("MSFT", 4, "s-2"))
    closing = client.close_position("MSFT")
    assert closing.side == "sell" and float(closing.qty) == 4 and closing.status == "filled"
    assert client.get_all_positions() == []
    with pytest.raises(APIError) as none_left:
        client.close_position("MSFT")
    assert none_left.value.status_code == 404


def test_open_orders_are_listed_filtered_and_canceled_together(client, alpaca_standin):
    alpaca_standin.auto_fill = False
    for i, symbol in enumerate(["AAPL", "MSFT", "AAPL"]):
        client.submit_order(market(symbol, 1, f"s-open-{i}"))
    listed = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, symbols=["AAPL"]))
    assert sorted(o.client_order_id for o in listed) == ["s-open-0", "s-open-2"]
    canceled = client.cancel_orders()
    assert len(canceled) == 3 and {c.status for c in canceled} == {200}
    assert client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN)) == []


def test_refusals_look_like_alpacas(client, alpaca_standin):
    client.submit_order(market("AAPL", 1, "s-dup"))
    cases = [
        (market("AAPL", 1, "s-dup"), 422, "client_order_id must be unique"),
        (market("AAPL", 5_000, "s-big"), 403, "insufficient buying power"),
        (market("MSFT", 1, "s-naked", OrderSide.SELL), 403, "insufficient qty available"),
    ]
    for order, status, message in cases:
        with pytest.raises(APIError) as refused:
            client.submit_order(order)
        assert refused.value.status_code == status and message in refused.value.message
    alpaca_standin.auto_fill = False
    resting = client.submit_order(
        LimitOrderRequest(
            symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
            limit_price=90.0, client_order_id="s-rest",
        )
    )  # fmt: skip
    alpaca_standin.fill(resting.id)
    with pytest.raises(APIError) as not_cancelable:
        client.cancel_order_by_id(resting.id)
    assert not_cancelable.value.status_code == 422


def test_wrong_keys_get_401(alpaca_standin):
    stranger = TradingClient("wrong", "keys", url_override=alpaca_standin.url)
    with pytest.raises(APIError) as refused:
        stranger.get_account()
    assert refused.value.status_code == 401


def test_faults_fire_the_asked_number_of_times_and_are_recorded(alpaca_standin, client):
    alpaca_standin.faults.add("503", method="GET", path="/v2/account", count=2)
    statuses = []
    for _ in range(3):
        try:
            client.get_account()
            statuses.append(200)
        except APIError as exc:
            statuses.append(exc.status_code)
    assert statuses == [503, 503, 200]
    assert [i.kind for i in alpaca_standin.faults.injected] == ["503", "503"]


def test_a_drop_after_accept_keeps_the_order_but_loses_the_answer(alpaca_standin, client):
    alpaca_standin.faults.add("drop_after_accept", method="POST", path="/v2/orders")
    with pytest.raises(requests.exceptions.ConnectionError):
        client.submit_order(market("AAPL", 1, "s-lost"))
    assert client.get_order_by_client_id("s-lost").status == "filled"


def test_probabilistic_faults_fire_about_as_often_as_asked(alpaca_standin):
    alpaca_standin.faults.add(["500", "429"], count=None, probability=1 / 3)
    picks = [alpaca_standin.faults.pick("GET", "/v2/clock") for _ in range(3000)]
    kinds = Counter(kind for _, kind in filter(None, picks))
    assert 850 < sum(kinds.values()) < 1150
    assert set(kinds) == {"500", "429"} and min(kinds.values()) > 350  # each about half


def test_unknown_fault_kinds_are_refused(alpaca_standin):
    with pytest.raises(ValueError, match="unknown fault kind"):
        alpaca_standin.faults.add("explode")
