"""The trader's commands as the loop applies them: each resolved with its effect, audited.

A replay stepped bar by bar in this process; commands are queued between steps exactly as
the control room queues them.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from engine.brokers import OrderRequest, PaperBroker
from engine.live import book_queries
from engine.live.alerts import Notifiers
from engine.live.commands import (
    CancelOrder,
    ClosePosition,
    FlattenAll,
    Halt,
    KillSwitch,
    ManualOrder,
    PauseStrategy,
    ResumeStrategy,
    ResumeTrading,
    SetRiskLimits,
    TightenStop,
    submit_command,
)
from engine.live.overrides import cancel_directly
from engine.risk import TradingState, states
from engine.store import read_events
from engine.store.events import utcnow
from tests.live.conftest import REPLAY_LIMITS, open_replay


@pytest.fixture
def stepping(replay_store):
    """A started replay loop and a way to step it one session at a time."""
    alerts = Notifiers()
    opened = open_replay(replay_store, notifier=alerts)
    loop, days = opened.loop, iter(opened.days)
    loop.start(opened.days[0])

    def step():
        return loop.step(next(days))

    def until(condition):
        for _ in range(120):
            report = step()
            if condition(report):
                return report
        raise AssertionError("the condition never came true")

    return loop, step, until, alerts


def command_row(store, command_id) -> dict:
    return store.query("SELECT * FROM commands WHERE id = ?", [command_id]).iloc[0].to_dict()


def buys_sent(report) -> list[str]:
    return [cid for cid in report.submitted if "-buy-" in cid]


def controls(store) -> dict:
    state = store.query("SELECT key, value, updated_by FROM trading_state")
    return {k: json.loads(v) for k, v in zip(state["key"], state["value"], strict=True)}


def closing_orders(broker, symbols) -> dict[str, str]:
    """symbol -> how its position was closed: ``exit`` (a strategy's sell) or ``stop``."""
    return {
        o.symbol: "stop" if o.type == "stop" else "exit"
        for o in broker.orders("all")
        if o.symbol in symbols and o.side == "sell" and o.status == "filled"
    }


def test_the_kill_switch_stops_entries_and_lets_exits_and_stops_close_the_book(
    replay_store, stepping
):
    loop, step, until, alerts = stepping
    until(lambda r: buys_sent(r) and len(loop.broker.positions()) >= 2)
    waiting = [o for o in loop.broker.orders("open") if o.side == "buy"]
    assert waiting  # entries are waiting for the next open
    command_id = submit_command(replay_store, KillSwitch(on=True), actor="alice")

    report = step()

    row = command_row(replay_store, command_id)
    assert (row["status"], row["decided_by"]) == ("applied", loop.actor)
    assert row["result"] == (
        "kill switch ON: trading REDUCING, no new entries; exits and protective stops still go; "
        f"{len(waiting)} open entry orders canceled"
    )
    assert all(loop.broker.get_order(o.id).status == "canceled" for o in waiting)
    assert controls(replay_store)["kill_switch"] == {"on": True}
    assert controls(replay_store)["state"]["state"] == "REDUCING"
    audit = read_events(replay_store, kinds=["command.", "trading."]).iloc[::-1]
    about = audit[(audit["subject"] == str(command_id)) | (audit["actor"] == "alice")]
    assert list(about["kind"]) == [
        "command.submitted", "trading.kill_switch", "trading.state", "command.applied"
    ]  # fmt: skip
    assert "halt" in [a.kind for a in alerts.sent]

    # The book unwinds through the strategy's own exits and its protective stops; nothing buys.
    held = {p.symbol for p in loop.broker.positions()}
    while loop.broker.positions():
        assert buys_sent(report) == []
        report = step()
    assert set(closing_orders(loop.broker, held).values()) == {"exit", "stop"}
    # A new entry signal is refused, and so is a trader's buy.
    refused = until(lambda r: any("-buy-" in cid for cid in r.denied))
    assert buys_sent(refused) == []
    buy = submit_command(replay_store, ManualOrder(symbol="GE", side="buy", qty=10), "bob")
    step()
    assert command_row(replay_store, buy)["status"] == "denied"
    assert command_row(replay_store, buy)["result"] == (
        "buy 10 GE refused: the kill switch is on, trading is REDUCING: no new entries; "
        "exits and protective stops still go"
    )

    submit_command(replay_store, KillSwitch(on=False), actor="alice")
    until(lambda r: buys_sent(r))  # released: the loop enters again
    assert controls(replay_store)["state"]["state"] == "ACTIVE"


def test_a_halt_stops_every_order_but_a_traders_own_close(replay_store, stepping):
    loop, step, until, alerts = stepping
    until(lambda r: len(loop.broker.positions()) >= 2)
    resting = {o.symbol: o for o in loop.broker.orders("open") if o.type == "stop"}
    halt = submit_command(replay_store, Halt(reason="broker outage drill"), actor="alice")

    reports = [step() for _ in range(10)]

    assert command_row(replay_store, halt)["result"].startswith(
        f"trading HALTED, {states.MEANING[TradingState.HALTED]}"
    )
    assert controls(replay_store)["state"] == {
        "state": "HALTED", "reason": "halted by alice: broker outage drill"
    }  # fmt: skip
    assert [cid for r in reports for cid in r.submitted] == []  # no exit, no new stop, no entry
    applied = replay_store.scalar(
        "SELECT id FROM events WHERE kind = 'command.applied' AND subject = ?", [str(halt)]
    )
    denied = replay_store.query(
        "SELECT payload FROM events WHERE kind = 'order.denied' AND id > ?", [int(applied)]
    )
    assert len(denied) and {json.loads(p)["rule"] for p in denied["payload"]} == {"trading_state"}
    # The stops resting at the broker stay: a halt does not leave a position unprotected.
    still = {o.symbol for o in loop.broker.orders("open") if o.type == "stop"}
    held = {p.symbol for p in loop.broker.positions()}
    assert held and held <= still <= set(resting)
    # A trader's buy is refused; a trader's close goes.
    symbol = sorted(held)[0]
    buy = submit_command(replay_store, ManualOrder(symbol="GE", side="buy", qty=10), "bob")
    close = submit_command(replay_store, ClosePosition(symbol=symbol), "bob")
    step()
    step()
    assert command_row(replay_store, buy)["status"] == "denied"
    assert (
        "trading is HALTED (halted by alice: broker outage drill)"
        in command_row(replay_store, buy)["result"]
    )
    assert command_row(replay_store, close)["status"] == "applied"
    assert symbol not in {p.symbol for p in loop.broker.positions()}

    submit_command(replay_store, ResumeTrading(), actor="alice")
    until(lambda r: r.submitted)
    assert controls(replay_store)["state"]["state"] == "ACTIVE"


def test_flatten_closes_every_position_at_the_next_open(replay_store, stepping):
    loop, step, until, _ = stepping
    until(lambda r: len(loop.broker.positions()) >= 2)
    held = {p.symbol for p in loop.broker.positions()}
    # Paused too, as a trader flattening for the day would: nothing is bought back.
    submit_command(
        replay_store, PauseStrategy(config_id=replay_store.config.config_id), actor="bob"
    )
    command_id = submit_command(replay_store, FlattenAll(), actor="bob")
    step()  # applied before the session: the closing orders sell at its open
    row = command_row(replay_store, command_id)
    assert row["status"] == "applied"
    assert row["result"].startswith(f"flatten: {len(held)} closing orders sent")
    closing = [
        o for o in loop.broker.orders("all") if o.client_order_id.startswith(f"cmd{command_id}-")
    ]
    assert {o.symbol for o in closing} == held
    assert {o.status for o in closing} == {"filled"}
    assert loop.broker.positions() == []
    assert [o for o in loop.broker.orders("open")] == []


def test_a_paused_config_enters_nothing_until_resumed(replay_store, stepping):
    loop, step, until, _ = stepping
    config_id = replay_store.config.config_id
    paused = submit_command(replay_store, PauseStrategy(config_id=config_id), actor="bob")
    for _ in range(15):
        assert buys_sent(step()) == []
    assert command_row(replay_store, paused)["result"].startswith(f"config {config_id} paused")
    submit_command(replay_store, ResumeStrategy(config_id=config_id), actor="bob")
    until(lambda r: buys_sent(r))


def test_close_position_and_a_stop_that_only_tightens(replay_store, stepping):
    loop, step, until, _ = stepping
    until(lambda r: loop.broker.positions())
    position = loop.broker.positions()[0]
    symbol = position.symbol
    stop = next(o for o in loop.broker.orders("open") if o.symbol == symbol and o.type == "stop")
    looser, tighter = (
        submit_command(
            replay_store, TightenStop(symbol=symbol, stop_price=stop.stop_price * f), "bob"
        )
        for f in (0.9, 1.001)
    )
    step()
    assert command_row(replay_store, looser)["status"] == "denied"
    assert "stops only move up" in command_row(replay_store, looser)["result"]
    assert command_row(replay_store, tighter)["status"] == "applied"
    # The trader's level is a floor the loop keeps (a trailing stop may lift it further).
    (resting,) = [o for o in loop.broker.orders("open") if o.symbol == symbol and o.type == "stop"]
    assert resting.stop_price >= stop.stop_price * 1.001 - 1e-9
    kept = replay_store.scalar("SELECT manual_stop FROM live_positions WHERE symbol = ?", [symbol])
    assert kept == pytest.approx(stop.stop_price * 1.001)
    close = submit_command(replay_store, ClosePosition(symbol=symbol), actor="bob")
    step()
    row = command_row(replay_store, close)
    assert (row["status"], row["result"]) == (
        "applied",
        f"sell {position.qty:g} {symbol} at market sent",
    )
    assert [o.symbol for o in loop.broker.orders("open") if o.type == "stop"].count(symbol) == 0


def test_a_traders_orders_over_a_weekend_are_judged_against_mondays_session(
    replay_store, stepping
):
    loop, step, until, _ = stepping
    while loop.last_bar is None or loop.last_bar.weekday() != 4:
        step()  # to a Friday's close
    friday = loop.last_bar
    monday = f"Mon {friday + timedelta(days=3)}"
    price = float(loop.feed.traded(friday).close["GE"].iloc[-1])
    market = submit_command(replay_store, ManualOrder(symbol="GE", side="buy", qty=10), "bob")
    limit = submit_command(
        replay_store,
        ManualOrder(symbol="GE", side="buy", qty=10, order_type="limit", limit_price=price * 1.05),
        "bob",
    )
    step()  # the commands apply after Friday's close, before Monday's session

    refused = command_row(replay_store, market)
    assert refused["status"] == "denied"
    assert f"a market buy would fill at the open of {monday}" in refused["result"]
    queued = command_row(replay_store, limit)
    assert queued["status"] == "applied"
    assert f"queued for the open of {monday} 09:30 ET" in queued["result"]


def test_manual_orders_pass_the_gate_and_bad_limits_are_denied_with_the_problem(
    replay_store, stepping
):
    loop, step, until, _ = stepping
    step()
    # The loop applies commands after a close: a trader's market buy then waits for the
    # open, which the trader allows here (by default it is refused: see the next test).
    queue_buys = REPLAY_LIMITS.model_copy(update={"allow_outside_session": True})
    submit_command(replay_store, SetRiskLimits(limits=queue_buys.to_mapping()), actor="bob")
    fat_finger = submit_command(
        replay_store, ManualOrder(symbol="GE", side="buy", qty=1_000_000), actor="bob"
    )
    fine = submit_command(replay_store, ManualOrder(symbol="GE", side="buy", qty=10), actor="bob")
    bad = submit_command(replay_store, SetRiskLimits(limits={"max_positons": 3}), actor="bob")
    step()
    assert command_row(replay_store, fat_finger)["status"] == "denied"
    assert "refused" in command_row(replay_store, fat_finger)["result"]
    assert command_row(replay_store, fine)["status"] == "applied"
    assert any(o.client_order_id == f"cmd{fine}-GE-order" for o in loop.broker.orders("all"))
    assert command_row(replay_store, bad)["status"] == "denied"
    assert "did you mean 'max_positions'" in command_row(replay_store, bad)["result"]
    step()
    assert any(p.symbol == "GE" and p.qty >= 10 for p in loop.broker.positions())
    assert loop.last_bar > date(2012, 1, 3)


def test_a_trader_cancels_an_open_order_but_not_a_stop_the_loop_would_put_back(
    replay_store, stepping
):
    loop, step, until, _ = stepping
    until(lambda r: loop.broker.positions())
    held = loop.broker.positions()[0].symbol
    resting = submit_command(
        replay_store,
        ManualOrder(symbol="GE", side="buy", qty=10, order_type="limit", limit_price=10.0),
        actor="bob",
    )
    loop.apply_commands(utcnow())  # between steps: a day order rests until the next bar
    assert command_row(replay_store, resting)["status"] == "applied"
    (order,) = [
        o for o in loop.broker.orders("open") if o.client_order_id == f"cmd{resting}-GE-order"
    ]
    stop = next(o for o in loop.broker.orders("open") if o.symbol == held and o.type == "stop")
    cancel = submit_command(replay_store, CancelOrder(order_id=order.id, symbol="GE"), "bob")
    keep = submit_command(replay_store, CancelOrder(order_id=stop.id, symbol=held), "bob")
    unknown = submit_command(replay_store, CancelOrder(order_id="no-such-order"), "bob")

    loop.apply_commands(utcnow())

    row = command_row(replay_store, cancel)
    assert (row["status"], row["result"]) == (
        "applied", f"buy 10 GE limit $10.00 (order {order.id}) canceled"
    )  # fmt: skip
    assert loop.broker.get_order(order.id).status == "canceled"
    refused = command_row(replay_store, keep)
    assert refused["status"] == "denied" and "protective stop" in refused["result"]
    assert loop.broker.get_order(stop.id).is_open
    assert command_row(replay_store, unknown)["status"] == "denied"
    again = submit_command(replay_store, CancelOrder(order_id=order.id), "bob")
    loop.apply_commands(utcnow())
    assert "already canceled: nothing to cancel" in command_row(replay_store, again)["result"]


def test_with_no_loop_running_the_cancel_goes_straight_to_the_broker(sample_store):
    broker = PaperBroker(sample_store, cash=10_000, account="direct")
    order = broker.submit(
        OrderRequest(symbol="GE", side="buy", qty=5, type="limit", limit_price=2.0,
                     time_in_force="gtc", client_order_id="manual-ge")
    )  # fmt: skip
    command = CancelOrder(order_id=order.id, symbol="GE")
    command_id = submit_command(sample_store, command, "tina")

    done = cancel_directly(sample_store, broker, command_id, "tina", command)

    assert done.applied and broker.get_order(order.id).status == "canceled"
    row = command_row(sample_store, command_id)
    assert (row["status"], row["decided_by"]) == ("applied", "direct")
    assert (
        read_events(sample_store, kinds=["command.applied"], subject=str(command_id)).shape[0] == 1
    )


def test_the_books_buying_power_is_the_brokers_as_the_loop_last_read_it(replay_store, stepping):
    loop, step, until, _ = stepping
    until(lambda r: loop.broker.positions())  # money spent: buying power is no longer the cash

    shown = book_queries.held(replay_store, loop.book)

    account = loop.broker.account()
    assert shown.buying_power == pytest.approx(account.buying_power)
    assert shown.cash == pytest.approx(account.cash)


def test_a_command_canceled_after_the_loop_read_the_queue_is_never_applied(
    replay_store, stepping, monkeypatch
):
    from engine.live import loop as loop_module
    from engine.live.commands import cancel_command, parsed

    loop, step, until, _ = stepping
    until(lambda r: len(loop.broker.positions()) >= 1)
    held = {p.symbol for p in loop.broker.positions()}
    flatten = submit_command(replay_store, FlattenAll(), actor="bob")

    def read_then_cancel(rows):  # the step read the queue with what others wrote
        queue = parsed(rows)
        cancel_command(replay_store, flatten, "bob")  # the trader's click lands after the read
        return queue

    monkeypatch.setattr(loop_module, "parsed", read_then_cancel)
    step()
    row = command_row(replay_store, flatten)
    assert (row["status"], row["decided_by"]) == ("canceled", "bob")
    assert not [o for o in loop.broker.orders("all") if o.client_order_id.startswith(f"cmd{flatten}-")]
    assert held <= {p.symbol for p in loop.broker.positions()}
