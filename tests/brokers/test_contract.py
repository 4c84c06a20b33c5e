"""The broker contract: the same tests against the paper broker and Alpaca (stand-in).

Each test runs twice (``market`` is parametrized): once on a PaperBroker in a temp
store, once on AlpacaBroker driving the real alpaca-py client against the loopback
stand-in. ``market.open_bar(prices)`` moves the market to the next price.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from engine.brokers import OrderRejected, OrderRequest, OrderStatus
from engine.errors import InputError, NotFoundError

from .conftest import STARTING_CASH


def buy(qty, cid, **kw) -> OrderRequest:
    return OrderRequest(symbol="AAPL", side="buy", qty=qty, client_order_id=cid, **kw)


def sell(qty, cid, **kw) -> OrderRequest:
    return OrderRequest(symbol="AAPL", side="sell", qty=qty, client_order_id=cid, **kw)


def test_a_market_order_waits_for_the_market_then_fills_at_its_price(market):
    broker = market.broker
    placed = broker.submit(buy(10, "t-buy-1"))
    assert placed.is_open and placed.status in (OrderStatus.NEW, OrderStatus.ACCEPTED)
    assert (placed.symbol, placed.side, placed.qty, placed.filled_qty) == ("AAPL", "buy", 10, 0)
    assert broker.get_order(placed.id).client_order_id == "t-buy-1"
    assert broker.get_order_by_client_id("t-buy-1").id == placed.id
    assert [o.id for o in broker.orders("open")] == [placed.id]

    market.open_bar({"AAPL": 101.5})

    filled = broker.get_order(placed.id)
    assert filled.status == OrderStatus.FILLED and not filled.is_open
    assert filled.filled_qty == 10 and filled.filled_avg_price == pytest.approx(101.5)
    assert broker.orders("open") == []
    assert [o.id for o in broker.orders("closed")] == [placed.id]
    assert [o.id for o in broker.orders("all")] == [placed.id]


def test_submitting_a_client_order_id_again_returns_the_order_already_placed(market):
    broker = market.broker
    first = broker.submit(buy(10, "t-once"))
    assert broker.submit(buy(10, "t-once")).id == first.id
    market.open_bar({"AAPL": 100.0})
    # After the fill too: a repeated step must not buy again.
    again = broker.submit(buy(10, "t-once"))
    assert again.id == first.id and again.status == OrderStatus.FILLED
    assert len(broker.orders("all")) == 1
    assert broker.position("AAPL").qty == 10


def test_a_client_order_id_reused_for_a_different_order_is_the_callers_error(market):
    market.broker.submit(buy(10, "t-reused"))
    with pytest.raises(InputError, match="already used by a different order"):
        market.broker.submit(buy(11, "t-reused"))
    assert len(market.broker.orders("all")) == 1


def test_orders_cancel_by_id_or_client_order_id_and_then_never_fill(market):
    broker = market.broker
    by_id = broker.submit(buy(5, "t-low-1", type="limit", limit_price=50.0, time_in_force="gtc"))
    by_cid = broker.submit(buy(5, "t-low-2", type="limit", limit_price=55.0, time_in_force="gtc"))
    market.open_bar({"AAPL": 100.0})  # nowhere near the limits
    assert {o.id for o in broker.orders("open")} == {by_id.id, by_cid.id}

    assert broker.cancel(by_id.id).status == OrderStatus.CANCELED
    assert broker.cancel(client_order_id="t-low-2").status == OrderStatus.CANCELED
    market.open_bar({"AAPL": 40.0})  # through both limits, too late

    assert broker.orders("open") == []
    assert broker.positions() == []
    assert {o.status for o in broker.orders("closed")} == {OrderStatus.CANCELED}


def test_cancelling_a_filled_order_gives_it_back_filled(market):
    placed = market.broker.submit(buy(10, "t-filled"))
    market.open_bar({"AAPL": 100.0})
    assert market.broker.cancel(client_order_id="t-filled").status == OrderStatus.FILLED
    assert market.broker.get_order(placed.id).filled_qty == 10


def test_unknown_orders_are_not_found(market):
    broker = market.broker
    with pytest.raises(NotFoundError):
        broker.get_order(str(uuid.uuid4()))
    with pytest.raises(NotFoundError):
        broker.get_order_by_client_id("t-never")
    with pytest.raises(NotFoundError):
        broker.cancel(client_order_id="t-never")
    with pytest.raises(InputError, match="exactly one"):
        broker.cancel()


def test_positions_follow_the_fills_at_average_cost(market):
    broker = market.broker
    broker.submit(buy(10, "t-p1"))
    market.open_bar({"AAPL": 100.0})
    broker.submit(buy(10, "t-p2"))
    market.open_bar({"AAPL": 110.0})
    held = broker.position("AAPL")
    assert held.qty == 20 and held.avg_entry_price == pytest.approx((10 * 100 + 10 * 110) / 20)

    broker.submit(sell(5, "t-p3"))
    market.open_bar({"AAPL": 120.0})
    held = broker.position("AAPL")
    # Selling part of a position leaves its average entry price where it was.
    assert held.qty == 15 and held.avg_entry_price == pytest.approx(105.0)
    assert held.market_value == pytest.approx(15 * 120.0)
    assert held.unrealized_pl == pytest.approx(15 * (120.0 - 105.0))

    broker.submit(sell(15, "t-p4"))
    market.open_bar({"AAPL": 90.0})
    assert broker.positions() == []


def test_account_cash_and_equity_add_up(market):
    broker = market.broker
    start = broker.account()
    assert start.cash == start.equity == STARTING_CASH

    broker.submit(buy(10, "t-a1"))
    market.open_bar({"AAPL": 100.0})
    after_buy = broker.account()
    assert after_buy.cash == pytest.approx(STARTING_CASH - 10 * 100.0)
    assert after_buy.equity == pytest.approx(STARTING_CASH)
    assert after_buy.buying_power == pytest.approx(after_buy.cash)

    market.open_bar({"AAPL": 120.0})  # the position is marked to the new price
    marked = broker.account()
    assert marked.long_market_value == pytest.approx(1200.0)
    assert marked.equity == pytest.approx(STARTING_CASH - 1000.0 + 1200.0)

    broker.submit(sell(10, "t-a2"))
    market.open_bar({"AAPL": 130.0})
    flat = broker.account()
    assert flat.cash == flat.equity == pytest.approx(STARTING_CASH + 10 * (130.0 - 100.0))


def test_an_open_buy_order_holds_back_buying_power(market):
    broker = market.broker
    broker.submit(buy(100, "t-hold", type="limit", limit_price=90.0, time_in_force="gtc"))
    account = broker.account()
    assert account.cash == STARTING_CASH
    assert account.buying_power == pytest.approx(STARTING_CASH - 100 * 90.0)


def test_refusals_carry_the_brokers_reason_and_place_nothing(market):
    broker = market.broker
    market.open_bar({"AAPL": 100.0})
    with pytest.raises(OrderRejected) as too_big:
        broker.submit(buy(2_000, "t-big"))  # 200,000 with 100,000 cash
    assert "buying power" in too_big.value.reason
    assert too_big.value.client_order_id == "t-big"
    assert "t-big" in str(too_big.value)

    with pytest.raises(OrderRejected) as naked:
        broker.submit(sell(5, "t-naked"))  # nothing held, no shorting
    assert "insufficient qty available" in naked.value.reason
    assert broker.orders("all") == []

    # A refused client order id is not used up: the corrected order goes through.
    assert broker.submit(buy(20, "t-big")).qty == 20


def test_close_position_sells_the_whole_position(market):
    broker = market.broker
    broker.submit(buy(7, "t-c1"))
    market.open_bar({"AAPL": 100.0})
    closing = broker.close_position("aapl")
    assert (closing.side, closing.qty, closing.symbol) == ("sell", 7, "AAPL")
    market.open_bar({"AAPL": 101.0})
    assert broker.positions() == []
    with pytest.raises(NotFoundError, match="no open position in AAPL"):
        broker.close_position("AAPL")


def test_submit_many_returns_refusals_in_place(market):
    market.open_bar({"AAPL": 100.0})
    results = market.broker.submit_many([buy(1, "t-m1"), buy(5_000, "t-m2"), buy(2, "t-m3")])
    assert [type(r).__name__ for r in results] == ["Order", "OrderRejected", "Order"]
    assert {o.client_order_id for o in market.broker.orders("all")} == {"t-m1", "t-m3"}


def test_the_clock_says_whether_the_market_is_open_and_what_comes_next(market):
    clock = market.broker.clock()
    assert clock.timestamp.tzinfo is None  # naive UTC, as the store keeps time
    if clock.is_open:
        assert clock.timestamp < clock.next_close < clock.next_open
    else:
        assert clock.timestamp < clock.next_open < clock.next_close


def test_a_canceled_stop_frees_its_shares_for_a_sale_at_once(market):
    broker = market.broker
    broker.submit(buy(10, "t-s1"))
    market.open_bar({"AAPL": 100.0})
    stop = broker.submit(sell(10, "t-s2", type="stop", stop_price=90.0, time_in_force="gtc"))

    assert broker.cancel(stop.id).status == OrderStatus.CANCELED
    broker.submit(sell(10, "t-s3"))  # not refused for the shares the stop held
    market.open_bar({"AAPL": 101.0})
    assert broker.positions() == []


def test_a_broker_without_a_calendar_of_its_own_says_so(market):
    sessions = market.broker.sessions(date(2024, 7, 1), date(2024, 7, 5))
    if market.name == "paper":
        assert sessions is None  # the workbench's NYSE calendar is the only one
    else:
        assert [s.day for s in sessions] == [date(2024, 7, d) for d in (1, 2, 3, 5)]
