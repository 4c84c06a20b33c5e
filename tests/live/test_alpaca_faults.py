"""The loop on Alpaca (the loopback stand-in) while a third of all calls fail.

The real alpaca-py client talks to the stand-in, which plays the stored bars (daily, or
SYNTHETIC 15-minute bars, a step at each bar close) through its books and injects 500s, 503s, 429s and dropped connections (some after the order was
taken) into one request in three. The replay must finish with every decision placed once
(the stand-in does not even refuse a repeated client order id here, so nothing but the
loop's own care prevents a second order) and every fault on record as an event.
"""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from engine.brokers.alpaca import RetryPolicy
from engine.live.runner import run_replay
from engine.live.setup import open_loop
from engine.store import read_events
from tests.live.alpaca_replay import closed_bar
from tests.live.conftest import INTRADAY_15M, allow_replay, approve, approve_donchian
from tests.standins.alpaca import API_KEY, SECRET_KEY

pytestmark = pytest.mark.slow  # real processes or long replays: run early (tests/conftest.py)

#: By bar size: (store fixture, first and last session). Daily: two months of the sample;
#: 15-minute: the Wednesday before Thanksgiving and the early close after it (40 bar closes).
REPLAYS = {"1d": ("sample_store", "2012-02-01", "2012-03-30"),
           "15m": ("intraday_15m_store", "2013-11-27", "2013-11-29")}  # fmt: skip
FAST_RETRY = RetryPolicy(max_attempts=6, backoff=0.001, max_backoff=0.01, max_retry_after=0.01)


class StandInMarket:
    """Moves the stand-in's market to each replayed bar (its open, range and close)."""

    def __init__(self, server):
        self.server = server
        server.auto_fill = False  # orders wait for the next bar, as they would overnight

    def advance(self, day, bars) -> None:
        self.server.trade_bar(closed_bar(bars)[1])


@pytest.fixture(params=list(REPLAYS))
def faulted(request):
    """(the store, an approved Donchian config of the fixture's bar size, first and last
    session): a replay to run through faults."""
    fixture, start, end = REPLAYS[request.param]
    store = request.getfixturevalue(fixture)
    if request.param == "1d":
        config = approve_donchian(store, fees=0, slippage=0)
    else:
        config = approve(
            store, "donchian_breakout", {"entry_window": 6, "exit_window": 3, "atr_window": 6},
            INTRADAY_15M["symbols"], bar_size=request.param, stop="strategy", size="risk",
            trailing_stop=True, max_positions=3, fees=0, slippage=0,
        )  # fmt: skip
    allow_replay(store)
    return store, config, start, end


def test_a_replay_through_faults_places_each_order_once_and_records_every_fault(
    faulted, alpaca_standin
):
    store, config, start, end = faulted
    server = alpaca_standin
    server.unique_client_order_ids = False  # only the loop's care can prevent a duplicate
    opened = open_loop(
        store,
        mode="replay",
        config_ids=[config.config_id],
        broker="alpaca",
        start=start,
        end=end,
        market=StandInMarket(server),
        alpaca_options={
            "api_key": API_KEY,
            "secret_key": SECRET_KEY,
            "url_override": server.url,
            "timeout": 0.5,
            "retry": FAST_RETRY,
        },
    )
    clock = opened.clock
    server.now = lambda: clock.now().replace(tzinfo=UTC)
    server.faults.add(
        ["500", "503", "429", "drop", "drop_after_accept"], count=None, probability=1 / 3
    )

    reports = run_replay(opened.loop, opened.days, sleep=lambda seconds: None)

    assert [r.bar for r in reports] == opened.days  # the replay completed
    placed = server.client_order_ids()
    assert len(placed) > 10, "the replay should trade"
    assert max(placed.values()) == 1, [cid for cid, n in placed.items() if n > 1]
    injected = len(server.faults.injected)
    assert injected > 30
    on_orders = [f for f in server.faults.injected if (f.method, f.path) == ("POST", "/v2/orders")]
    assert any(f.kind == "drop_after_accept" for f in on_orders)  # taken, answer lost
    # Each fault is one failed call, and each is on record.
    recorded = read_events(store, kinds=["broker.fault"], limit=100_000)
    assert len(recorded) == injected
    assert all("what" in json.loads(p) for p in recorded["payload"])
    # What the loop believes it holds is what Alpaca holds.
    held = {p.symbol: p.qty for p in opened.loop.broker.positions()}
    recorded_positions = store.query(
        "SELECT symbol, qty FROM live_positions WHERE book = 'alpaca:paper'"
    )
    assert dict(zip(recorded_positions["symbol"], recorded_positions["qty"], strict=True)) == (
        pytest.approx(held)
    )
