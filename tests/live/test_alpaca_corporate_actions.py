"""Reconciliation with Alpaca (the stand-in, through the real alpaca-py client) across a
recorded split and a dividend: explained, taken into the book once, and the loop carries on.
"""

from __future__ import annotations

import json
from datetime import UTC, date

import pytest

from engine.brokers.base import to_tick
from engine.errors import OperatorError
from engine.live import ledger
from engine.store import read_events
from engine.store.events import utcnow
from tests.live.conftest import open_replay
from tests.live.test_alpaca_rules import (  # noqa: F401 - the fixture
    END,
    START,
    SplitAdjusted,
    WatchedMarket,
    alpaca_options,
    on_alpaca,
    resting_stop,
    step_until_holding,
)


def _record(store, kind: str, symbol: str, day: date, value: float) -> None:
    """A split or dividend record in the data layer, as ingest or a CSV import keeps it."""
    with store.connect() as con:
        if kind == "split":
            con.execute(
                "INSERT INTO splits VALUES (?, ?, ?, 'test', ?)", [symbol, day, value, utcnow()]
            )
        else:
            con.execute(
                "INSERT OR REPLACE INTO dividends VALUES (?, ?, ?, NULL, 'test', ?)",
                [symbol, day, value, utcnow()],
            )


def _taken(store, symbol):
    return [
        json.loads(p)
        for p in read_events(store, kinds=["corporate_action.taken"], subject=symbol)["payload"]
    ]


def test_a_recorded_4_for_1_split_is_taken_in_once_and_the_loop_carries_on(on_alpaca):  # noqa: F811 (the fixture)
    opened, market, server = on_alpaca
    loop, days = opened.loop, iter(opened.days)
    symbol, _ = step_until_holding(loop, days)
    old = resting_stop(server, symbol)
    held = server.positions[symbol]["qty"]
    before = ledger.read_records(loop.store, loop.book, [], loop.clock.now()).positions[symbol]

    day = next(days)
    _record(loop.store, "split", symbol, day, 4.0)
    server.split(symbol, 4)  # Alpaca reports the split-adjusted position
    loop.feed = SplitAdjusted(loop.feed, symbol, 4)
    loop.step(day)  # no OperatorError
    loop.step(next(days))  # and the next step takes nothing in again

    (taken,) = _taken(loop.store, symbol)
    assert (taken["kind"], taken["ratio"], taken["qty_before"], taken["qty_after"]) == (
        "split",
        4.0,
        held,
        held * 4,
    )
    recorded = loop.store.query(
        "SELECT kind, qty_after FROM live_adjustments WHERE book = ?", [loop.book]
    )
    assert recorded.values.tolist() == [["split", held * 4]]
    after = ledger.read_records(loop.store, loop.book, [], loop.clock.now()).positions.get(symbol)
    if after is not None:  # (unless the adjusted stop was hit)
        assert after.qty == held * 4
        assert after.avg_price == pytest.approx(before.avg_price / 4)
        stop = resting_stop(server, symbol)
        assert float(stop["qty"]) == held * 4
        assert float(stop["stop_price"]) >= to_tick(float(old["stop_price"]) / 4, 0.01)
    explained = read_events(loop.store, kinds=["reconcile.adopted"], subject=symbol)["payload"]
    assert any(
        "recorded" in json.loads(p)["why"] and "4-for-1" in json.loads(p)["why"] for p in explained
    )


def _restart(store, server, day):
    market = WatchedMarket(server)
    opened = open_replay(
        store, START, END, broker="alpaca", market=market, alpaca_options=alpaca_options(server)
    )
    server.now = lambda: opened.clock.now().replace(tzinfo=UTC)
    return opened.loop.start(day)


def test_a_dividend_alpaca_pays_while_the_loop_is_down_is_explained_at_start_up(on_alpaca):  # noqa: F811 (the fixture)
    opened, market, server = on_alpaca
    loop, days = opened.loop, iter(opened.days)
    symbol, _ = step_until_holding(loop, days)
    held = server.positions[symbol]["qty"]
    day = next(days)
    _record(loop.store, "dividend", symbol, day, 0.75)
    loop.step(day)  # ex-date: the loop takes it in; Alpaca pays later
    (taken,) = [t for t in _taken(loop.store, symbol) if t["ex_date"] == day.isoformat()]
    assert taken["cash"] == pytest.approx(held * 0.75)
    loop.stop("down for the night")

    server.pay_dividend(symbol, 0.75)  # the pay date, while no loop runs
    found = _restart(loop.store, server, next(days))  # no OperatorError
    cash = [d for d in found if d.kind == "cash"]
    assert len(cash) == 1 and cash[0].explained and f"{symbol} dividend 0.75/share" in cash[0].why


def test_cash_no_dividend_explains_still_stops_the_loop(on_alpaca):  # noqa: F811 (the fixture)
    opened, market, server = on_alpaca
    loop, days = opened.loop, iter(opened.days)
    step_until_holding(loop, days)
    loop.stop("down for the night")
    server.cash += 123.45  # a deposit nobody recorded
    with pytest.raises(OperatorError, match=r"\+123\.45"):
        _restart(loop.store, server, next(days))
