"""What a broker declares it can do shapes the loop's orders, whatever the risk limits allow."""

from __future__ import annotations

from datetime import UTC

from engine.live.commands import SetRiskLimits, submit_command
from engine.live.runner import run_replay
from tests.live.conftest import REPLAY_LIMITS, open_replay
from tests.live.test_alpaca_faults import FAST_RETRY, StandInMarket
from tests.standins.alpaca import API_KEY, SECRET_KEY


def test_alpaca_gets_whole_shares_and_cent_stops_even_when_the_limits_allow_fractions(
    replay_store, alpaca_standin
):
    fractions = REPLAY_LIMITS.model_copy(update={"fractional_shares": True})
    submit_command(replay_store, SetRiskLimits(limits=fractions.to_mapping()), actor="bob")
    opened = open_replay(
        replay_store,
        "2012-02-01",
        "2012-03-15",
        broker="alpaca",
        market=StandInMarket(alpaca_standin),
        alpaca_options={"api_key": API_KEY, "secret_key": SECRET_KEY,
                        "url_override": alpaca_standin.url, "retry": FAST_RETRY},
    )  # fmt: skip
    alpaca_standin.now = lambda: opened.clock.now().replace(tzinfo=UTC)

    run_replay(opened.loop, opened.days, sleep=lambda seconds: None)

    orders = opened.loop.broker.orders("all")
    assert len([o for o in orders if o.side == "buy"]) > 3, "the replay should trade"
    assert all(o.qty == int(o.qty) for o in orders)
    stops = [o.stop_price for o in orders if o.stop_price is not None]
    assert stops and all(round(p, 2) == p for p in stops)
