"""Stop and target as one bracket on Alpaca: the real alpaca-py client against the stand-in.

Alpaca shows a bracket as three orders: the buy, then its target working and its stop
``held`` beside it, nested under the buy only until the buy fills. The adapter must send
the pair as one order and read it back as one protective order, so that the loop sees a
position protected, and a fill of either leg leaves nothing else working.
"""

from __future__ import annotations

import pytest

from engine.brokers import OrderRequest, OrderStatus
from engine.brokers.base import OrderType, Side
from tests.standins.alpaca import AlpacaStandIn

from .conftest import alpaca_broker


@pytest.fixture
def server(alpaca_standin: AlpacaStandIn) -> AlpacaStandIn:
    alpaca_standin.set_prices({"AAPL": 100.0})
    return alpaca_standin


def bracket_entry(cid: str = "b-buy", qty: float = 10) -> OrderRequest:
    return OrderRequest(
        symbol="AAPL", side="buy", qty=qty, client_order_id=cid, time_in_force="gtc",
        stop_loss_price=95.0, take_profit_price=110.0,
    )  # fmt: skip


def stop_with_target(cid: str = "b-oco", qty: float = 10) -> OrderRequest:
    return OrderRequest(
        symbol="AAPL", side="sell", qty=qty, client_order_id=cid, type="stop",
        stop_price=95.0, take_profit_price=110.0, time_in_force="gtc",
    )  # fmt: skip


def legs(server: AlpacaStandIn, parent_cid: str) -> dict[str, dict]:
    """The stand-in's legs of an order, by type (limit: the target, stop: the stop)."""
    parent = server._find_cid(parent_cid)
    return {leg["type"]: leg for leg in parent["legs"]}


def the_protection(broker) -> object:
    (protective,) = [o for o in broker.orders("open") if o.side == Side.SELL]
    return protective


def test_an_entry_with_a_target_goes_as_one_bracket_and_reads_back_as_one_protection(server):
    broker = alpaca_broker(server)
    entry = broker.submit(bracket_entry())

    parent = server._find_cid("b-buy")
    assert parent["order_class"] == "bracket" and server.order_count() == 3
    assert entry.status == OrderStatus.FILLED and entry.take_profit_price == 110.0
    by_type = legs(server, "b-buy")
    assert (by_type["limit"]["status"], by_type["stop"]["status"]) == ("new", "held")
    # Alpaca lists only the working target as open; the adapter reads the pair through
    # the buy and gives one protective order.
    assert [o["type"] for o in server._list_orders({"status": "open"})] == ["limit"]
    protective = the_protection(broker)
    assert (protective.type, protective.stop_price, protective.take_profit_price) == (
        OrderType.STOP, 95.0, 110.0,
    )  # fmt: skip
    assert protective.qty == 10 and protective.is_open
    # A new adapter (a restart) knows nothing of the legs and reads the same order.
    assert the_protection(alpaca_broker(server)) == protective


def test_a_filled_target_cancels_the_stop_and_the_pair_reads_filled_at_the_target(server):
    broker = alpaca_broker(server)
    broker.submit(bracket_entry())
    protective = the_protection(broker)

    server.fill(legs(server, "b-buy")["limit"]["id"], price=110.0)

    assert legs(server, "b-buy")["stop"]["status"] == "canceled"
    done = alpaca_broker(server).get_order(protective.id)
    assert (done.status, done.filled_qty, done.filled_avg_price) == (OrderStatus.FILLED, 10, 110.0)
    assert broker.positions() == [] and broker.orders("open") == []
    assert broker.account().cash == pytest.approx(100_000 + 10 * 10.0)


def test_a_filled_stop_leaves_the_target_replaced_and_the_pair_filled_at_the_stop(server):
    broker = alpaca_broker(server)
    broker.submit(bracket_entry())
    protective = the_protection(broker)

    server.fill_open_orders({"AAPL": 94.0})  # the held stop triggers all the same

    assert legs(server, "b-buy")["limit"]["status"] == "replaced"
    done = broker.get_order(protective.id)
    assert (done.status, done.filled_avg_price) == (OrderStatus.FILLED, 94.0)
    assert broker.positions() == [] and broker.orders("open") == []


def test_a_bar_reaching_both_legs_fills_only_one(server):
    broker = alpaca_broker(server)
    broker.submit(bracket_entry())
    server.trade_bar({"AAPL": (100.0, 111.0, 94.0, 100.0)})
    assert broker.positions() == []
    assert sorted(o["status"] for o in legs(server, "b-buy").values()) == ["filled", "replaced"]


def test_a_stop_with_a_target_on_a_held_position_goes_as_one_oco(server):
    broker = alpaca_broker(server)
    broker.submit(OrderRequest(symbol="AAPL", side="buy", qty=10, client_order_id="b-plain"))
    placed = broker.submit(stop_with_target())

    parent = server._find_cid("b-oco")
    assert (parent["order_class"], parent["type"], parent["limit_price"]) == ("oco", "limit", "110")
    assert [leg["type"] for leg in parent["legs"]] == ["stop"]
    assert (placed.client_order_id, placed.type, placed.stop_price, placed.take_profit_price) == (
        "b-oco", OrderType.STOP, 95.0, 110.0,
    )  # fmt: skip
    assert the_protection(broker) == placed
    # Sent again (a step repeated after a crash): the same order, not a second one.
    assert broker.submit(stop_with_target()) == placed
    assert server.client_order_ids()["b-oco"] == 1


def test_an_oco_whose_target_fills_cancels_its_stop(server):
    broker = alpaca_broker(server)
    broker.submit(OrderRequest(symbol="AAPL", side="buy", qty=10, client_order_id="b-plain"))
    placed = broker.submit(stop_with_target())
    server.trade_bar({"AAPL": (100.0, 112.0, 99.0, 111.0)})
    done = broker.get_order_by_client_id("b-oco")
    assert (done.id, done.status, done.filled_avg_price) == (placed.id, OrderStatus.FILLED, 110.0)
    assert legs(server, "b-oco")["stop"]["status"] == "canceled"


@pytest.mark.parametrize("kind", ["bracket", "oco"])
def test_canceling_the_protection_cancels_both_legs(server, kind):
    broker = alpaca_broker(server)
    if kind == "bracket":
        broker.submit(bracket_entry())
    else:
        broker.submit(OrderRequest(symbol="AAPL", side="buy", qty=10, client_order_id="b-plain"))
        broker.submit(stop_with_target())
    server.cancel_reads = 2
    protective = the_protection(broker)

    (canceled,) = broker.cancel_many([protective.id])

    assert canceled.status == OrderStatus.CANCELED
    assert server.protections("AAPL") == [] and broker.orders("open") == []
    # Nothing holds the shares now: the exit is not refused.
    sold = broker.submit(OrderRequest(symbol="AAPL", side="sell", qty=10, client_order_id="b-out"))
    assert sold.status == OrderStatus.FILLED


def test_an_entry_canceled_before_it_fills_takes_its_legs_with_it(server):
    server.auto_fill = False
    broker = alpaca_broker(server)
    entry = broker.submit(bracket_entry())
    waiting = [o for o in broker.orders("open") if o.side == Side.SELL]
    assert [o.status for o in waiting] == [OrderStatus.ACCEPTED]  # held until the buy fills

    assert broker.cancel(entry.id).status == OrderStatus.CANCELED
    assert {leg["status"] for leg in legs(server, "b-buy").values()} == {"canceled"}
    assert broker.get_order(waiting[0].id).status == OrderStatus.CANCELED
