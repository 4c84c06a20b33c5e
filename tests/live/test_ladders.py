"""Scale-in ladders in the live loop: legs named by their decisions, each with its own stop,
judged by the gate as the position will be, and seen by the day-trade count."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from engine.brokers.base import Order, OrderStatus, OrderType, Side, TimeInForce
from engine.live import ids, ledger
from engine.live.commands import SetRiskLimits, submit_command
from engine.live.decisions import Holding, Ladder, Leg, Plan, PlannedExit, PlannedStop
from engine.live.orders import OrderRules, orders_for
from engine.live.records import LiveOrder
from engine.live.runner import run_replay
from engine.live.setup import open_loop
from tests.live.conftest import REPLAY_LIMITS, approve

CONFIG = "5c0f3e9a1b7d2c44"
MONDAY = date(2024, 5, 6)
RULES = OrderRules("loop", True)


def _resting_stop(cid: str, qty: float, price: float) -> Order:
    return Order(
        id=f"b-{cid}", client_order_id=cid, symbol="AAPL", side=Side.SELL, qty=qty,
        type=OrderType.STOP, time_in_force=TimeInForce.GTC, status=OrderStatus.NEW,
        stop_price=price,
    )  # fmt: skip


def test_each_leg_is_named_by_its_decision_and_number():
    first = ids.decision_id(CONFIG, "AAPL", "buy", MONDAY)
    second = ids.decision_id(CONFIG, "AAPL", "buy", MONDAY, leg=2)
    assert first == f"{CONFIG}-AAPL-buy-20240506" and second == f"{CONFIG}-AAPL-buy2-20240506"
    # Deciding the same leg again (a restart) gives the same id: the broker keeps one order.
    assert ids.decision_id(CONFIG, "AAPL", "buy", MONDAY, leg=2) == second
    assert ids.leg_of(second) == 2 and ids.leg_of(second + "-stop") == 2  # its attached stop
    assert ids.leg_of(ids.decision_id(CONFIG, "AAPL", "stop", MONDAY, leg=3)) == 3
    with pytest.raises(ValueError, match="legs"):
        ids.decision_id(CONFIG, "AAPL", "sell", MONDAY, leg=2)  # an exit sells every leg


def test_each_legs_stop_rests_alone_and_an_exit_cancels_them_all():
    leg1 = _resting_stop(ids.decision_id(CONFIG, "AAPL", "buy", MONDAY) + "-stop", 10, 90.0)
    plan = Plan(CONFIG, MONDAY, stops=[PlannedStop("AAPL", 10, 90.0, None, 1),
                                        PlannedStop("AAPL", 5, 95.0, None, 2)])  # fmt: skip
    sent = orders_for([(CONFIG, plan)], [leg1], MONDAY, datetime(2024, 5, 6, 21), RULES)
    # The first leg's stop rests where it belongs; only the second leg's is placed, alone.
    assert [(o.client_order_id, o.request.qty, o.request.stop_price) for o in sent] == [
        (f"{CONFIG}-AAPL-stop2-20240506", 5, 95.0)
    ]
    assert sent[0].replaces == []

    leg2 = _resting_stop(f"{CONFIG}-AAPL-stop2-20240506", 5, 95.0)
    exit_plan = Plan(CONFIG, date(2024, 5, 7), exits=[PlannedExit("AAPL", 15, "signal")])
    sent = orders_for([(CONFIG, exit_plan)], [leg1, leg2], date(2024, 5, 7),
                      datetime(2024, 5, 7, 21), RULES)  # fmt: skip
    assert [o.request.qty for o in sent] == [15]
    assert {o.client_order_id for o in sent[0].replaces} == {leg1.client_order_id,
                                                             leg2.client_order_id}  # fmt: skip


def test_a_ladder_keeps_each_legs_shares_price_and_stop():
    ladder = Ladder().bought(1, 10, 100.0, 0.05, 100.0).bought(2, 5, 102.0, 0.02, 101.5)
    assert (ladder.taken, ladder.first_qty) == (2, 10)
    assert [leg.rule_stop for leg in ladder.legs] == pytest.approx([95.0, 101.5 * 0.98])
    # A leg's stop sells that leg; an exit sells from the last leg back.
    stopped = ladder.sold(5, 2)
    assert [(leg.number, leg.qty) for leg in stopped.legs] == [(1, 10)]
    assert stopped.taken == 2  # the third leg comes next, not the second again
    assert [(leg.number, leg.qty) for leg in ladder.sold(7).legs] == [(1, 8)]
    assert Ladder.from_json(ladder.to_json()) == ladder
    # The position's stop, as the control room and the risk figures show it: the lowest leg's,
    # by which every leg is out; a trader's tighter stop lifts every leg to it.
    assert Holding("AAPL", 15, ladder=ladder).stop_price == pytest.approx(95.0)
    assert Holding("AAPL", 15, manual_stop=99.0, ladder=ladder).stop_price == pytest.approx(99.0)
    no_stop = Ladder((Leg(1, 3.0, 50.0),), 1, 3.0)
    assert Ladder.from_json(no_stop.to_json()).legs[0].rule_stop is None


def test_the_day_trade_count_sees_a_leg_bought_and_stopped_in_one_session():
    def filled(cid: str, side: str, day: int) -> LiveOrder:
        return LiveOrder(
            client_order_id=cid, config_id=CONFIG, symbol="AAPL", side=side, purpose="entry",
            qty=5, status="filled", filled_qty=5, filled_avg_price=100.0,
            filled_at=datetime(2024, 5, day, 14), created_at=datetime(2024, 5, day - 1, 21),
        )  # fmt: skip

    orders = [
        filled(ids.decision_id(CONFIG, "AAPL", "buy", date(2024, 5, 6)), "buy", 7),
        # The second leg fills at Wednesday's open and its own stop sells it that day.
        filled(ids.decision_id(CONFIG, "AAPL", "buy", date(2024, 5, 7), leg=2), "buy", 8),
        filled(ids.decision_id(CONFIG, "AAPL", "buy", date(2024, 5, 7), leg=2) + "-stop",
               "sell", 8),
    ]  # fmt: skip
    assert ledger._day_trades(orders, datetime(2024, 5, 9)) == (date(2024, 5, 8),)


def test_the_gate_denies_a_leg_that_would_take_the_position_past_its_cap(sample_store):
    # Each first leg is a fifth of the book; a second leg (half as many shares again) would
    # make the position about 30% of equity, past the 25% cap.
    config = approve(
        sample_store, "sma_crossover", {"fast": 3, "slow": 12}, ["AAPL", "BA", "CAT", "GE", "F"],
        size="fraction", fraction=0.2, stop="atr", atr_window=10, max_positions=3,
        ladder=[{"at": 0.01, "size": 0.5}],
    )  # fmt: skip
    limits = REPLAY_LIMITS.model_copy(update={"max_position_pct": 0.25})
    submit_command(sample_store, SetRiskLimits(limits=limits.to_mapping()), actor="bob")
    opened = open_loop(sample_store, mode="replay", config_ids=[config.config_id],
                       start="2011-01-03", end="2011-05-31")  # fmt: skip

    reports = run_replay(opened.loop, opened.days)

    denied = [cid for report in reports for cid in report.denied]
    assert any("-buy2-" in cid for cid in denied), "no second leg was judged"
    filled = sample_store.query(
        "SELECT client_order_id FROM live_orders WHERE side = 'buy' AND filled_qty > 0"
    )["client_order_id"]
    assert filled.str.contains("-buy-").sum() >= 3  # the first legs fit under the cap
    assert not filled.str.contains("-buy2-").any()
    reasons = [
        json.loads(p)
        for p in sample_store.query("SELECT payload FROM events WHERE kind = 'order.denied'")[
            "payload"
        ]
    ]
    legs = [d for d in reasons if d["side"] == "buy"]
    assert legs and {d["rule"] for d in legs} == {"position_cap"}
    assert all("the position would be worth" in d["reason"] for d in legs)


def test_a_ladder_is_refused_where_the_broker_names_attached_stops_itself(sample_store):
    from engine.errors import InputError

    config = approve(sample_store, "donchian_breakout", {}, ["AAPL"], stop="strategy",
                     ladder=[{"at": 0.01, "size": 0.5}])  # fmt: skip
    with pytest.raises(InputError, match="legs") as refused:
        open_loop(sample_store, mode="paper", config_ids=[config.config_id], broker="alpaca")
    assert "--broker paper" in refused.value.hint


def test_a_split_rebases_every_legs_shares_price_and_stop():
    from engine.live.adjustments import rebased
    from engine.live.records import LivePosition

    ladder = Ladder().bought(1, 10, 100.0, 0.05, 100.0).bought(2, 5, 102.0, 0.02, 101.5)
    position = LivePosition("AAPL", CONFIG, 15, 100.67, datetime(2024, 5, 6), datetime(2024, 5, 7),
                            ladder=ladder)  # fmt: skip
    split = rebased(position, 2.0).ladder
    assert [(leg.qty, leg.price) for leg in split.legs] == [(20, 50.0), (10, 51.0)]
    assert [leg.rule_stop for leg in split.legs] == pytest.approx([47.5, 50.75 * 0.98])
    assert split.first_qty == 20


def test_a_book_going_flat_sends_no_leg_for_the_position_it_sells():
    from engine.live.clock import session_bars
    from engine.live.decisions import PlannedEntry
    from engine.live.loop import flat_plans
    from engine.live.records import LivePosition

    opened = datetime(2024, 11, 29, 15)
    held = {"AAA": LivePosition("AAA", "flat", 10.0, 50.0, opened, opened)}
    new = PlannedEntry("DDD", 5.0, 20.0, float("nan"), None)
    leg = PlannedEntry("AAA", 5.0, 51.0, float("nan"), None, leg=2)
    last = session_bars("2024-11-29", "5m")[-1]
    (plan,) = flat_plans([("flat", Plan("flat", None, entries=[new, leg]))], held,
                         frozenset({"flat"}), last)  # fmt: skip
    # The session's last bar: the new entry goes for the next open; the leg does not.
    assert plan[1].entries == [new]
    assert [e.symbol for e in plan[1].exits] == ["AAA"]
