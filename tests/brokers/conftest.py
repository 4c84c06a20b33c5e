"""Both brokers behind one harness, so the contract tests run unchanged against each."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.brokers import PaperBroker
from engine.brokers.alpaca import AlpacaBroker, RetryPolicy
from engine.data import calendar
from tests.standins.alpaca import API_KEY, SECRET_KEY, AlpacaStandIn, alpaca_standin  # noqa: F401

STARTING_CASH = 100_000.0
#: Quick retries for tests: the policy's shape is the production one, only scaled down.
FAST_RETRY = RetryPolicy(max_attempts=6, backoff=0.002, max_backoff=0.02, max_retry_after=0.05)


def alpaca_broker(server: AlpacaStandIn, **options) -> AlpacaBroker:
    """An AlpacaBroker on the real alpaca-py client, pointed at ``server``."""
    options.setdefault("timeout", 0.5)
    options.setdefault("retry", FAST_RETRY)
    return AlpacaBroker(api_key=API_KEY, secret_key=SECRET_KEY, url_override=server.url, **options)


class PaperMarket:
    """The paper broker on a fresh store; each bar is one price per symbol (O = H = L = C)."""

    name = "paper"

    def __init__(self, store):
        self.broker = PaperBroker(store, cash=STARTING_CASH)
        self.day = pd.Timestamp("2024-01-02")

    def open_bar(self, prices: dict[str, float]) -> None:
        """The next session opens at ``prices``: waiting orders fill as the broker rules."""
        frame = pd.DataFrame({f: prices for f in ("open", "high", "low", "close")})
        self.broker.process_bar(self.day, frame)
        self.day = calendar.next_session(self.day)


class AlpacaMarket:
    """AlpacaBroker on the stand-in, which keeps orders open until the next price comes."""

    name = "alpaca"

    def __init__(self, server: AlpacaStandIn):
        server.reset(cash=STARTING_CASH)
        server.auto_fill = False
        server.cancel_reads = 3  # a cancel is done only after a few reads of the order
        self.server = server
        self.broker = alpaca_broker(server)

    def open_bar(self, prices: dict[str, float]) -> None:
        self.server.fill_open_orders(prices)


@pytest.fixture(params=["paper", "alpaca"])
def market(request):
    """The broker under test and a way to move its market, once per broker."""
    if request.param == "paper":
        return PaperMarket(request.getfixturevalue("store"))
    return AlpacaMarket(request.getfixturevalue("alpaca_standin"))
