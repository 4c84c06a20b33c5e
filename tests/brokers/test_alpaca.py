"""AlpacaBroker against the stand-in: retries, lost answers, refusals, keys, pagination.

The real alpaca-py client talks HTTP to the loopback stand-in, which injects the faults.
Client timeouts are 0.5 s and backoff is scaled down, so each test takes well under a
few seconds.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from engine.brokers import BrokerUnavailable, OrderRejected, OrderRequest, OrderStatus
from engine.brokers.alpaca import AlpacaBroker, RetryPolicy
from engine.errors import InputError, NotFoundError
from tests.standins.alpaca import API_KEY, SECRET_KEY, AlpacaStandIn

from .conftest import alpaca_broker


def order(cid: str, qty: float = 10, **kw) -> OrderRequest:
    return OrderRequest(symbol="AAPL", side="buy", qty=qty, client_order_id=cid, **kw)


@pytest.fixture
def server(alpaca_standin: AlpacaStandIn) -> AlpacaStandIn:
    alpaca_standin.set_prices({"AAPL": 100.0, "MSFT": 50.0})
    return alpaca_standin


class Sleeps(list):
    """A sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# -- retries ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["500", "502", "503", "504"])
def test_server_errors_are_retried_into_exactly_one_order(server, status):
    server.faults.add(status, method="POST", path="/v2/orders", count=2)
    placed = alpaca_broker(server).submit(order("r-5xx"))
    assert placed.status == OrderStatus.FILLED
    assert server.order_count() == 1
    assert server.count("POST", "/v2/orders") == 3
    # A 5xx may come after the order was taken, so each retry looks it up first.
    assert server.count("GET", "/v2/orders:by_client_order_id") == 2


def test_rate_limits_are_retried_after_the_servers_wait_and_only_by_us(server):
    server.faults.add("429", method="POST", path="/v2/orders", count=2, retry_after=0.04)
    sleeps = Sleeps()
    placed = alpaca_broker(server, sleep=sleeps).submit(order("r-429"))
    assert placed.client_order_id == "r-429" and server.order_count() == 1
    # alpaca-py's own 429 retries (3 more tries, 3 s apart) are off: 2 refusals, 1 success.
    assert server.count("POST", "/v2/orders") == 3
    assert len(sleeps) == 2 and all(0.04 <= s <= 0.05 for s in sleeps)
    # A 429 means the order was not taken: nothing to look up.
    assert server.count("GET", "/v2/orders:by_client_order_id") == 0


def test_reads_are_retried_too(server):
    server.faults.add("503", method="GET", path="/v2/account", count=2)
    server.faults.add("drop", method="GET", path="/v2/positions")
    broker = alpaca_broker(server)
    assert broker.account().cash == 100_000
    assert broker.positions() == []
    assert server.count("GET", "/v2/account") == 3


def test_retries_are_bounded_and_then_say_the_broker_is_unavailable(server):
    server.faults.add("503", count=None)
    sleeps = Sleeps()
    broker = alpaca_broker(server, sleep=sleeps, retry=RetryPolicy(max_attempts=4, backoff=0.01))
    with pytest.raises(BrokerUnavailable) as failed:
        broker.submit(order("r-down"))
    assert "after 4 attempts" in str(failed.value)
    assert "same client order id" in failed.value.hint
    assert len(sleeps) == 3
    assert server.order_count() == 0
    with pytest.raises(BrokerUnavailable):
        broker.account()


def test_backoff_doubles_with_full_jitter_and_is_capped():
    policy = RetryPolicy(backoff=0.5, max_backoff=4.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]:
        waits = [policy.wait(attempt, rng) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > 0.8 * ceiling  # jitter spreads over the whole range
    assert policy.wait(1, rng, retry_after=3.0) >= 3.0
    assert policy.wait(1, rng, retry_after=600.0) == policy.max_retry_after


# -- lost answers ----------------------------------------------------------------------


def test_a_connection_dropped_after_the_order_was_taken_is_resolved_by_lookup(server):
    # Uniqueness off: only the client's own lookup can prevent a second order here.
    server.unique_client_order_ids = False
    server.faults.add("drop_after_accept", method="POST", path="/v2/orders")
    placed = alpaca_broker(server).submit(order("r-drop"))
    assert placed.client_order_id == "r-drop"
    assert server.client_order_ids() == {"r-drop": 1}
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", "/v2/orders"),
        ("GET", "/v2/orders:by_client_order_id"),
    ]


def test_a_slow_answer_is_resolved_by_lookup_not_by_resending(server):
    server.unique_client_order_ids = False
    server.faults.add("slow", method="POST", path="/v2/orders", delay=1.0)
    placed = alpaca_broker(server, timeout=0.3).submit(order("r-slow"))
    assert placed.client_order_id == "r-slow"
    assert server.client_order_ids() == {"r-slow": 1}
    assert server.count("POST", "/v2/orders") == 1


def test_a_connection_dropped_before_the_order_was_taken_is_sent_again(server):
    server.faults.add("drop", method="POST", path="/v2/orders")
    placed = alpaca_broker(server).submit(order("r-lost"))
    assert placed.client_order_id == "r-lost"
    assert server.count("POST", "/v2/orders") == 2
    assert server.client_order_ids() == {"r-lost": 1}


@pytest.mark.parametrize("words", ["client_order_id must be unique", "order already exists"])
def test_a_repeated_client_order_id_is_recognised_by_the_order_not_the_words(server, words):
    # Placed earlier (another process, or before a restart): the refusal leads to a lookup,
    # whatever Alpaca's message says.
    server.duplicate_message = words
    first = alpaca_broker(server).submit(order("r-dup"))
    again = alpaca_broker(server).submit(order("r-dup"))
    assert again.id == first.id
    assert server.order_count() == 1


def test_faults_on_a_third_of_all_calls_still_give_exactly_one_order_each(server):
    server.unique_client_order_ids = False  # the client alone must prevent duplicates
    kinds = ["500", "503", "429", "drop", "drop_after_accept", "slow"]
    server.faults.add(kinds, count=None, probability=1 / 3, delay=0.4)
    broker = alpaca_broker(server, timeout=0.25, retry=RetryPolicy(max_attempts=12, backoff=0.002))
    cids = [f"r-storm-{i:02d}" for i in range(50)]

    placed = [broker.submit(order(cid, qty=1)) for cid in cids]

    assert [p.client_order_id for p in placed] == cids
    assert server.order_count() == 50
    assert server.client_order_ids() == {cid: 1 for cid in cids}
    injected = server.faults.counts()
    assert sum(injected.values()) >= 15  # about a third of well over 50 calls
    # Every fault the server injected is in its request log.
    assert sum(1 for r in server.requests if r.fault) == sum(injected.values())


# -- refusals --------------------------------------------------------------------------


def test_a_403_refusal_becomes_order_rejected_with_alpacas_message(server):
    server.faults.add("403", method="POST", path="/v2/orders", message="trading is halted for AAPL")
    with pytest.raises(OrderRejected) as refused:
        alpaca_broker(server).submit(order("r-halt"))
    assert refused.value.reason == "trading is halted for AAPL"
    assert refused.value.status_code == 403
    assert server.count("POST", "/v2/orders") == 1  # refusals are not retried
    assert server.order_count() == 0


def test_a_422_refusal_becomes_order_rejected_with_alpacas_message(server):
    server.symbols = {"AAPL", "MSFT"}
    with pytest.raises(OrderRejected, match='asset "ZZZZ" not found') as refused:
        alpaca_broker(server).submit(
            OrderRequest(symbol="ZZZZ", side="buy", qty=1, client_order_id="r-zzzz")
        )
    assert refused.value.status_code == 422 and refused.value.code == 40010001


# -- keys and modes --------------------------------------------------------------------


def test_missing_keys_say_which_variables_to_set(monkeypatch):
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    with pytest.raises(InputError, match="APCA_API_KEY_ID and APCA_API_SECRET_KEY not set"):
        AlpacaBroker()
    monkeypatch.setenv("APCA_API_KEY_ID", "only-the-id")
    with pytest.raises(InputError, match="APCA_API_SECRET_KEY not set") as missing:
        AlpacaBroker()
    assert "only-the-id" not in str(missing.value)


def test_keys_come_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("APCA_API_KEY_ID", API_KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET_KEY)
    assert AlpacaBroker(url_override=server.url).account().equity == 100_000


def test_keys_never_appear_in_errors_logs_or_repr(server, caplog):
    secret = "sEcReT-do-not-print-1234"
    caplog.set_level(logging.DEBUG)
    broker = AlpacaBroker(
        api_key="key-id-do-not-print", secret_key=secret, url_override=server.url, timeout=0.5
    )
    with pytest.raises(InputError, match="refused the API keys") as refused:
        broker.account()
    server.api_key, server.secret_key = "key-id-do-not-print", secret
    server.faults.add("503", count=None)
    with pytest.raises(BrokerUnavailable) as unavailable:
        AlpacaBroker(
            api_key="key-id-do-not-print",
            secret_key=secret,
            url_override=server.url,
            timeout=0.5,
            retry=RetryPolicy(max_attempts=2, backoff=0.001),
        ).submit(order("r-keys"))
    shown = " ".join([str(refused.value), str(unavailable.value), repr(broker), caplog.text])
    assert "alpaca: submit r-keys failed" in caplog.text  # the retry was logged...
    assert secret not in shown and "key-id-do-not-print" not in shown  # ...without the keys


def test_paper_unless_live_is_asked_for_explicitly(monkeypatch):
    monkeypatch.setenv("APCA_API_KEY_ID", "id")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "secret")
    paper, live = AlpacaBroker(), AlpacaBroker(live=True)
    assert paper.base_url == "https://paper-api.alpaca.markets" and not paper.live
    assert live.base_url == "https://api.alpaca.markets" and live.live
    assert "LIVE" in repr(live) and "paper" in repr(paper)


# -- reading orders --------------------------------------------------------------------


def test_orders_are_read_across_pages(server):
    broker = alpaca_broker(server)
    start = datetime(2024, 5, 1, 14, 0, tzinfo=UTC)
    ticks = iter(range(10_000))
    server.now = lambda: start + timedelta(milliseconds=next(ticks) // 2)  # pairs share a time
    server.auto_fill = False
    for i in range(620):
        server.dispatch(
            "POST",
            "/v2/orders",
            {},
            {
                "symbol": "MSFT",
                "qty": 1,
                "side": "buy",
                "type": "market",
                "time_in_force": "day",
                "client_order_id": f"r-page-{i}",
            },
        )
    listed = broker.orders("open")
    assert len(listed) == 620 and len({o.id for o in listed}) == 620
    stamps = [o.submitted_at for o in listed]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    assert server.count("GET", "/v2/orders") == 2


def test_partial_fills_show_as_open_with_the_filled_part(server):
    server.faults.add("partial", method="POST", path="/v2/orders", fraction=0.4)
    broker = alpaca_broker(server)
    placed = broker.submit(order("r-part", qty=10))
    assert placed.status == OrderStatus.PARTIALLY_FILLED and placed.is_open
    assert placed.filled_qty == 4 and placed.remaining_qty == 6
    assert broker.position("AAPL").qty == 4
    canceled = broker.cancel(placed.id)
    assert canceled.status == OrderStatus.CANCELED and canceled.filled_qty == 4


def test_a_bad_order_id_is_not_found_without_asking(server):
    with pytest.raises(NotFoundError):
        alpaca_broker(server).get_order("not-a-uuid")
    assert server.requests == []


# -- Alpaca's rules (tests/standins/alpaca_rules.py; docs/alpaca.md) --------------------


def test_prices_go_on_alpacas_tick_never_worse_for_us(server):
    server.auto_fill = False
    server.set_prices({"PENNY": 0.5})
    broker = alpaca_broker(server)
    buy = broker.submit(order("t-buy", type="limit", limit_price=99.996))
    sell_stop = broker.submit(
        OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id="t-bstop", type="stop",
                     stop_price=100.001, time_in_force="gtc")
    )  # fmt: skip
    penny = broker.submit(
        OrderRequest(symbol="PENNY", side="buy", qty=1, client_order_id="t-penny",
                     type="limit", limit_price=0.123456)
    )  # fmt: skip
    attached = broker.submit(order("t-oto", stop_loss_price=95.559, time_in_force="gtc"))
    assert (buy.limit_price, sell_stop.stop_price, penny.limit_price) == (99.99, 100.01, 0.1234)
    leg = next(o for o in broker.orders("open") if o.side == "sell")
    assert leg.stop_price == 95.55 and leg.time_in_force == "gtc"
    # The same request again is the same order, rounding and all.
    assert broker.submit(order("t-buy", type="limit", limit_price=99.996)).id == buy.id
    assert broker.submit(order("t-oto", stop_loss_price=95.559, time_in_force="gtc")).id == (
        attached.id
    )


@pytest.mark.parametrize(
    "request_, words",
    [
        (order("t-frac", qty=1.5, type="limit", limit_price=90.0), "fractional"),
        (order("t-oto-stop", type="stop", stop_price=101.0, stop_loss_price=95.0), "attaches"),
        (order("t-oto-ioc", stop_loss_price=95.0, time_in_force="ioc"), "DAY or GTC"),
    ],
)
def test_orders_alpaca_would_refuse_are_refused_before_sending(server, request_, words):
    with pytest.raises(OrderRejected, match=words):
        alpaca_broker(server).submit(request_)
    assert server.count("POST") == 0


def test_a_cancel_is_read_back_until_alpaca_has_done_it(server):
    broker = alpaca_broker(server)
    broker.submit(order("c-buy"))  # 10 AAPL at 100
    stop = broker.submit(
        OrderRequest(symbol="AAPL", side="sell", qty=10, client_order_id="c-stop", type="stop",
                     stop_price=90.0, time_in_force="gtc")
    )  # fmt: skip
    server.cancel_reads = 3

    assert broker.cancel(stop.id).status == OrderStatus.CANCELED
    # The shares are free at once: the sale is not refused for shares held by the stop.
    sold = broker.submit(OrderRequest(symbol="AAPL", side="sell", qty=10, client_order_id="c-sell"))
    assert sold.status == OrderStatus.FILLED


def test_a_cancel_alpaca_never_confirms_is_waited_for_a_bounded_time(server):
    sleeps = Sleeps()
    broker = alpaca_broker(server, sleep=sleeps, cancel_wait=2.0)
    broker.submit(order("c-buy"))
    stops = [
        broker.submit(
            OrderRequest(
                symbol="AAPL",
                side="sell",
                qty=5,
                client_order_id=f"c-stop-{i}",
                type="stop",
                stop_price=90.0,
                time_in_force="gtc",
            )
        )  # fmt: skip
        for i in range(2)
    ]
    server.cancel_reads = None  # pending until the stand-in is told otherwise

    answers = broker.cancel_many([s.id for s in stops])

    assert [a.status for a in answers] == [OrderStatus.PENDING_CANCEL] * 2
    assert 2.0 <= sum(sleeps) < 3.0 and all(a.remaining_qty == 5 for a in answers)


def test_a_rate_limit_waits_for_alpacas_reset_time(server):
    server.faults.add("429", method="POST", path="/v2/orders", count=1, reset_in=2)
    sleeps = Sleeps()
    policy = RetryPolicy(max_attempts=3, backoff=0.001, max_backoff=0.001, max_retry_after=5)
    alpaca_broker(server, sleep=sleeps, retry=policy).submit(order("r-reset"))
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 3.0  # X-Ratelimit-Reset, not the backoff


def test_alpacas_calendar_comes_back_in_utc(server):
    sessions = alpaca_broker(server).sessions(date(2024, 11, 27), date(2024, 11, 29))
    assert [s.day for s in sessions] == [date(2024, 11, 27), date(2024, 11, 29)]
    assert sessions[0].close == datetime(2024, 11, 27, 21, 0)  # 16:00 New York
    assert sessions[1].close == datetime(2024, 11, 29, 18, 0)  # the day after Thanksgiving
