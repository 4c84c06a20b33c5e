"""`wb positions`, `wb orders` and `wb fills`: the book from the shell, as the control room shows it."""

from __future__ import annotations

import json

import pytest

from engine.live.runner import run_replay
from tests.live.conftest import open_replay
from tests.live.test_cli import wb


@pytest.fixture
def replayed(replay_store):
    """The Donchian config replayed over February and March 2012 through the paper broker."""
    opened = open_replay(replay_store, start="2012-02-01", end="2012-03-30")
    run_replay(opened.loop, opened.days, sleep=lambda seconds: None)
    return replay_store, opened.loop


def test_wb_positions_shows_what_the_broker_holds_in_dollars_at_traded_prices(
    replayed, data_dir, capsys
):
    store, loop = replayed
    at_broker = {p.symbol: p.qty for p in loop.broker.positions() if p.qty}
    assert at_broker, "the replay should end holding something"

    code, out, _ = wb(data_dir, "positions", "--json", capsys=capsys)
    shown = json.loads(out)
    assert code == 0 and shown["book"] == loop.book and shown["prices"] == "traded"
    assert {p["symbol"]: p["qty"] for p in shown["positions"]} == at_broker
    held = shown["positions"][0]
    assert held["value"] == pytest.approx(held["qty"] * held["price"])
    assert held["unrealised_pnl"] == pytest.approx(
        held["qty"] * (held["price"] - held["avg_price"])
    )

    code, out, _ = wb(data_dir, "positions", capsys=capsys)
    lines = out.splitlines()
    assert code == 0 and loop.book in lines[0] and "prices as traded, US$" in lines[0]
    assert "equity $" in lines[0]
    assert lines[1].split()[:4] == ["symbol", "qty", "avg", "cost"]
    for symbol, qty in at_broker.items():
        row = next(line for line in lines[2:] if line.startswith(symbol + " "))
        assert f"{qty:,.0f}" in row and "$" in row


def test_wb_orders_and_fills_list_the_books_own_records_and_refuse_an_unknown_book(
    replayed, data_dir, capsys
):
    store, loop = replayed
    sent = {o.client_order_id for o in loop.broker.orders("all")}
    filled = loop.broker.fills()

    code, out, _ = wb(data_dir, "orders", "--limit", "10000", "--json", capsys=capsys)
    shown = json.loads(out)["orders"]
    assert code == 0 and {o["client_order_id"] for o in shown} == sent
    code, out, _ = wb(data_dir, "orders", "--status", "filled", "--json", capsys=capsys)
    assert {o["status"] for o in json.loads(out)["orders"]} == {"filled"}

    code, out, _ = wb(data_dir, "fills", "--limit", "10000", "--json", capsys=capsys)
    shown = json.loads(out)["fills"]
    assert code == 0 and len(shown) == len(filled) > 0
    assert sorted(f["price"] for f in shown) == pytest.approx(sorted(f.price for f in filled))
    assert all(f["decision_price"] > 0 for f in shown)

    symbol = filled[0].symbol
    code, out, _ = wb(data_dir, "fills", "--symbols", symbol.lower(), capsys=capsys)
    lines = out.splitlines()
    mine = [f for f in filled if f.symbol == symbol]
    assert code == 0 and f"{len(mine)} fills" in lines[0] and "prices as traded, US$" in lines[0]
    assert len(lines) == 2 + len(mine) and all(line.split()[2] == symbol for line in lines[2:])
    assert all("$" in line for line in lines[2:])

    # An unknown book: one line naming the books there are, for each of the three views.
    for command in ("positions", "orders", "fills"):
        code, out, err = wb(data_dir, command, "--book", "alpaca:live", capsys=capsys)
        assert code == 2 and out == ""
        assert err.splitlines() == [
            "error: no book 'alpaca:live' in this data dir",
            f"  what to do: books: {loop.book}",
        ]


def test_bad_options_and_an_empty_data_dir(store, data_dir, capsys):
    code, out, _ = wb(data_dir, "positions", capsys=capsys)
    assert code == 0 and out.strip() == "no book has traded in this data dir yet"
    code, _, err = wb(data_dir, "fills", "--limit", "0", capsys=capsys)
    assert code == 2 and "--limit" in err
    code, _, err = wb(data_dir, "orders", "--since", "01/02/2012", capsys=capsys)
    assert code == 2 and "--since" in err
    code, _, err = wb(data_dir, "orders", "--status", "done", capsys=capsys)
    assert code == 2 and "--status" in err
