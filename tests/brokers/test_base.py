"""The broker records and the paper broker's pure rules, with plain numbers."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime

import pytest

from engine.brokers import (
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    PaperBroker,
    Side,
    TimeInForce,
    open_broker,
)
from engine.brokers.alpaca import AlpacaBroker
from engine.brokers.base import (
    Capabilities,
    existing_or_conflict,
    new_client_order_id,
    on_tick,
    same_intent,
)
from engine.brokers.paper_rules import Costs, fill_price, positions_from_fills, rejection_reason
from engine.errors import InputError
from tests.brokers.orders import broker_order
from tests.standins.alpaca import API_KEY, SECRET_KEY


def request(**kw) -> OrderRequest:
    spec = dict(symbol="AAPL", side="buy", qty=10, client_order_id="cfg-AAPL-buy-2024-05-01")
    return OrderRequest(**{**spec, **kw})


# -- OrderRequest ----------------------------------------------------------------------


def test_an_order_request_is_normalised_to_the_brokers_terms():
    order = request(symbol=" aapl ", side="BUY", type="Limit", limit_price="189.5", qty="3")
    assert order.symbol == "AAPL"
    assert order.side is Side.BUY and order.type is OrderType.LIMIT
    assert order.time_in_force is TimeInForce.DAY
    assert order.qty == 3.0 and order.limit_price == 189.5


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(qty=0), "qty must be a positive number of shares"),
        (dict(qty=-5), "qty must be a positive number of shares"),
        (dict(qty=math.nan), "qty must be a positive number of shares"),
        (dict(symbol=""), "needs a symbol"),
        (dict(side="short"), "side 'short' is not one of: buy, sell"),
        (dict(type="limit"), "a limit order needs limit_price"),
        (dict(type="stop"), "a stop order needs stop_price"),
        (dict(limit_price=100.0), "limit_price is only for limit orders"),
        (dict(type="limit", limit_price=-1.0), "limit_price must be a positive price"),
        (dict(type="trailing_stop"), "cannot be submitted from the workbench"),
        (dict(time_in_force="forever"), "time_in_force 'forever' is not one of"),
        (dict(client_order_id=""), "client_order_id must be 1 to 128 characters"),
        (dict(client_order_id="x" * 129), "client_order_id must be 1 to 128 characters"),
    ],
)
def test_a_wrong_order_request_says_what_is_wrong(change, message):
    with pytest.raises(InputError, match=message):
        request(**change)


def test_order_requests_are_keyword_only_so_qty_and_price_cannot_swap():
    with pytest.raises(TypeError):
        OrderRequest("AAPL", "buy", 10, "cid")  # type: ignore[misc]


def test_fresh_client_order_ids_are_unique_and_fit_alpacas_limit():
    ids = {new_client_order_id("close-AAPL") for _ in range(100)}
    assert len(ids) == 100 and all(i.startswith("close-AAPL-") and len(i) <= 128 for i in ids)


def test_a_repeat_is_the_same_intent_and_anything_else_is_a_conflict():
    ask = request(type="limit", limit_price=100.0)
    held = broker_order(
        client_order_id=ask.client_order_id,
        type=OrderType.LIMIT,
        status=OrderStatus.FILLED,
        limit_price=100.0,
    )
    assert same_intent(ask, held) and existing_or_conflict(ask, held) is held
    assert not same_intent(request(type="limit", limit_price=100.01), held)
    assert not same_intent(request(side="sell", type="limit", limit_price=100.0), held)
    with pytest.raises(InputError, match="already used by a different order"):
        existing_or_conflict(request(qty=11, type="limit", limit_price=100.0), held)


def test_an_accepted_order_is_its_request_under_a_new_id_with_its_target_and_not_its_stop():
    asked = request(type="limit", limit_price=50.0, time_in_force="gtc", stop_loss_price=45.0,
                    take_profit_price=60.0)  # fmt: skip
    at = datetime(2024, 5, 1, 20)
    first, second = Order.accepted(asked, at), Order.accepted(asked, at)
    assert first.id != second.id and first.client_order_id == asked.client_order_id
    assert (first.symbol, first.side, first.qty, first.type, first.time_in_force) == (
        "AAPL", Side.BUY, 10.0, OrderType.LIMIT, TimeInForce.GTC
    )  # fmt: skip
    assert (first.limit_price, first.take_profit_price) == (50.0, 60.0)
    # The protective stop becomes an order of its own when the buy fills.
    assert first.stop_price is None and not hasattr(first, "stop_loss_price")
    assert (first.status, first.filled_qty, first.submitted_at) == (OrderStatus.ACCEPTED, 0.0, at)


def test_an_order_is_open_until_it_closes_and_only_open_orders_have_shares_left():
    order = broker_order(status=OrderStatus.PARTIALLY_FILLED, filled_qty=4.0)
    assert order.is_open and order.remaining_qty == 6.0
    canceled = replace(order, status=OrderStatus.CANCELED)
    assert not canceled.is_open and canceled.remaining_qty == 0.0


# -- paper rules -----------------------------------------------------------------------


def test_no_bar_no_fill():
    assert fill_price(Side.BUY, OrderType.MARKET, open=math.nan, high=1.0, low=1.0) is None


def test_positions_use_average_cost_and_restart_after_crossing_zero():
    fills = [
        ("AAPL", 10, 100.0),
        ("AAPL", 10, 110.0),  # 20 @ 105
        ("AAPL", -5, 130.0),  # reducing keeps 105
        ("MSFT", 3, 50.0),
        ("AAPL", -25, 90.0),  # through zero: short 10 @ 90
        ("MSFT", -3, 55.0),  # flat: gone
    ]
    assert positions_from_fills(fills) == {"AAPL": (-10, 90.0)}
    partial = positions_from_fills(fills[:3])
    assert partial["AAPL"] == (15, pytest.approx(105.0))


def test_buying_power_counts_slippage_fees_and_open_orders():
    costs = Costs(fees=0.001, fixed_fees=1.0, slippage=0.01)
    # 10 shares at 100 + 1% slippage = 1010, fee 1.01 + 1 = 2.01: needs 1012.01.
    common = dict(held_qty=0, pending_sell_qty=0, allow_short=False, costs=costs)
    assert (
        rejection_reason(Side.BUY, 10, price=100.0, cash=1012.01, reserved_cash=0, **common) is None
    )
    refused = rejection_reason(Side.BUY, 10, price=100.0, cash=1500, reserved_cash=500, **common)
    assert refused == "insufficient buying power: the order needs $1,012.01, $1,000.00 is available"
    # Before the first bar there is no price to check against: the bar will tell.
    assert rejection_reason(Side.BUY, 10, price=None, cash=0, reserved_cash=0, **common) is None


def test_sells_cannot_exceed_shares_held_less_pending_sells_unless_shorting():
    costs = Costs()
    args = dict(price=100.0, cash=0, reserved_cash=0, held_qty=10, pending_sell_qty=4, costs=costs)
    assert rejection_reason(Side.SELL, 6, allow_short=False, **args) is None
    assert "requested: 7, available: 6" in rejection_reason(Side.SELL, 7, allow_short=False, **args)
    assert rejection_reason(Side.SELL, 70, allow_short=True, **args) is None


# -- choosing a broker -----------------------------------------------------------------


def test_open_broker_builds_the_named_broker(store, alpaca_standin):
    assert isinstance(open_broker("paper", store=store, cash=5_000), PaperBroker)
    alpaca = open_broker(
        "Alpaca", api_key=API_KEY, secret_key=SECRET_KEY, url_override=alpaca_standin.url
    )
    assert isinstance(alpaca, AlpacaBroker) and not alpaca.live
    assert alpaca.account().cash == 100_000


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("ib", {}, "unknown broker 'ib'"),
        ("paper", {"live": True}, "live trading needs the Alpaca broker"),
        ("paper", {}, "pass store="),
    ],
)
def test_open_broker_says_what_is_wrong(name, options, message):
    with pytest.raises(InputError, match=message):
        open_broker(name, **options)


@pytest.mark.parametrize(
    "field, side, typed, sent",
    [
        ("limit_price", "buy", 100.005, 100.0),  # a buy limit never pays more than typed
        ("limit_price", "sell", 100.001, 100.01),  # a sell limit never takes less
        ("stop_price", "sell", 99.999, 99.99),  # a sell stop sits at or below the level
        ("stop_price", "buy", 100.001, 100.01),
        ("limit_price", "buy", 0.123456, 0.1234),  # below $1: 1/100 of a cent
        ("limit_price", "buy", 101.23, 101.23),  # already on the tick: unchanged
    ],
)
def test_prices_go_on_the_brokers_tick_never_worse_for_the_one_placing_them(
    field, side, typed, sent
):
    alpaca_ticks = Capabilities(tick_size=0.01, sub_dollar_tick_size=0.0001)
    kind = "limit" if field == "limit_price" else "stop"
    request = OrderRequest(
        symbol="AAPL", side=side, qty=1, client_order_id="t", type=kind, **{field: typed}
    )
    priced = getattr(on_tick(request, alpaca_ticks), field)
    assert priced == sent and repr(priced) == repr(sent)  # a clean decimal on the wire
    assert on_tick(request, Capabilities()) is request  # a broker with no tick takes any price
