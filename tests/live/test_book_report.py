"""The daily book: the report agrees with the broker, any broker, and says plainly when nothing has traded."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from engine.brokers.base import OrderRequest
from engine.brokers.paper import PaperBroker
from engine.data import load_bars
from engine.data.sample import sample_rows
from engine.live.book_report import daily_book
from engine.live.records import LivePosition
from engine.research.config_registry import save_proposal
from engine.store.events import utcnow
from tests.config.factories import make_config
from tests.live.recorded import filled_order, record_step

SLIPPAGE = 0.001


@pytest.fixture
def traded(sample_store):
    """A paper account that bought AAPL for a config, its protective stop attached to the buy,
    and GE by hand, then sold some GE."""
    config = make_config()
    save_proposal(sample_store, config, None, "ana")
    bars = load_bars(sample_store, ["AAPL", "GE"], "2013-01-01", "2013-01-31", adjust=False)
    broker = PaperBroker(sample_store, cash=100_000, slippage=SLIPPAGE, fees=0.0005)
    days = bars.index
    broker.process_bar(days[0], bars)
    broker.submit(
        OrderRequest(
            symbol="AAPL",
            side="buy",
            qty=10,
            client_order_id=f"{config.config_id}-AAPL-buy-1",
            stop_loss_price=400.0,  # its protective stop, placed as the buy fills
        )
    )
    broker.submit(OrderRequest(symbol="GE", side="buy", qty=100, client_order_id="manual-1"))
    broker.process_bar(days[1], bars)
    broker.process_bar(days[2], bars)
    broker.submit(OrderRequest(symbol="GE", side="sell", qty=40, client_order_id="manual-2"))
    broker.process_bar(days[3], bars)
    return sample_store, broker, config, days


def test_an_untraded_store_reports_no_trading_yet(store):
    book = daily_book(store)

    assert not book.traded and book.equity is None and book.day_pnl is None
    assert (
        book.headline()
        == "No trading yet: no book has traded in this data dir, so there is nothing to report."
    )
    assert book.positions.empty and book.fills.empty and book.pnl_by_strategy().empty


def test_the_book_agrees_with_the_paper_broker(traded):
    store, broker, config, days = traded

    book = daily_book(store)

    assert book.day == days[3].date()
    assert book.equity == pytest.approx(broker.account().equity)
    held = {p.symbol: p.qty for p in broker.positions()}
    assert dict(zip(book.positions["symbol"], book.positions["qty"], strict=True)) == held
    # every dollar of the day's P&L is attributed to a symbol and a strategy
    assert book.pnl_by_symbol["pnl"].sum() == pytest.approx(book.day_pnl)
    assert book.pnl_by_strategy()["pnl"].sum() == pytest.approx(book.day_pnl)
    assert dict(zip(book.positions["symbol"], book.positions["strategy"], strict=True)) == {
        "AAPL": f"sma_crossover {config.config_id}",
        "GE": "manual",
    }


def test_fills_are_measured_against_the_close_they_were_decided_on(traded):
    store, _, _, days = traded

    book = daily_book(store, days[3].date())

    [fill] = book.fills.to_dict("records")
    decided_close = sample_rows(["GE"], days[2], days[2])["close"].iloc[0]
    assert (fill["symbol"], fill["side"], fill["qty"]) == ("GE", "sell", 40)
    assert fill["expected_price"] == pytest.approx(decided_close)
    # a sell below the decision price cost money: positive slippage
    assert fill["slippage_cost"] == pytest.approx((decided_close - fill["price"]) * 40)
    assert fill["slippage_bps"] == pytest.approx((1 - fill["price"] / decided_close) * 1e4)


def test_a_past_day_and_a_closed_day(traded):
    store, _, _, days = traded

    first = daily_book(store, days[1].date())
    weekend = daily_book(store, "2013-01-05")  # a Saturday

    assert first.day == days[1].date() and len(first.fills) == 2
    assert first.day_pnl == pytest.approx(first.equity - 100_000)
    assert weekend.day == pd.Timestamp("2013-01-04").date()
    assert "2013-01-05 was not a trading day" in weekend.notes[0]


def test_risk_usage_and_stops(traded):
    store, _, _, _ = traded
    store.execute(
        "INSERT INTO trading_state VALUES ('risk_limits', ?, now()::TIMESTAMP, 'ana')",
        [json.dumps({"max_positions": 2})],
    )

    book = daily_book(store)

    usage = book.risk_usage.set_index("limit")
    assert usage.loc["open positions", "used"] == 1.0  # 2 of 2
    aapl = book.positions.set_index("symbol").loc["AAPL"]
    assert aapl["stop_price"] == 400.0
    assert aapl["risk_to_stop"] == pytest.approx((aapl["price"] - 400.0) * 10)
    assert usage.loc["largest position", "in_use"] == f"{book.positions['weight'].max():.1%}"


def test_the_report_is_of_the_book_traded_last_whatever_its_broker(traded):
    store, _, _, days = traded
    day = days[3].date()
    held = LivePosition(symbol="AAPL", config_id=None, qty=10, avg_price=500.0,
                        opened_at=utcnow(), last_buy_at=utcnow())  # fmt: skip
    record_step(store, day, [filled_order("a-1", "buy", 10, 500.0, day)], [held])

    book = daily_book(store)

    assert book.book == "alpaca:paper" and book.day == day
    assert dict(zip(book.positions["symbol"], book.positions["qty"], strict=True)) == {"AAPL": 10}
    close = sample_rows(["AAPL"], days[3], days[3])["close"].iloc[0]
    assert book.starting_cash == pytest.approx(90_000 + 5_000)  # its cash before the buy
    assert book.equity == pytest.approx(90_000 + 10 * close)
    assert book.headline().endswith("book 'alpaca:paper'")
    # The paper account's own book is still there to report.
    assert daily_book(store, account="paper").book == "paper:paper"
