"""Wash sales: 30 calendar days either side of a loss-making sale, across month and year ends."""

from __future__ import annotations

import pytest

from engine.risk import RealisedSale
from tests.risk.helpers import account, buy, decide, held, market, ny, sell


def after_sale(sold_at: str, pnl: float = -500.0, symbol: str = "AAPL"):
    return account(realised_sales=(RealisedSale(symbol, ny(sold_at), 100, pnl),))


@pytest.mark.parametrize(
    "sold_at, bought_at, days",
    [
        pytest.param("2024-01-31 15:00", "2024-03-01 10:00", 30, id="leap-february-day-30"),
        pytest.param("2023-01-31 15:00", "2023-03-02 10:00", 30, id="february-day-30"),
        pytest.param("2023-11-30 15:00", "2023-12-29 10:00", 29, id="november-end"),
        pytest.param("2023-12-15 15:00", "2024-01-12 10:00", 28, id="year-end"),
        pytest.param("2024-03-06 10:00", "2024-03-06 14:00", 0, id="same-day"),
    ],
)
def test_a_buy_within_30_days_after_a_loss_is_flagged(sold_at, bought_at, days):
    decision = decide(buy(), after_sale(sold_at), now=bought_at)
    assert decision.approved and decision.flags == ("wash_sale",)
    sale_day, buy_day = sold_at[:10], bought_at[:10]
    assert (
        f"buy 100 AAPL on {buy_day} is {days} days after AAPL was sold at a loss of $500.00 "
        f"on {sale_day}: a wash sale" in decision.reason
    )


@pytest.mark.parametrize(
    "sold_at, bought_at",
    [
        pytest.param("2024-01-31 15:00", "2024-03-04 10:00", id="leap-year-33-days"),
        pytest.param("2023-01-31 15:00", "2023-03-03 10:00", id="day-31"),
    ],
)
def test_a_buy_more_than_30_days_after_is_clean(sold_at, bought_at):
    decision = decide(buy(), after_sale(sold_at), now=bought_at)
    assert decision.approved and decision.flags == ()


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(after_sale("2024-03-01 15:00", pnl=250.0), id="profitable-sale"),
        pytest.param(after_sale("2024-03-01 15:00", symbol="MSFT"), id="other-symbol"),
    ],
)
def test_only_a_loss_on_the_same_symbol_counts(state):
    assert decide(buy(), state).flags == ()


def test_block_policy_refuses_the_buy():
    decision = decide(buy(), after_sale("2024-03-01 15:00"), wash_sale_policy="block")
    assert not decision.approved and decision.rule == "wash_sale"
    assert decision.reason.endswith("refused (wash_sale_policy is block)")


def _bought_twice(last_buy: str):
    position = held(
        "AAPL", 200, avg_price=110.0, opened="2024-01-02 10:00", last_buy_at=ny(last_buy)
    )
    return account(positions={"AAPL": position}, market=market("AAPL", price=100.0))


def test_a_loss_sale_that_leaves_recently_bought_shares_is_flagged_never_blocked():
    state = _bought_twice("2024-02-20 10:00")
    decision = decide(sell(qty=100), state, wash_sale_policy="block")
    assert decision.approved and decision.flags == ("wash_sale",)
    assert (
        "sell 100 AAPL at about $100.00 realises a loss of about $1,000.00 while AAPL shares "
        "bought on 2024-02-20 (15 days before) stay held: a possible wash sale" in decision.reason
    )


@pytest.mark.parametrize(
    "qty, last_buy",
    [
        pytest.param(200, "2024-02-20 10:00", id="whole-position-sold"),
        pytest.param(100, "2024-02-01 10:00", id="last-buy-34-days-before"),
    ],
)
def test_a_loss_sale_without_replacement_shares_is_clean(qty, last_buy):
    assert decide(sell(qty=qty), _bought_twice(last_buy)).flags == ()
