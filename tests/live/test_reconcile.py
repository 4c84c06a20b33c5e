"""Reconciliation: what the store and the broker disagree on, what explains it, and refusal.

The pure function on plain records first; then the loop at start-up refusing to trade (and
saying why) when something is unexplained, and adopting the broker's view on request.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from engine.brokers import Account, Order, OrderStatus, OrderType, PaperBroker, Position, Side
from engine.brokers.base import OrderRequest, TimeInForce
from engine.errors import OperatorError
from engine.live.alerts import Notifiers
from engine.live.reconcile import BrokerView, reconcile
from engine.live.records import LiveOrder, LivePosition
from engine.live.runner import run_replay
from engine.live.setup import open_loop
from engine.store import read_events

NOW = datetime(2024, 1, 3, 21, 1)
BAR = date(2024, 1, 3)
CONFIG = "0123456789abcdef"


def broker_order(cid, side="buy", qty=10.0, status=OrderStatus.FILLED, type_="market", **kw):
    return Order(
        id=f"id-{cid}", client_order_id=cid, symbol=kw.pop("symbol", "AAA"), side=Side(side),
        qty=qty, type=OrderType(type_), time_in_force=TimeInForce.DAY, status=status,
        submitted_at=NOW, updated_at=NOW, **kw,
    )  # fmt: skip


def view(positions=(), open_orders=(), looked_up=(), cash=900.0) -> BrokerView:
    return BrokerView(
        account=Account(equity=1000.0, cash=cash, buying_power=cash),
        positions={p.symbol: p for p in positions},
        open_orders=list(open_orders),
        looked_up={o.id: o for o in looked_up},
    )


def entry(cid=f"{CONFIG}-AAA-buy-20240102") -> LiveOrder:
    return LiveOrder(
        client_order_id=cid, config_id=CONFIG, symbol="AAA", side="buy", purpose="entry",
        qty=10, decision_bar=date(2024, 1, 2), decision_price=10.0, stop_fraction=0.1,
        broker_order_id=f"id-{cid}",
    )  # fmt: skip


def check(tracked, positions, broker, **kw):
    return reconcile(
        {o.client_order_id: o for o in tracked},
        {p.symbol: p for p in positions},
        broker,
        config_ids={CONFIG},
        trails=lambda config_id: True,
        fee=lambda qty, price: 0.001 * qty * price,
        now=NOW,
        bar=BAR,
        **kw,
    )


def test_a_fill_of_the_loops_own_order_explains_the_new_position():
    filled = broker_order(entry().client_order_id, filled_qty=10, filled_avg_price=10.0)
    found = check(
        [entry()],
        [],
        view([Position(symbol="AAA", qty=10, avg_entry_price=10.0)], looked_up=[filled]),
        expected_cash=1000.0,
        cash_tolerance=0.5,
    )
    assert found.unexplained == []
    (fill,) = found.fills
    assert (fill.qty, fill.price, fill.fee) == (10, 10.0, pytest.approx(0.1))
    position = found.positions["AAA"]
    # The entry's decision gives the position its stop: 10% below the decision's close.
    assert (position.config_id, position.stop_price, position.trails) == (CONFIG, 9.0, True)


def test_a_position_no_fill_explains_is_unexplained():
    found = check([], [], view([Position(symbol="ZZZ", qty=5, avg_entry_price=20.0)]))
    (difference,) = found.unexplained
    assert (difference.kind, difference.subject) == ("position", "ZZZ")
    assert "the broker holds 5 ZZZ; the loop expected 0" in difference.what


def test_a_position_gone_without_a_sale_is_unexplained():
    held = LivePosition("AAA", CONFIG, 10, 10.0, NOW, NOW)
    (difference,) = check([], [held], view()).unexplained
    assert "the broker holds 0 AAA; the loop expected 10" in difference.what


@pytest.mark.parametrize(
    "qty, price, split",
    [(20, 5.0, "2-for-1"), (15, 20 / 3, "3-for-2"), (1, 100.0, "1-for-10")],
)
def test_a_split_explains_a_position_rebased_at_the_same_cost(qty, price, split):
    held = LivePosition("AAA", CONFIG, 10, 10.0, NOW, NOW, stop_fraction=0.1, stop_anchor=10.0,
                        manual_stop=9.5)  # fmt: skip
    found = check([], [held], view([Position(symbol="AAA", qty=qty, avg_entry_price=price)]))
    (difference,) = found.differences
    assert difference.explained and split in difference.why
    position = found.positions["AAA"]
    ratio = qty / 10
    # The stop follows the shares: the rule's level and the trader's, divided by the ratio.
    assert position.qty == qty
    assert position.stop_price == pytest.approx(max(9.0, 9.5) / ratio)


def test_shares_bought_at_another_price_are_no_split():
    held = LivePosition("AAA", CONFIG, 10, 10.0, NOW, NOW)
    # Twice the shares, but the 10 new ones cost 12 a share: a trade outside the workbench.
    found = check([], [held], view([Position(symbol="AAA", qty=20, avg_entry_price=11.0)]))
    (difference,) = found.unexplained
    assert "the loop expected 10" in difference.what


def test_orders_are_adopted_when_their_ids_say_they_are_the_loops_and_refused_otherwise():
    earlier = broker_order(f"{CONFIG}-BBB-buy-20240102", status=OrderStatus.ACCEPTED, symbol="BBB")
    this_step = broker_order(
        f"{CONFIG}-CCC-buy-20240103", status=OrderStatus.ACCEPTED, symbol="CCC"
    )
    foreign = broker_order("someone-on-the-website", status=OrderStatus.ACCEPTED, symbol="DDD")
    found = check([], [], view(open_orders=[earlier, this_step, foreign]))
    assert [(d.subject, d.explained) for d in found.differences] == [
        (earlier.client_order_id, True),  # sent before a crash: recorded now
        ("someone-on-the-website", False),
    ]  # this step's own order is left to the step, which decides it again and finds it
    assert [o.client_order_id for o in found.changed] == [earlier.client_order_id]


def test_a_stop_resting_on_a_held_symbol_is_the_attached_stop():
    held = LivePosition("AAA", CONFIG, 10, 10.0, NOW, NOW)
    leg = broker_order("a1b2c3-alpaca-named", "sell", 10, OrderStatus.NEW, "stop", stop_price=9.0)
    found = check([], [held], view([Position(symbol="AAA", qty=10, avg_entry_price=10.0)], [leg]))
    assert found.unexplained == []
    (adopted,) = found.changed
    assert (adopted.purpose, adopted.config_id) == ("stop", CONFIG)


def test_cash_that_moved_without_a_fill_is_unexplained_at_start_up():
    found = check([], [], view(cash=1500.0), expected_cash=1000.0, cash_tolerance=0.01)
    (difference,) = found.unexplained
    assert difference.kind == "cash" and "+500.00" in difference.what
    assert (
        check([], [], view(cash=1000.004), expected_cash=1000.0, cash_tolerance=0.01).unexplained
        == []
    )


# -- the loop at start-up --------------------------------------------------------------


def _replayed(store, end="2012-02-15"):
    opened = open_loop(
        store, mode="replay", config_ids=[store.config.config_id], start="2012-02-01", end=end
    )
    run_replay(opened.loop, opened.days)
    return opened


def _reopened_after_an_order_by_hand(store, client_order_id: str, **options):
    """(the replay that ran, the loop opened again) after an order placed at the broker by hand."""
    opened = _replayed(store)
    broker = PaperBroker(store, account=opened.loop.broker.account_name)
    broker.submit(OrderRequest(symbol="GE", side="buy", qty=5, client_order_id=client_order_id))
    again = open_loop(
        store,
        mode="replay",
        config_ids=[store.config.config_id],
        start="2012-02-01",
        end="2012-02-15",
        **options,
    )
    return opened, again


def test_the_loop_refuses_to_start_on_what_nothing_explains_and_says_why(replay_store):
    opened, again = _reopened_after_an_order_by_hand(
        replay_store, "by-hand-1", notifier=(alerts := Notifiers())
    )
    with pytest.raises(OperatorError, match="by-hand-1") as refused:
        again.loop.start(date(2012, 2, 16))
    assert "--adopt-broker-state" in refused.value.hint
    assert [a.kind for a in alerts.sent] == ["reconciliation"]
    kinds = set(read_events(replay_store, kinds=["reconcile.", "loop.refused"])["kind"])
    assert kinds == {"reconcile.difference", "loop.refused"}
    # Refused, it never ran: no heartbeat of its own (the finished replay's is the newest).
    beats = replay_store.query("SELECT loop_id FROM heartbeats")["loop_id"]
    assert set(beats) == {opened.loop.loop_id}


def test_adopting_the_brokers_view_starts_the_loop_and_records_each_difference(replay_store):
    _, again = _reopened_after_an_order_by_hand(replay_store, "by-hand-2", adopt_broker_state=True)
    differences = again.loop.start(date(2012, 2, 16))
    assert [d.subject for d in differences if not d.explained] == ["by-hand-2"]
    recorded = read_events(replay_store, kinds=["reconcile.difference"])
    assert recorded["subject"].tolist() == ["by-hand-2"]


# -- recorded corporate actions ----------------------------------------------------------


def _split(ratio, day=BAR):
    from engine.data.corporate_actions import CorporateAction

    return CorporateAction("AAA", day, "split", ratio=ratio)


def _dividend(amount, day=BAR):
    from engine.data.corporate_actions import CorporateAction

    return CorporateAction("AAA", day, "dividend", amount=amount)


def test_a_recorded_split_paid_partly_in_cash_is_explained_where_the_same_cost_rule_is_not():
    # 7 shares at 30, 3-for-2: the broker holds 10 at 20 and paid the half share in cash,
    # so the position's cost changed (210 -> 200) and no ratio of shares alone explains it.
    held = LivePosition("AAA", CONFIG, 7, 30.0, NOW, NOW, stop_fraction=0.1, stop_anchor=30.0)
    cid = f"{CONFIG}-AAA-stop-20240102"
    stop = LiveOrder(cid, CONFIG, "AAA", "sell", "stop", 7, "stop", stop_price=27.0,
                     broker_order_id=f"id-{cid}")  # fmt: skip
    theirs = view(
        [Position(symbol="AAA", qty=10, avg_entry_price=20.0, market_price=20.5)],
        looked_up=[
            broker_order(
                stop.client_order_id, "sell", 10, OrderStatus.ACCEPTED, "stop", stop_price=18.0
            )
        ],  # fmt: skip
        cash=910.25,
    )
    assert check([stop], [held], theirs).unexplained  # no record: a difference

    found = check([stop], [held], theirs, actions=[_split(1.5)], expected_cash=900.0)
    assert found.unexplained == []
    position = found.positions["AAA"]
    assert (position.qty, position.avg_price, position.stop_price) == (
        10,
        20.0,
        pytest.approx(18.0),
    )
    (record,) = found.changed
    assert (record.qty, record.stop_price) == (10, 18.0)
    (taken,) = found.adjustments
    assert (taken.qty_before, taken.qty_after, taken.cash) == (7, 10, pytest.approx(0.5 * 20.5))

    # Taken once: a record of it stops the next look from taking it again.
    again = check(
        [], [position], theirs, actions=[_split(1.5)], recorded_actions=[("AAA", "split", BAR)]
    )
    assert again.adjustments == [] and again.unexplained == []


def test_a_split_the_broker_has_not_applied_yet_waits():
    held = LivePosition("AAA", CONFIG, 10, 400.0, NOW, NOW)
    found = check([], [held], view([Position(symbol="AAA", qty=10, avg_entry_price=400.0)]),
                  actions=[_split(4.0)])  # fmt: skip
    assert found.adjustments == [] and found.unexplained == []
    assert found.positions["AAA"].qty == 10


def test_dividends_explain_the_cash_whether_paid_on_the_ex_date_or_later():
    held = LivePosition("AAA", CONFIG, 10, 10.0, NOW, NOW)
    position = [Position(symbol="AAA", qty=10, avg_entry_price=10.0)]
    # Paid on the ex-date (the paper broker), or not yet (Alpaca pays on the pay date).
    for cash in (905.0, 900.0):
        found = check(
            [], [held], view(position, cash=cash), actions=[_dividend(0.5)], expected_cash=900.0
        )
        assert found.unexplained == [] and found.adjustments[0].cash == 5.0
    # Paid later, when the loop had already taken it in.
    (earlier,) = check([], [held], view(position), actions=[_dividend(0.5)]).adjustments
    found = check(
        [], [held], view(position, cash=905.0), expected_cash=900.0, recent_dividends=[earlier]
    )
    assert found.unexplained == [] and "AAA dividend 0.5/share" in found.differences[0].why
    # Any other amount is not a dividend.
    found = check(
        [], [held], view(position, cash=906.0), expected_cash=900.0, recent_dividends=[earlier]
    )
    assert len(found.unexplained) == 1


def test_a_laddered_position_keeps_each_legs_fill_and_stop_and_a_legs_stop_sells_that_leg():
    from engine.live.decisions import Ladder

    laddered = {"laddered": lambda config_id: True}
    first = broker_order(entry().client_order_id, filled_qty=10, filled_avg_price=10.0)
    found = check([entry()], [], view([Position(symbol="AAA", qty=10, avg_entry_price=10.0)],
                                      looked_up=[first]), **laddered)  # fmt: skip
    opened = found.positions["AAA"]
    # The position has no stop of its own: its first leg has the entry's.
    assert opened.ladder == Ladder().bought(1, 10, 10.0, 0.1, 10.0)
    assert opened.stop_price == pytest.approx(9.0)

    leg2 = LiveOrder(
        client_order_id=f"{CONFIG}-AAA-buy2-20240103", config_id=CONFIG, symbol="AAA",
        side="buy", purpose="entry", qty=5, decision_price=11.0, stop_fraction=0.02,
        broker_order_id=f"id-{CONFIG}-AAA-buy2-20240103",
    )  # fmt: skip
    bought = broker_order(leg2.client_order_id, qty=5, filled_qty=5, filled_avg_price=11.0)
    found = check([leg2], [opened], view([Position(symbol="AAA", qty=15, avg_entry_price=10.33)],
                                         looked_up=[bought]), **laddered)  # fmt: skip
    held = found.positions["AAA"]
    assert [(g.number, g.qty, g.price) for g in held.ladder.legs] == [(1, 10, 10.0), (2, 5, 11.0)]
    assert held.ladder.legs[1].rule_stop == pytest.approx(11.0 * 0.98)

    # The second leg's stop (attached to its buy, named after it) fills: that leg is gone.
    stop = LiveOrder(
        client_order_id=f"{leg2.client_order_id}-stop", config_id=CONFIG, symbol="AAA",
        side="sell", purpose="stop", qty=5, type="stop", stop_price=10.78,
        broker_order_id=f"id-{leg2.client_order_id}-stop",
    )  # fmt: skip
    sold = broker_order(stop.client_order_id, side="sell", qty=5, type_="stop",
                        filled_qty=5, filled_avg_price=10.78)  # fmt: skip
    found = check([stop], [held], view([Position(symbol="AAA", qty=10, avg_entry_price=10.0)],
                                       looked_up=[sold]), **laddered)  # fmt: skip
    after = found.positions["AAA"].ladder
    assert [(g.number, g.qty) for g in after.legs] == [(1, 10)] and after.taken == 2
