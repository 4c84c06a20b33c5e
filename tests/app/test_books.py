"""Which book the control room shows, and that it shows that book's own orders, fills and day trades.

A data dir holds several books over time (``paper:<account>``, ``alpaca:paper``, ...): the
paper demo, then trading through Alpaca; a replay of old bars after the demo's newer ones.
The control room shows the book the trader picks, else the running loop's, else the one
traded last by the wall clock, never a mix, and never the one with the newest bars.
"""

from __future__ import annotations

from datetime import UTC, date

import pandas as pd
import pytest

from app import facade
from engine.brokers import OrderRequest, PaperBroker
from engine.data.repository import load_bars
from engine.errors import NotFoundError
from engine.live.records import LivePosition
from engine.live.runner import run_replay
from engine.live.setup import open_loop
from engine.store.events import utcnow
from tests.live.conftest import allow_replay, approve
from tests.live.recorded import filled_order, record_step
from tests.live.test_alpaca_faults import StandInMarket
from tests.live.test_cli import wb
from tests.standins.alpaca import API_KEY, SECRET_KEY, alpaca_standin  # noqa: F401

pytestmark = pytest.mark.slow  # real processes or long replays: run early (tests/conftest.py)


@pytest.fixture
def approved(sample_store):
    """The sample bars, a Donchian config approved, and risk limits a replay trades under."""
    config = approve(
        sample_store, "donchian_breakout", {"entry_window": 5, "exit_window": 3, "atr_window": 5},
        ["AAPL", "BA", "CAT", "GE"], stop="strategy", size="risk", max_positions=3,
        trailing_stop=True, fees=0, slippage=0,
    )  # fmt: skip
    allow_replay(sample_store)
    return sample_store, config


def _replay(store, config, start, end, **options):
    opened = open_loop(store, mode="replay", config_ids=[config.config_id], start=start, end=end,
                       **options)  # fmt: skip
    if "market" in options:
        server = options["market"].server
        server.now = lambda: opened.clock.now().replace(tzinfo=UTC)
    run_replay(opened.loop, opened.days, sleep=lambda seconds: None)
    return opened.loop


@pytest.fixture
def demo_then_alpaca(approved, alpaca_standin):  # noqa: F811
    """The paper demo replayed over May 2013, then a replay through Alpaca over early 2012."""
    store, config = approved
    demo = _replay(store, config, "2013-05-01", "2013-05-31", broker="paper", account="demo")
    alpaca = _replay(
        store, config, "2012-02-01", "2012-03-30", broker="alpaca",
        market=StandInMarket(alpaca_standin),
        alpaca_options={"api_key": API_KEY, "secret_key": SECRET_KEY,
                        "url_override": alpaca_standin.url},
    )  # fmt: skip
    return store, demo, alpaca


def test_after_the_paper_demo_the_control_room_shows_the_alpaca_book(demo_then_alpaca):
    store, demo, alpaca = demo_then_alpaca
    assert (demo.book, alpaca.book) == ("paper:demo", "alpaca:paper")

    held = facade.book(store)
    at_alpaca = {p.symbol: p.qty for p in alpaca.broker.positions()}
    assert at_alpaca, "the Alpaca replay should end holding something"
    assert dict(zip(held.positions["symbol"], held.positions["qty"], strict=True)) == at_alpaca
    assert "alpaca:paper" in held.source and held.as_of == date(2012, 3, 30)

    shown = facade.orders_and_fills(store)
    sent = {o.client_order_id for o in alpaca.broker.orders("all")}
    # Orders the broker saw, and those the risk gate denied before it (with their reasons).
    at_broker = shown.orders[shown.orders["status"] != "denied"]
    assert len(at_broker) and set(at_broker["client_order_id"]) <= sent
    denied = shown.orders[shown.orders["status"] == "denied"]
    assert (denied["reason"].str.len() > 2).all()
    assert len(shown.fills) and set(shown.fills["client_order_id"]) <= sent
    curve = facade.equity_curve(store)
    assert pd.Timestamp(curve["bar_date"].max()).date() == date(2012, 3, 30)

    # The demo's book is still there for whoever asks for it.
    assert facade.book(store, book="paper:demo").as_of == date(2013, 5, 31)
    demo_orders = set(facade.orders_and_fills(store, book="paper:demo").orders["client_order_id"])
    assert demo_orders and demo_orders.isdisjoint(sent)
    assert [b.name for b in facade.books(store)] == ["alpaca:paper", "paper:demo"]


def test_a_replay_of_older_bars_is_shown_over_the_demo_with_newer_bars(approved):
    store, config = approved
    _replay(store, config, "2013-06-03", "2013-06-28", account="demo")
    older = _replay(store, config, "2012-02-01", "2012-02-29")

    held = facade.book(store)
    assert held.as_of == date(2012, 2, 29) and older.book in held.source
    curve = facade.equity_curve(store)
    assert pd.Timestamp(curve["bar_date"].max()).date() == date(2012, 2, 29)
    assert facade.book(store, book="paper:demo").as_of == date(2013, 6, 28)


def test_a_book_nobody_traded_is_refused_with_the_books_there_are(store):
    PaperBroker(store, account="demo")
    with pytest.raises(NotFoundError, match="no book 'alpaca:live'") as caught:
        facade.book(store, book="alpaca:live")
    assert caught.value.hint == "books: paper:demo"


# -- day trades and the book marker ----------------------------------------------------------


def _paper_day_trade(store):
    """Paper account 'demo' bought GE, then bought and sold GE in one session (a day trade)."""
    bars = load_bars(store, ["GE"], "2013-01-02", "2013-01-10", adjust=False)
    days = bars.index
    broker = PaperBroker(store, account="demo", cash=100_000)
    broker.process_bar(days[0], bars)
    broker.submit(OrderRequest(symbol="GE", side="buy", qty=100, client_order_id="d-1"))
    broker.process_bar(days[1], bars)
    broker.submit(OrderRequest(symbol="GE", side="buy", qty=50, client_order_id="d-2"))
    broker.submit(OrderRequest(symbol="GE", side="sell", qty=100, client_order_id="d-3"))
    broker.process_bar(days[2], bars)
    return broker, bars


def test_day_trades_and_the_book_marker_count_the_shown_books_fills(sample_store):
    broker, bars = _paper_day_trade(sample_store)
    day = bars.index[2].date()
    held = LivePosition(symbol="AAPL", config_id=None, qty=10, avg_price=500.0,
                        opened_at=utcnow(), last_buy_at=utcnow())  # fmt: skip
    record_step(sample_store, day, [filled_order("a-1", "buy", 10, 500.0, day)], [held])

    assert facade.risk(sample_store).day_trades == 0  # the paper day trade is not this book's
    assert facade.risk(sample_store, book="paper:demo").day_trades == 1
    marker = facade.book_marker(sample_store)
    broker.submit(OrderRequest(symbol="GE", side="sell", qty=50, client_order_id="d-4"))
    broker.process_bar(bars.index[3], bars)
    assert facade.book_marker(sample_store) == marker  # a paper fill changes nothing shown

    # The next step records a sale the same session as the buy: a day trade in this book.
    record_step(
        sample_store, bars.index[3].date(), [filled_order("a-2", "sell", 5, 505.0, day)], [held]
    )
    assert facade.book_marker(sample_store) != marker
    assert facade.risk(sample_store).day_trades == 1


def test_wb_books_lists_the_books_and_shows_the_one_the_control_room_shows(
    sample_store, data_dir, capsys
):
    _paper_day_trade(sample_store)
    day = date(2013, 1, 4)
    held = LivePosition(symbol="AAPL", config_id=None, qty=10, avg_price=500.0,
                        opened_at=utcnow(), last_buy_at=utcnow())  # fmt: skip
    record_step(sample_store, day, [filled_order("a-1", "buy", 10, 500.0, day)], [held])

    code, out, _ = wb(data_dir, "books", capsys=capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("* alpaca:paper") and lines[1].startswith("  paper:demo")
    assert "equity 100,000.00, cash 90,000.00" in out and "AAPL" in out
    code, out, _ = wb(data_dir, "books", "--book", "paper:demo", capsys=capsys)
    assert out.splitlines()[1].startswith("* paper:demo") and "GE" in out
    code, _, err = wb(data_dir, "books", "--book", "alpaca:live", capsys=capsys)
    assert code == 2 and "no book 'alpaca:live'" in err and "paper:demo" in err
