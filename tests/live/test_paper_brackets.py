"""The paper broker's own OCO: a stop and its profit target rest as one order, one cancels the other."""

from __future__ import annotations

import pytest

from engine.brokers import OrderRequest, OrderStatus, PaperBroker
from engine.errors import InputError
from tests.live.test_paper_session import DAYS, bar, order


@pytest.fixture
def broker(store):
    return PaperBroker(store, cash=1_000.0)


def _entered(broker, **bar_prices):
    broker.process_bar(DAYS[0], bar(XYZ=10))
    broker.submit(order("XYZ", "buy", 10, "e-XYZ", stop_loss_price=9.0, take_profit_price=11.0))
    return broker.process_bar(DAYS[1], bar(XYZ=bar_prices.get("first", (10, 10.5, 9.5, 10))))


def test_the_buy_places_its_stop_and_target_as_one_order(broker):
    _entered(broker)
    protection = [o for o in broker.orders("open") if o.side == "sell"]
    assert [(o.client_order_id, o.type, o.stop_price, o.take_profit_price, o.qty)
            for o in protection] == [("e-XYZ-stop", "stop", 9.0, 11.0, 10)]  # fmt: skip


def test_the_target_fills_at_its_price_and_nothing_is_left_working(broker):
    _entered(broker)
    fills = broker.process_bar(DAYS[2], bar(XYZ=(10.2, 11.4, 10.1, 11.2)))
    assert [(f.client_order_id, f.price) for f in fills] == [("e-XYZ-stop", 11.0)]
    assert broker.positions() == [] and broker.orders("open") == []


def test_a_bar_reaching_both_fills_the_stop(broker):
    _entered(broker)
    fills = broker.process_bar(DAYS[2], bar(XYZ=(10.0, 11.5, 8.8, 10.0)))
    assert [(f.client_order_id, f.price) for f in fills] == [("e-XYZ-stop", 9.0)]
    assert broker.orders("open") == []


def test_an_open_beyond_the_target_fills_at_the_open(broker):
    _entered(broker)
    fills = broker.process_bar(DAYS[2], bar(XYZ=(11.6, 11.8, 8.0, 9.0)))
    assert [(f.client_order_id, f.price) for f in fills] == [("e-XYZ-stop", 11.6)]


def test_the_stop_slips_and_the_target_does_not(store):
    broker = PaperBroker(store, cash=1_000.0, slippage=0.01)
    broker.process_bar(DAYS[0], bar(AAA=10, BBB=10))
    broker.submit_many([order(s, "buy", 10, f"e-{s}") for s in ("AAA", "BBB")])
    broker.process_bar(DAYS[1], bar(AAA=10, BBB=10))
    broker.submit_many([
        order(s, "sell", 10, f"p-{s}", type="stop", stop_price=9.0, take_profit_price=11.0,
              time_in_force="gtc")
        for s in ("AAA", "BBB")
    ])  # fmt: skip
    fills = broker.process_bar(DAYS[2], bar(AAA=(10, 11.5, 9.9, 11), BBB=(10, 10.2, 8.5, 9)))
    assert sorted((f.client_order_id, f.price) for f in fills) == [
        ("p-AAA", 11.0),
        ("p-BBB", pytest.approx(9.0 * 0.99)),
    ]


def test_a_canceled_bracket_cancels_both_legs(broker):
    _entered(broker)
    (protection,) = [o for o in broker.orders("open") if o.side == "sell"]
    assert broker.cancel(protection.id).status == OrderStatus.CANCELED
    assert broker.process_bar(DAYS[2], bar(XYZ=(10.2, 11.4, 8.0, 11.2))) == []
    assert broker.positions()[0].qty == 10


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        ({"side": "buy", "take_profit_price": 11.0}, "needs stop_loss_price"),
        ({"side": "sell", "take_profit_price": 11.0}, "beside a sell stop"),
        ({"side": "buy", "stop_loss_price": 9.0, "take_profit_price": 8.0}, "not above the stop"),
        ({"side": "sell", "type": "stop", "stop_price": 9.0, "take_profit_price": 9.0},
         "not above the stop"),
    ],
)  # fmt: skip
def test_a_target_without_a_stop_below_it_is_refused(request_, says):
    with pytest.raises(InputError, match=says):
        OrderRequest(symbol="XYZ", qty=1, client_order_id="t", **request_)
