"""The loop's orders for a position with a profit target: the stop and target always go as one."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from engine.brokers import Capabilities, Order
from engine.brokers.alpaca import AlpacaBroker
from engine.live.decisions import Plan, PlannedEntry, PlannedStop
from engine.live.orders import OrderRules, orders_for

DAY, NOW = date(2024, 5, 1), datetime(2024, 5, 1, 20, 5)
CONFIG = "c0ffee01"  # a config id (hex, as the loop's client order ids need)
CENTS = OrderRules("loop", False, Capabilities(tick_size=0.01, brackets=True))


def _resting(stop: float, target: float | None, qty: float = 10) -> Order:
    return Order(
        id="o1", client_order_id=f"{CONFIG}-XYZ-stop-20240430", symbol="XYZ", side="sell", qty=qty,
        type="stop", time_in_force="gtc", status="accepted", stop_price=stop,
        take_profit_price=target,
    )  # fmt: skip


def _send(plan: Plan, resting: list[Order] = ()):
    return orders_for([(CONFIG, plan)], list(resting), DAY, NOW, CENTS)


def test_an_entry_carries_its_stop_and_target_on_the_tick():
    entry = PlannedEntry("XYZ", 10, 100.0, 0.05, 95.0, 105.004)
    (sent,) = _send(Plan(CONFIG, DAY, entries=[entry]))
    request = sent.request
    assert (request.stop_loss_price, request.take_profit_price) == (95.0, 105.01)  # sell limit up
    assert sent.record.take_profit_price == 105.01


def test_a_resting_bracket_where_it_belongs_is_left_alone():
    plan = Plan(CONFIG, DAY, stops=[PlannedStop("XYZ", 10, 95.0, 105.0)])
    assert _send(plan, [_resting(95.0, 105.0)]) == []


@pytest.mark.parametrize("resting", [_resting(95.0, None), _resting(94.0, 105.0)])
def test_a_stop_without_its_target_or_below_its_level_is_replaced_by_one_bracket(resting):
    plan = Plan(CONFIG, DAY, stops=[PlannedStop("XYZ", 10, 95.0, 105.0)])
    (sent,) = _send(plan, [resting])
    assert (sent.request.type, sent.request.stop_price, sent.request.take_profit_price) == (
        "stop", 95.0, 105.0
    )  # fmt: skip
    assert sent.replaces == [resting]  # canceled first: one order rests, never two


def test_a_stop_raised_past_the_target_rests_alone():
    plan = Plan(CONFIG, DAY, stops=[PlannedStop("XYZ", 10, 106.0, 105.0)])
    (sent,) = _send(plan, [_resting(95.0, 105.0)])
    assert (sent.request.stop_price, sent.request.take_profit_price) == (106.0, None)


def test_a_config_with_a_target_is_refused_where_the_broker_cannot_bracket(sample_store):
    from engine.errors import InputError
    from engine.live.setup import require_brackets
    from tests.live.conftest import approve

    config = approve(
        sample_store, "donchian_breakout", {}, ["AAPL"], stop="strategy",
        take_profit="fraction", take_profit_at=0.05,
    )  # fmt: skip
    require_brackets([config], "alpaca", AlpacaBroker.capabilities)  # Alpaca brackets them
    with pytest.raises(InputError, match="stop and target as one bracket") as refused:
        require_brackets([config], "some-broker", Capabilities(brackets=False))
    assert "--broker paper" in refused.value.hint


def test_a_traders_tighter_stop_keeps_the_positions_target(sample_store):
    from engine.live.commands import TightenStop, submit_command
    from tests.live.conftest import allow_replay, approve, open_replay

    sample_store.config = approve(
        sample_store, "donchian_breakout", {"entry_window": 10, "exit_window": 5, "atr_window": 10},
        ["AAPL", "BA", "CAT", "GE"], stop="strategy", size="risk", max_positions=3,
        take_profit="reward_risk", take_profit_at=3.0,
    )  # fmt: skip
    allow_replay(sample_store)
    opened = open_replay(sample_store)
    loop, days = opened.loop, iter(opened.days)
    loop.start(opened.days[0])
    while not loop.broker.positions():
        loop.step(next(days))
    symbol = loop.broker.positions()[0].symbol
    target = sample_store.scalar(
        "SELECT target_price FROM live_positions WHERE symbol = ?", [symbol]
    )
    (bracket,) = [o for o in loop.broker.orders("open") if o.symbol == symbol and o.side == "sell"]
    assert target is not None and bracket.take_profit_price == pytest.approx(target)

    submit_command(
        sample_store, TightenStop(symbol=symbol, stop_price=bracket.stop_price * 1.01), "bob"
    )
    loop.step(next(days))
    resting = [o for o in loop.broker.orders("open") if o.symbol == symbol and o.side == "sell"]
    if loop.broker.position(symbol) is not None:  # not sold by the bar after
        (tighter,) = resting
        assert tighter.stop_price >= bracket.stop_price * 1.01 - 1e-9
        assert tighter.take_profit_price == pytest.approx(target)
    else:
        assert resting == []
