"""The loop trading stops with profit targets on Alpaca (the stand-in), as brackets.

A Donchian config with trailing ATR stops and a 1.5:1 target replays the sample bars
through the real alpaca-py client: each entry goes as Alpaca's bracket, each stop moved
up as an OCO in place of the last, and the stand-in plays Alpaca's rules (the stop leg
``held`` beside the working target, one leg's fill cancelling the other).
"""

from __future__ import annotations

from datetime import UTC

import pytest

from engine.live.runner import run_replay
from engine.live.setup import open_loop
from tests.live.conftest import allow_replay, approve_donchian
from tests.live.test_alpaca_faults import FAST_RETRY, StandInMarket
from tests.standins.alpaca import API_KEY, SECRET_KEY, AlpacaStandIn

pytestmark = pytest.mark.slow  # real processes or long replays: run early (tests/conftest.py)

START, END = "2012-02-01", "2012-03-30"
TARGETS = {"take_profit": "reward_risk", "take_profit_at": 1.5}


def alpaca_options(server) -> dict:
    return {"api_key": API_KEY, "secret_key": SECRET_KEY, "url_override": server.url,
            "retry": FAST_RETRY, "cancel_wait": 1.0}  # fmt: skip


def unprotected(server: AlpacaStandIn) -> list[str]:
    """What is wrong with the protection of the stand-in's positions now: each position
    must rest exactly one stop with its target for all its shares, or be sold by an exit
    already working."""
    wrong = []
    for symbol, position in sorted(server.positions.items()):
        guards = server.protections(symbol)
        selling = server.stop_cover(symbol, exits=True) - server.stop_cover(symbol)
        if selling >= position["qty"] - 1e-9 and not guards:
            continue
        if len(guards) != 1 or guards[0]["target"] is None:
            wrong.append(f"{symbol}: {len(guards)} protections {guards}")
        elif guards[0]["qty"] < position["qty"] - 1e-9:
            wrong.append(f"{symbol}: {guards[0]['qty']:g} of {position['qty']:g} shares covered")
    return wrong


class WatchedMarket(StandInMarket):
    """The stand-in's market, checking before each session trades that every position
    is protected by one stop and target."""

    def __init__(self, server):
        super().__init__(server)
        self.checked, self.wrong = 0, []

    def advance(self, day, bars) -> None:
        self.checked += len(self.server.positions)
        self.wrong += [f"{day} {w}" for w in unprotected(self.server)]
        super().advance(day, bars)


@pytest.fixture
def on_alpaca(sample_store, alpaca_standin):
    """A replay with targets on the stand-in, opened, not started."""
    config = approve_donchian(sample_store, **TARGETS)
    allow_replay(sample_store)
    market = WatchedMarket(alpaca_standin)

    def open_():
        opened = open_loop(
            sample_store, mode="replay", config_ids=[config.config_id], broker="alpaca",
            start=START, end=END, market=market, alpaca_options=alpaca_options(alpaca_standin),
        )  # fmt: skip
        alpaca_standin.now = lambda: opened.clock.now().replace(tzinfo=UTC)
        return opened

    return open_, market, alpaca_standin


def test_every_position_rests_one_stop_and_target_and_targets_fill(on_alpaca):
    open_, market, server = on_alpaca
    opened = open_()
    run_replay(opened.loop, opened.days, sleep=lambda seconds: None)

    assert market.checked > 20, "the replay should hold positions"
    assert market.wrong == []
    orders = list(server.orders.values())
    entries = [o for o in orders if o["order_class"] == "bracket" and o["side"] == "buy"]
    assert len(entries) >= 3 and all(o["time_in_force"] == "gtc" for o in entries)
    assert any(o["order_class"] == "oco" for o in orders), "stops moved up go as OCOs"
    targets_hit = [o for o in orders if o["type"] == "limit" and o["status"] == "filled"]
    assert targets_hit, "the replay should fill some targets"
    assert max(server.client_order_ids().values()) == 1
    # What the loop believes it holds is what Alpaca holds.
    held = {s: p["qty"] for s, p in server.positions.items()}
    recorded = opened.loop.store.query(
        "SELECT symbol, qty FROM live_positions WHERE book = 'alpaca:paper'"
    )
    assert dict(zip(recorded["symbol"], recorded["qty"], strict=True)) == pytest.approx(held)


def test_a_restarted_loop_reads_the_resting_brackets_and_places_no_second_protection(on_alpaca):
    open_, market, server = on_alpaca
    first = open_()
    first.loop.start(first.days[0])
    for day in first.days:
        first.loop.step(day)
        if server.positions and all(server.protections(s) for s in server.positions):
            break
    assert server.positions, "the replay should be holding a position"
    first.loop.stop("restart")
    first.loop.release()
    placed = server.order_count()

    again = open_()  # a new process: a new adapter, knowing nothing of the legs
    again.loop.start(day)
    assert again.loop.protect(day) is None
    assert server.order_count() == placed
    assert unprotected(server) == []
