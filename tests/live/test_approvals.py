"""Entries a trader approves: the loop proposes them, a trader approves or rejects each.

A replay stepped session by session in this process; the trader's answers are queued
between steps as `wb approve` and the control room queue them.
"""

from __future__ import annotations

import pytest

from engine.backtest.settings import BacktestSettings
from engine.errors import InputError, NotFoundError
from engine.live import approvals
from engine.live.alerts import Notifiers
from engine.live.commands import KillSwitch, SetRiskLimits, submit_command
from engine.risk import LimitsError, limits_from_mapping
from engine.store import read_events
from tests.live.conftest import REPLAY_LIMITS, open_replay


def ask_for_approval(store, **limits) -> None:
    """Queue the replay's limits with approval asked for (the loop applies them as it starts)."""
    mapping = {**REPLAY_LIMITS.to_mapping(), "approve_entries": "all", **limits}
    submit_command(store, SetRiskLimits(limits=mapping), actor="bob")


@pytest.fixture
def stepping(replay_store):
    """A started replay whose every entry waits for a trader, and a way to step it."""
    ask_for_approval(replay_store)
    opened = open_replay(replay_store, notifier=Notifiers())
    loop, days = opened.loop, iter(opened.days)
    loop.start(opened.days[0])

    def until_proposed():
        for _ in range(120):
            report = loop.step(next(days))
            waiting = approvals.listed(replay_store, loop.book, waiting_only=True)
            if waiting:
                return report, waiting
        raise AssertionError("the loop never proposed an entry")

    return loop, (lambda: loop.step(next(days))), until_proposed


def broker_orders(loop) -> dict:
    return {o.client_order_id: o for o in loop.broker.orders("all")}


def test_every_entry_waits_as_a_proposal_with_its_reasons_and_expiry(stepping, replay_store):
    loop, step, until_proposed = stepping
    report, waiting = until_proposed()
    proposal = waiting[0]
    # Proposed, not sent: the broker has no buy, the step says what it held.
    assert not [cid for cid in report.submitted if "-buy-" in cid]
    assert proposal.client_order_id not in broker_orders(loop)
    assert proposal.state == "proposed" and proposal.config_id == replay_store.config.config_id
    assert "approve every entry" in proposal.why
    reasons = proposal.reasons
    assert "donchian_breakout entry signal" in reasons["signal"]
    assert f"{proposal.qty:g} shares" in reasons["size"]
    assert proposal.stop_price is not None and proposal.stop_price < proposal.price
    assert "lost at the stop" in reasons["risk"] and "of equity" in reasons["risk"]
    # It expires at the close of the session it was meant to fill in: the next one.
    decided = proposal.decision_bar
    assert proposal.expires_at.date() > decided
    assert proposal.expires_at.hour in (20, 21)  # 16:00 New York, in UTC
    created = read_events(replay_store, kinds=["proposal.created"])
    assert str(proposal.id) in set(created["subject"])
    # The trader hears of it at once (the alert goes to the webhook too, where one is set).
    said = [a.text for a in loop.notifier.sent if a.kind == "approval"]
    assert len(said) == len(waiting)
    assert any(f"until {proposal.expires_at:%Y-%m-%d %H:%M} UTC: buy {proposal.qty:g} "
               f"{proposal.symbol}" in text for text in said)  # fmt: skip


def test_an_approved_entry_is_sent_once_through_the_gate_and_fills_at_the_next_open(
    stepping, replay_store
):
    loop, step, until_proposed = stepping
    _, waiting = until_proposed()
    proposal = waiting[0]
    command_id = approvals.ask(replay_store, proposal.id, "tina", approve=True)
    # The same approval twice is refused while the first waits for the loop.
    with pytest.raises(InputError, match="already pending"):
        approvals.ask(replay_store, proposal.id, "tina", approve=True)
    step()  # the loop applies it before the session trades: it fills at that open
    sent = approvals.get(replay_store, proposal.id)
    assert sent.state == "sent" and sent.state_by == "tina" and sent.command_id == command_id
    order = broker_orders(loop)[proposal.client_order_id]
    assert order.status == "filled" and order.qty == pytest.approx(proposal.qty)
    command = replay_store.query("SELECT * FROM commands WHERE id = ?", [command_id]).iloc[0]
    assert command["status"] == "applied" and command["actor"] == "tina"
    assert "approved by tina" in command["result"]
    # The position it opened keeps its stop, which never waited for anyone.
    held = {p.symbol for p in loop.broker.positions()}
    assert proposal.symbol in held
    resting = [o for o in loop.broker.orders("open") if o.symbol == proposal.symbol]
    assert [o.type for o in resting] == ["stop"]
    # A later approval of the same proposal is refused: it was sent.
    with pytest.raises(InputError, match="already sent by tina"):
        approvals.ask(replay_store, proposal.id, "tina", approve=True)


def test_exits_and_stops_never_wait_for_approval(stepping, replay_store):
    loop, step, until_proposed = stepping
    _, waiting = until_proposed()
    approvals.ask(replay_store, waiting[0].id, "tina", approve=True)
    symbol = waiting[0].symbol
    for _ in range(80):
        step()
        if not any(p.symbol == symbol for p in loop.broker.positions()):
            break
    else:
        raise AssertionError("the approved position never closed")
    sells = [o for o in loop.broker.orders("all") if o.symbol == symbol and o.side == "sell"]
    assert any(o.status == "filled" for o in sells)
    proposed = {p.client_order_id for p in approvals.listed(replay_store, loop.book)}
    assert not [o for o in sells if o.client_order_id in proposed]
    assert all("-buy-" in cid for cid in proposed)


def test_a_rejected_proposal_is_audited_and_never_sent(stepping, replay_store):
    loop, step, until_proposed = stepping
    _, waiting = until_proposed()
    proposal = waiting[0]
    with pytest.raises(InputError, match="say why"):
        approvals.ask(replay_store, proposal.id, "tina", approve=False)
    approvals.ask(replay_store, proposal.id, "tina", approve=False, reason="earnings tonight")
    step()
    rejected = approvals.get(replay_store, proposal.id)
    assert rejected.state == "rejected" and rejected.note == "earnings tonight"
    assert rejected.state_by == "tina"
    with pytest.raises(InputError, match="already rejected by tina: earnings tonight"):
        approvals.ask(replay_store, proposal.id, "tina", approve=True)
    # An approval that reached the queue anyway (a second tab) is denied by the loop.
    from engine.live.commands import ApproveProposal

    late = submit_command(replay_store, ApproveProposal(proposal_id=proposal.id), "tina")
    step()
    row = replay_store.query("SELECT status, result FROM commands WHERE id = ?", [late]).iloc[0]
    assert row["status"] == "denied" and "already rejected" in row["result"]
    assert proposal.client_order_id not in broker_orders(loop)
    events = read_events(replay_store, kinds=["proposal.rejected"])
    assert list(events["actor"]) == ["tina"]


def test_a_proposal_no_trader_approved_expires_and_is_never_sent(stepping, replay_store):
    loop, step, until_proposed = stepping
    _, waiting = until_proposed()
    proposal = waiting[0]
    step()  # the session it was meant for trades and closes: too late
    expired = approvals.get(replay_store, proposal.id)
    assert expired.state == "expired" and "no trader approved it" in expired.note
    with pytest.raises(InputError, match="already expired"):
        approvals.ask(replay_store, proposal.id, "tina", approve=True)
    from engine.live.commands import ApproveProposal

    late = submit_command(replay_store, ApproveProposal(proposal_id=proposal.id), "tina")
    step()
    row = replay_store.query("SELECT status FROM commands WHERE id = ?", [late]).iloc[0]
    assert row["status"] == "denied"
    assert proposal.client_order_id not in broker_orders(loop)
    assert str(proposal.id) in set(read_events(replay_store, kinds=["proposal.expired"])["subject"])


def test_an_unknown_proposal_is_refused_with_a_hint(replay_store):
    with pytest.raises(NotFoundError, match="no proposal 999") as caught:
        approvals.ask(replay_store, 999, "tina", approve=True)
    assert "wb proposals" in caught.value.hint


def test_the_gate_judges_an_approved_entry_again_when_it_is_sent(stepping, replay_store):
    loop, step, until_proposed = stepping
    _, waiting = until_proposed()
    proposal = waiting[0]
    submit_command(replay_store, KillSwitch(on=True), "bob")
    approvals.ask(replay_store, proposal.id, "tina", approve=True)
    step()
    denied = approvals.get(replay_store, proposal.id)
    assert denied.state == "denied" and "kill" in denied.note.lower()
    assert proposal.client_order_id not in broker_orders(loop)


def test_entries_above_a_notional_wait_and_smaller_ones_go(replay_store):
    ask_for_approval(replay_store, approve_entries="above", approve_entries_above=30_000)
    opened = open_replay(replay_store)
    loop = opened.loop
    loop.start(opened.days[0])
    sent, held = [], []
    for day in opened.days[:50]:
        report = loop.step(day)
        sent += [cid for cid in report.submitted if "-buy-" in cid]
    held = approvals.listed(replay_store, loop.book)
    assert held and sent, "some entries should go and some wait"
    assert all(p.notional > 30_000 and "above the $30,000" in p.why for p in held)
    orders = {o.client_order_id: o for o in loop.broker.orders("all")}
    assert not {p.client_order_id for p in held} & set(orders)
    # What went was worth less at its decision price (it filled at the next open).
    assert all(orders[cid].qty * orders[cid].filled_avg_price < 30_000 * 1.05 for cid in sent)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"approve_entries": "above"}, "needs approve_entries_above"),
        ({"approve_entries": "all", "approve_entries_above": 5000}, "set approve_entries to 'above'"),
        ({"approve_entries": "above", "approve_entries_above": -5}, "greater than 0"),
        ({"approve_entries": "sometimes"}, "'off', 'all' or 'above'"),
        ({"approval_expires": "9:25am"}, "nor a New York time HH:MM"),
    ],
)
def test_a_bad_approval_setting_is_refused_with_what_to_do(limits, message):
    with pytest.raises(LimitsError, match=message):
        limits_from_mapping(limits)


def test_a_config_may_ask_for_approval_and_a_bad_one_is_refused():
    settings = BacktestSettings(approve_entries="above", approve_entries_above=10_000)
    assert settings.approve_entries_above == 10_000
    with pytest.raises(ValueError, match="approve_entries 'above' goes with approve_entries_above"):
        BacktestSettings(approve_entries="above")


def test_a_set_time_ends_a_proposal_sooner_on_the_session_it_would_fill_in():
    from datetime import date, datetime

    from engine.live.clock import session_bars

    assert approvals.expires_at(date(2012, 3, 1), "next_bar") == datetime(2012, 3, 2, 21)
    # 09:25 New York on the next session (EST: 14:25 UTC), before the open; a Friday's
    # entry waits until Monday's.
    assert approvals.expires_at(date(2012, 3, 1), "09:25") == datetime(2012, 3, 2, 14, 25)
    assert approvals.expires_at(date(2012, 3, 9), "09:25") == datetime(2012, 3, 12, 13, 25)
    # An intraday entry: the next bar's close unless the set time on its session is sooner.
    bar = session_bars("2012-03-01", "5m")[10]  # 10:20-10:25
    assert approvals.expires_at(bar, "next_bar") == datetime(2012, 3, 1, 15, 30)
    assert approvals.expires_at(bar, "10:28") == datetime(2012, 3, 1, 15, 28)
