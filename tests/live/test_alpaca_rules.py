"""The loop on Alpaca as it really behaves: the stand-in holds Alpaca's documented rules
(tests/standins/alpaca_rules.py) and the loop must trade correctly under them.

Each test replays the sample bars through the real alpaca-py client against the stand-in,
which fills the bars' prices, expires DAY orders at each close, keeps a cancel pending
until the order is read back, values market buys above the last price and refuses what
Alpaca refuses.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

import pytest

from engine.brokers.base import to_tick
from engine.live.clock import MarketClock
from engine.live.commands import (
    ClosePosition,
    ManualOrder,
    SetRiskLimits,
    TightenStop,
    submit_command,
)
from engine.live.feed import traded_window
from engine.live.setup import open_loop
from engine.store import read_events
from tests.live.conftest import REPLAY_LIMITS, allow_replay, approve, open_replay
from tests.live.test_alpaca_faults import FAST_RETRY, StandInMarket
from tests.standins.alpaca import API_KEY, SECRET_KEY
from tests.standins.alpaca_rules import WORKING

pytestmark = pytest.mark.slow  # real processes or long replays: run early (tests/conftest.py)

START, END = "2012-02-01", "2012-03-30"


class WatchedMarket(StandInMarket):
    """The stand-in's market, noting at each session's open what protects each position.

    ``opens`` holds (session, symbol, shares held, shares under working sell stops or
    under an exit selling them at this open).
    """

    def __init__(self, server):
        super().__init__(server)
        self.opens: list[tuple[date, str, float, float]] = []
        self.halted: set[str] = set()  # symbols that do not trade in the next session

    def advance(self, day, bars) -> None:
        for symbol, position in sorted(self.server.positions.items()):
            cover = self.server.stop_cover(symbol, exits=True)
            self.opens.append((day, symbol, position["qty"], cover))
        trading = [s for s in bars.symbols if s not in self.halted]
        self.halted = set()
        super().advance(day, bars.select(trading))


def alpaca_options(server) -> dict:
    return {"api_key": API_KEY, "secret_key": SECRET_KEY, "url_override": server.url,
            "retry": FAST_RETRY, "cancel_wait": 1.0}  # fmt: skip


@pytest.fixture
def on_alpaca(replay_store, alpaca_standin):
    """A replay of the Donchian config on Alpaca (the stand-in), started, not yet stepped."""
    market = WatchedMarket(alpaca_standin)
    opened = open_replay(
        replay_store, START, END, broker="alpaca", market=market,
        alpaca_options=alpaca_options(alpaca_standin),
    )  # fmt: skip
    alpaca_standin.now = lambda: opened.clock.now().replace(tzinfo=UTC)
    # The trader's market buys in these tests queue for the open.
    queue_buys = REPLAY_LIMITS.model_copy(update={"allow_outside_session": True})
    submit_command(replay_store, SetRiskLimits(limits=queue_buys.to_mapping()), actor="bob")
    opened.loop.start(opened.days[0])
    return opened, market, alpaca_standin


def step_until_holding(loop, days) -> tuple[str, date]:
    """Steps until the loop holds a position with its stop; gives the symbol and the day."""
    for day in days:
        loop.step(day)
        held = loop.store.query(
            "SELECT symbol FROM live_positions WHERE book = ? AND stop_fraction IS NOT NULL"
            " ORDER BY symbol",
            [loop.book],
        )
        if len(held):
            return held["symbol"].iloc[0], day
    raise AssertionError("the replay never held a position")


def resting_stop(server, symbol: str) -> dict:
    return next(
        o
        for o in server.orders.values()
        if o["symbol"] == symbol and o["type"] == "stop" and o["status"] in WORKING
    )


def command_result(store, command_id: int) -> tuple[str, str]:
    row = store.query("SELECT status, result FROM commands WHERE id = ?", [command_id]).iloc[0]
    return row["status"], row["result"]


class StaleOn:
    """The loop's feed, except that ``day``'s bars have not arrived."""

    def __init__(self, feed, day: date, before: date):
        self.feed, self.day, self.before = feed, day, before

    def window(self, day: date):
        return self.feed.window(self.before if day == self.day else day)

    def traded(self, day: date):
        return self.feed.traded(self.before if day == self.day else day)


# -- stops in force ----------------------------------------------------------------------


def test_every_held_position_has_its_stop_at_every_sessions_open(on_alpaca):
    opened, market, server = on_alpaca
    loop, days = opened.loop, opened.days
    down = set(days[2::3])  # the loop is down on every third session, the market trades on
    for day in days:
        if day in down:
            opened.clock.at(day)
            market.advance(day, traded_window(loop.feed, day))
        else:
            loop.step(day)

    assert len(market.opens) > 30, "the replay should hold positions"
    unprotected = [(str(d), s, held, cover) for d, s, held, cover in market.opens if cover < held]
    assert unprotected == []
    # Positions bought on a session the loop was down for were held into the next open.
    after_down = {days[i + 1] for i, d in enumerate(days[:-1]) if d in down}
    assert any(d in after_down for d, *_ in market.opens)


@pytest.mark.parametrize("how", ["canceled at the broker", "expired with its session"])
def test_a_stop_that_vanished_is_replaced_before_anything_else(on_alpaca, how):
    opened, market, server = on_alpaca
    loop, days = opened.loop, iter(opened.days)
    symbol, _ = step_until_holding(loop, days)
    stop = resting_stop(server, symbol)
    qty, level = float(stop["qty"]), float(stop["stop_price"])
    server.dispatch("DELETE", f"/v2/orders/{stop['id']}", {}, None)
    server.settle_cancels()
    if how == "expired with its session":
        # A DAY stop (what a DAY entry's attached stop is) that the next session closes on.
        server.dispatch("POST", "/v2/orders", {}, {
            "symbol": symbol, "qty": qty, "side": "sell", "type": "stop", "stop_price": level,
            "time_in_force": "day", "client_order_id": "day-stop",
        })  # fmt: skip
        down = next(days)
        opened.clock.at(down)
        market.advance(down, traded_window(loop.feed, down))
        assert server.orders[server._find_cid("day-stop")["id"]]["status"] in ("expired", "filled")
        if server.positions.get(symbol) is None:
            pytest.skip("the DAY stop filled before it expired")
    assert server.stop_cover(symbol) == 0

    day = next(days)
    loop.feed = StaleOn(loop.feed, day, before=day - timedelta(days=1))
    report = loop.step(day)

    assert report.skipped  # no bar today, no decisions: the stop is back all the same
    assert server.stop_cover(symbol) == server.positions[symbol]["qty"]
    assert float(resting_stop(server, symbol)["stop_price"]) >= level


def test_an_entry_that_did_not_fill_in_its_session_is_canceled_not_left_to_fill_later(
    on_alpaca,
):
    opened, market, server = on_alpaca
    loop, days = opened.loop, iter(opened.days)
    for day in days:
        loop.step(day)
        waiting = [
            o
            for o in server.orders.values()
            if "-buy-" in o["client_order_id"] and o["status"] in WORKING
        ]
        if waiting:
            break
    entry = waiting[0]
    assert entry["time_in_force"] == "gtc"  # so that its attached stop is GTC too
    market.halted = {entry["symbol"]}  # no trade in it for the session it was meant for

    loop.step(next(days))

    assert server.orders[entry["id"]]["status"] == "canceled"
    recorded = loop.store.query(
        "SELECT status FROM live_orders WHERE client_order_id = ?", [entry["client_order_id"]]
    )["status"]
    assert list(recorded) == ["canceled"]


# -- cancels, prices, buying power --------------------------------------------------------


def test_a_close_waits_for_the_stops_cancel_instead_of_being_refused(on_alpaca):
    opened, market, server = on_alpaca
    loop, days = opened.loop, iter(opened.days)
    symbol, _ = step_until_holding(loop, days)
    server.cancel_reads = 3  # the stop's cancel is done only on the third read

    command = submit_command(loop.store, ClosePosition(symbol=symbol), actor="bob")
    loop.step(next(days))

    status, result = command_result(loop.store, command)
    assert status == "applied", result
    assert symbol not in server.positions


def test_a_close_whose_stop_alpaca_never_finishes_canceling_is_held_back_not_refused(
    on_alpaca,
):
    opened, market, server = on_alpaca
    loop, days = opened.loop, iter(opened.days)
    symbol, _ = step_until_holding(loop, days)
    server.cancel_reads = None  # Alpaca keeps the stop pending_cancel past the wait

    command = submit_command(loop.store, ClosePosition(symbol=symbol), actor="bob")
    loop.step(next(days))

    status, result = command_result(loop.store, command)
    assert status == "denied" and "not confirmed by alpaca yet" in result
    held_back = read_events(loop.store, kinds=["order.denied"], subject=symbol)
    assert [json.loads(p)["rule"] for p in held_back["payload"]] == ["cancel_pending"]
    # Nothing was sent that Alpaca would refuse for shares the stop still holds.
    assert read_events(loop.store, kinds=["order.rejected"]).empty
    assert any(a.kind == "broker" and "held back" in a.text for a in loop.notifier.sent)


def test_every_price_the_workbench_sends_is_on_alpacas_tick(on_alpaca):
    opened, market, server = on_alpaca
    loop, days = opened.loop, iter(opened.days)
    symbol, _ = step_until_holding(loop, days)
    level = float(resting_stop(server, symbol)["stop_price"])
    tighten = submit_command(
        loop.store, TightenStop(symbol=symbol, stop_price=level + 0.237), actor="bob"
    )
    other = next(s for s in ("GE", "BA", "CAT", "AAPL") if s not in server.positions)
    buy = submit_command(
        loop.store,
        ManualOrder(symbol=other, side="buy", qty=1, order_type="limit", limit_price=5.005),
        actor="bob",
    )
    loop.step(next(days))

    assert [command_result(loop.store, c)[0] for c in (tighten, buy)] == ["applied", "applied"]
    assert float(resting_stop(server, symbol)["stop_price"]) >= round(level + 0.23, 2)
    limit = next(o for o in server.orders.values() if o["client_order_id"].startswith(f"cmd{buy}"))
    assert limit["limit_price"] == "5"  # 5.005 rounded down for a buy
    kept = loop.store.query(
        "SELECT manual_stop FROM live_positions WHERE symbol = ? AND book = ?", [symbol, loop.book]
    )["manual_stop"].iloc[0]
    assert kept == round(level + 0.23, 2)  # what was sent, not what was typed


def test_market_buys_leave_alpacas_margin_above_the_last_price(sample_store, alpaca_standin):
    # Each entry buys 98% of equity: the gate's 2% cash buffer lets it through, but Alpaca
    # values a market buy of a stock under $50 at 4% above its last price.
    config = approve(
        sample_store, "donchian_breakout", {"entry_window": 5, "exit_window": 3, "atr_window": 5},
        ["GE"], stop="strategy", size="fraction", fraction=0.98, fees=0, slippage=0,
        max_positions=1,
    )  # fmt: skip
    allow_replay(sample_store)
    opened = open_loop(
        sample_store, mode="replay", config_ids=[config.config_id], broker="alpaca",
        start=START, end=END, market=StandInMarket(alpaca_standin),
        alpaca_options=alpaca_options(alpaca_standin),
    )  # fmt: skip
    alpaca_standin.now = lambda: opened.clock.now().replace(tzinfo=UTC)
    opened.loop.start(opened.days[0])
    for day in opened.days:
        opened.loop.step(day)

    refused = read_events(sample_store, kinds=["order.rejected"])
    assert refused.empty, list(refused["payload"])
    bought = [o for o in alpaca_standin.orders.values() if o["side"] == "buy"]
    assert bought and all(o["status"] == "filled" for o in bought)
    # Each entry spent nearly all the cash, leaving room for Alpaca's valuation.
    first = bought[0]
    spent = float(first["filled_qty"]) * float(first["filled_avg_price"])
    assert spent > 0.95 * 100_000


# -- refusals recorded as what they are ---------------------------------------------------


@pytest.mark.parametrize(
    "fault, words",
    [
        (None, "potential wash trade detected. use complex orders (HTTP 403, code 40310000)"),
        ({"kind": "403", "message": "insufficient buying power"},
         "insufficient buying power (HTTP 403, code 40310000)"),
        ({"kind": "422", "message": "qty must be > 0", "code": 42210000},
         "qty must be > 0 (HTTP 422, code 42210000)"),
    ],
)  # fmt: skip
def test_alpacas_refusals_are_recorded_with_their_reason_and_code(on_alpaca, fault, words):
    opened, market, server = on_alpaca
    loop, days = opened.loop, iter(opened.days)
    symbol, _ = step_until_holding(loop, days)
    if fault is not None:
        kind = fault.pop("kind")
        server.faults.add(kind, method="POST", path="/v2/orders", **fault)
    # A market buy of a stock whose stop rests: it could trade against that stop.
    command = submit_command(loop.store, ManualOrder(symbol=symbol, side="buy", qty=1), actor="bob")
    loop.step(next(days))

    status, result = command_result(loop.store, command)
    assert status == "denied" and words in result
    rejected = read_events(loop.store, kinds=["order.rejected"])
    assert [json.loads(p)["reason"] for p in rejected["payload"]] == [words]


def test_a_rate_limit_is_a_retry_on_record_and_the_order_goes(on_alpaca):
    opened, market, server = on_alpaca
    loop, days = opened.loop, iter(opened.days)
    symbol, _ = step_until_holding(loop, days)
    server.faults.add("429", method="POST", path="/v2/orders", reset_in=1)
    other = next(s for s in ("GE", "BA", "CAT", "AAPL") if s not in server.positions)
    command = submit_command(loop.store, ManualOrder(symbol=other, side="buy", qty=1), actor="bob")
    loop.step(next(days))

    assert command_result(loop.store, command)[0] == "applied"
    faults = [
        json.loads(p)["what"] for p in read_events(loop.store, kinds=["broker.fault"])["payload"]
    ]
    assert any("429" in what for what in faults)


# -- calendar and clock -------------------------------------------------------------------


def test_alpacas_calendar_is_compared_and_its_sessions_time_the_loop(replay_store, alpaca_standin):
    now = datetime(2024, 6, 3, 22, 0)  # a Monday evening, after the close
    alpaca_standin.now = lambda: now.replace(tzinfo=UTC)
    alpaca_standin.sessions_override = {
        date(2024, 6, 5): None,  # shut at Alpaca, open on the NYSE calendar
        date(2024, 6, 6): (clock_time(9, 30), clock_time(13, 0)),  # closes early at Alpaca
    }
    clock = MarketClock(now=lambda: now)
    opened = open_loop(
        replay_store, mode="paper", config_ids=[replay_store.config.config_id],
        broker="alpaca", clock=clock, alpaca_options=alpaca_options(alpaca_standin),
    )  # fmt: skip

    opened.loop.start()

    alerts = [a for a in opened.loop.notifier.sent if a.kind == "calendar"]
    assert len(alerts) == 1 and "2024-06-05" in alerts[0].text and "2024-06-06" in alerts[0].text
    events = read_events(replay_store, kinds=["calendar.disagreement"])
    assert len(events) == 1
    # Alpaca's sessions time the orders: no step on the 5th, the 6th's after its early close.
    assert clock.next_session(date(2024, 6, 4)) == date(2024, 6, 6)
    assert clock.due(date(2024, 6, 6)) == datetime(2024, 6, 6, 17, 0) + clock.after_close


# -- corporate actions ----------------------------------------------------------------------


class SplitAdjusted:
    """The loop's feed with ``symbol``'s prices divided by ``ratio``: history adjusted for
    a split (as research sees it), the new session at its traded prices."""

    def __init__(self, feed, symbol: str, ratio: float):
        self.feed, self.symbol, self.ratio = feed, symbol, ratio

    def window(self, day: date):
        return self._split(self.feed.window(day))

    def traded(self, day: date):
        return self._split(self.feed.traded(day))

    def _split(self, bars):
        frames = {}
        for field in ("open", "high", "low", "close"):
            frame = getattr(bars, field).copy()
            frame[self.symbol] /= self.ratio
            frames[field] = frame
        return dataclasses.replace(bars, **frames)


def test_a_split_is_explained_and_the_stop_goes_back_at_the_adjusted_price(on_alpaca):
    opened, market, server = on_alpaca
    loop, days = opened.loop, iter(opened.days)
    symbol, _ = step_until_holding(loop, days)
    old = resting_stop(server, symbol)
    held = server.positions[symbol]["qty"]

    server.split(symbol, 2)
    day = next(days)
    loop.feed = SplitAdjusted(loop.feed, symbol, 2)  # the market trades the new prices
    loop.step(day)  # no OperatorError: the split explains the new quantity

    explained = read_events(loop.store, kinds=["reconcile.adopted"], subject=symbol)
    assert any("split" in json.loads(p)["why"] for p in explained["payload"])
    assert server.orders[old["id"]]["status"] == "canceled"
    if symbol in server.positions:  # (unless the adjusted stop was hit on the day)
        stop = resting_stop(server, symbol)
        assert float(stop["qty"]) == held * 2
        assert float(stop["stop_price"]) >= to_tick(float(old["stop_price"]) / 2, 0.01)
