"""The Alpaca stand-in itself: alpaca-py parses what it says, and faults fire as asked.

Other test suites (the live loop's crash tests) lean on the stand-in, so its own
behaviour is pinned here through the unmodified alpaca-py client.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetCalendarRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    StopOrderRequest,
)

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


# -- Alpaca's documented rules (tests/standins/alpaca_rules.py cites each) -------------

#: A Wednesday morning in New York (2024-05-01 10:00 EDT), and that day's close.
MORNING = datetime(2024, 5, 1, 14, 0, tzinfo=UTC)
CLOSE = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)


def refused(call) -> APIError:
    with pytest.raises(APIError) as error:
        call()
    return error.value


def limit(symbol, qty, price, cid, side=OrderSide.BUY, tif=TimeInForce.DAY, **kw):
    return LimitOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=tif,
                             limit_price=price, client_order_id=cid, **kw)  # fmt: skip


def with_stop(cid, stop, tif=TimeInForce.DAY, **kw) -> MarketOrderRequest:
    return MarketOrderRequest(
        symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=tif, client_order_id=cid,
        order_class=OrderClass.OTO, stop_loss=StopLossRequest(stop_price=stop), **kw,
    )  # fmt: skip


def test_prices_finer_than_a_cent_above_a_dollar_are_refused(client):
    sub_penny = refused(lambda: client.submit_order(limit("AAPL", 1, 99.995, "p-1")))
    assert sub_penny.status_code == 422 and "sub-penny increment" in sub_penny.message
    assert refused(lambda: client.submit_order(limit("PENNY", 1, 0.12345, "p-2"))).code == 42210000
    assert client.submit_order(limit("PENNY", 1, 0.1234, "p-3")).status == "accepted"
    assert client.submit_order(limit("AAPL", 1, 99.99, "p-4")).status == "accepted"


def test_an_attached_stop_takes_its_entrys_time_in_force_and_expires_with_a_day_entry(
    client, alpaca_standin
):
    alpaca_standin.auto_fill = False
    alpaca_standin.now = lambda: MORNING
    day = client.submit_order(with_stop("o-day", 95.0))
    gtc = client.submit_order(with_stop("o-gtc", 95.0, tif=TimeInForce.GTC))
    for placed in (day, gtc):
        alpaca_standin.fill(str(placed.id))
    legs = {o.client_order_id: o for o in client.get_orders(GetOrdersRequest(nested=False))}
    day_leg, gtc_leg = (
        next(o for o in legs.values() if o.side == "sell" and o.time_in_force.value == tif)
        for tif in ("day", "gtc")
    )
    assert day_leg.status == gtc_leg.status == "new"  # the entries filled: the stops work

    alpaca_standin.now = lambda: CLOSE  # the session closes
    assert client.get_order_by_id(day_leg.id).status == "expired"
    assert client.get_order_by_id(gtc_leg.id).status == "new"
    assert alpaca_standin.stop_cover("AAPL") == 10  # only the GTC stop still protects


def test_orders_with_an_attached_stop_follow_the_bracket_rules(client):
    too_close = refused(lambda: client.submit_order(with_stop("o-close", 99.995)))
    assert too_close.status_code == 422  # a sub-penny stop
    within_a_cent = refused(lambda: client.submit_order(with_stop("o-cent", 99.995 + 0.005)))
    assert "at least 0.01 below" in within_a_cent.message
    ioc = refused(lambda: client.submit_order(with_stop("o-ioc", 95.0, tif=TimeInForce.IOC)))
    assert "day or gtc" in ioc.message
    assert client.submit_order(with_stop("o-ok", 99.99)).status == "filled"


def test_fractions_only_on_market_day_orders(client):
    assert (
        "fractional"
        in refused(lambda: client.submit_order(limit("AAPL", 1.5, 90.0, "f-1"))).message
    )
    assert client.submit_order(market("AAPL", 1.5, "f-2")).status == "filled"


def test_opening_and_closing_auction_orders_only_outside_their_cut_offs(client, alpaca_standin):
    alpaca_standin.now = lambda: MORNING  # 10:00 New York: after the 9:28 OPG cut-off
    opg = market("AAPL", 1, "a-1").model_copy(update={"time_in_force": TimeInForce.OPG})
    assert "opg orders are not accepted" in refused(lambda: client.submit_order(opg)).message
    alpaca_standin.now = lambda: CLOSE + timedelta(hours=4)  # 20:00: queued for tomorrow
    alpaca_standin.auto_fill = False
    assert client.submit_order(opg).status == "accepted"


def test_a_market_buy_is_valued_above_the_last_price(client, alpaca_standin):
    # 1,000 AAPL at 100.00 is exactly the cash; Alpaca values the market buy 2.5% higher.
    assert (
        "buying power" in refused(lambda: client.submit_order(market("AAPL", 1000, "b-1"))).message
    )
    assert client.submit_order(market("AAPL", 975, "b-2")).status == "filled"
    assert client.submit_order(limit("MSFT", 10, 50.0, "b-3")).status == "accepted"


def test_a_cancel_is_pending_until_read_and_its_shares_stay_held(client, alpaca_standin):
    client.submit_order(market("AAPL", 10, "c-buy"))
    alpaca_standin.cancel_reads = 2
    stop = client.submit_order(
        StopOrderRequest(symbol="AAPL", qty=10, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
                         stop_price=90.0, client_order_id="c-stop")
    )  # fmt: skip
    client.cancel_order_by_id(stop.id)  # 204: accepted, not done
    held = refused(lambda: client.submit_order(market("AAPL", 10, "c-sell", OrderSide.SELL)))
    assert held.status_code == 403 and "insufficient qty available" in held.message
    assert client.get_order_by_id(stop.id).status == "pending_cancel"
    assert client.get_order_by_id(stop.id).status == "canceled"  # the second read
    assert client.submit_order(market("AAPL", 10, "c-sell", OrderSide.SELL)).status == "filled"


def test_an_order_that_could_trade_against_the_accounts_own_is_a_wash_trade(client, alpaca_standin):
    client.submit_order(market("AAPL", 10, "w-buy"))
    client.submit_order(
        limit("AAPL", 10, 110.0, "w-sell", side=OrderSide.SELL, tif=TimeInForce.GTC)
    )
    wash = refused(lambda: client.submit_order(market("AAPL", 1, "w-again")))
    assert (wash.status_code, wash.code) == (403, 40310000) and "wash trade" in wash.message
    assert client.submit_order(limit("AAPL", 1, 105.0, "w-below")).status == "accepted"


def test_a_rate_limit_says_when_the_counter_resets(alpaca_standin):
    alpaca_standin.faults.add("429", path="/v2/account", reset_in=3)
    answer = requests.get(
        f"{alpaca_standin.url}/v2/account",
        headers={"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY},
        timeout=5,
    )
    assert answer.status_code == 429 and "Retry-After" not in answer.headers
    assert 2 <= int(answer.headers["X-Ratelimit-Reset"]) - time.time() <= 4


def test_the_calendar_and_clock_can_disagree_with_the_nyse_on_purpose(client, alpaca_standin):
    listed = client.get_calendar(GetCalendarRequest(start=date(2024, 7, 1), end=date(2024, 7, 5)))
    assert [c.date for c in listed] == [date(2024, 7, d) for d in (1, 2, 3, 5)]
    assert listed[2].close.hour == 13  # the 3rd of July closes early
    alpaca_standin.sessions_override = {
        date(2024, 7, 5): None,
        date(2024, 7, 3): (time_(9, 30), time_(16, 0)),
    }
    listed = client.get_calendar(GetCalendarRequest(start=date(2024, 7, 1), end=date(2024, 7, 5)))
    assert [c.date for c in listed] == [date(2024, 7, d) for d in (1, 2, 3)]
    assert listed[2].close.hour == 16
    alpaca_standin.now = lambda: datetime(2024, 7, 4, 12, 0, tzinfo=UTC)
    assert client.get_clock().next_open.date() == date(2024, 7, 8)  # the 5th shut here


def test_a_split_rebases_the_position_and_leaves_the_attached_stop_alone(client, alpaca_standin):
    client.submit_order(with_stop("s-entry", 90.0, tif=TimeInForce.GTC))
    alpaca_standin.split("AAPL", 2)
    position = client.get_open_position("AAPL")
    assert float(position.qty) == 20 and float(position.avg_entry_price) == 50.0
    leg = next(o for o in client.get_orders() if o.side == "sell")
    assert (float(leg.qty), float(leg.stop_price)) == (10, 90.0)
