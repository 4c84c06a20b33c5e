"""A trader approves a proposed entry in a real browser, and the running loop sends it.

Its own `wb app` on a fresh copy of the seeded data dir (the fixtures of test_browser.py);
this test process plays the live loop, a replay whose every entry waits for a trader.
"""

from __future__ import annotations

import json

import pytest

from engine.live import approvals
from engine.store import read_events
from tests.app.test_browser import log_in, server, shoot, visit  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def proposing_loop(store):
    """A replay over the approved configs, every entry waiting for approval, stepped until
    it proposes one; gives (the loop, the sessions left, the proposal)."""
    from engine.brokers import PaperBroker
    from engine.data import calendar
    from engine.live.clock import ReplayClock
    from engine.live.feed import StoreFeed
    from engine.live.loop import LiveLoop, LoopOptions
    from engine.research.config_registry import approved_configs

    limits = json.loads(store.scalar("SELECT value FROM trading_state WHERE key = 'risk_limits'"))
    limits.update(allow_outside_session=True, approve_entries="all")
    store.execute("UPDATE trading_state SET value = ? WHERE key = 'risk_limits'", [json.dumps(limits)])
    configs = approved_configs(store)
    clock = ReplayClock()
    broker = PaperBroker(store, cash=100_000, account="approvals", actor="loop", now=clock.now)
    feed = StoreFeed(store, sorted({s for c in configs for s in c.universe}))
    loop = LiveLoop(store, broker, configs, feed, clock, options=LoopOptions(mode="replay"))
    days = [d.date() for d in calendar.sessions("2013-05-01", "2013-12-31")]
    loop.start(days[0])
    while days:
        loop.step(days.pop(0))
        waiting = approvals.listed(store, loop.book, waiting_only=True)
        if waiting:
            return loop, days, waiting[-1]
    raise AssertionError("the replay never proposed an entry")


def test_a_trader_approves_a_proposed_entry_and_the_loop_sends_it_once(server, browser):  # noqa: F811
    url, store = server
    loop, days, proposal = proposing_loop(store)
    page = log_in(browser, url, "tina")
    visit(page, "Trading", "Orders and fills")
    page.get_by_text("Entries waiting for approval").wait_for()
    card = page.get_by_text(f"#{proposal.id} buy").first
    card.wait_for()
    page.get_by_text("Risk: ").first.wait_for()  # its reasons: signal, size, stop, target, risk
    page.get_by_text("Signal: ").first.wait_for()
    shoot(page, "trader-proposal-waiting")
    page.get_by_role("button", name=f"Approve #{proposal.id}").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("through the same risk gate").wait_for()
    dialog.get_by_role("button", name="Yes, approve it").click()
    page.get_by_text("queued: pending until the live loop applies it").wait_for()
    command = store.query(
        "SELECT id, actor, kind, status, payload FROM commands ORDER BY id DESC LIMIT 1"
    ).iloc[0]
    assert (command["actor"], command["kind"], command["status"]) == (
        "tina", "approve_proposal", "pending"
    )  # fmt: skip
    assert json.loads(command["payload"])["proposal_id"] == proposal.id

    loop.step(days.pop(0))  # the next close: the loop applies the approval, then the bar fills it
    sent = approvals.get(store, proposal.id)
    assert sent.state == "sent" and sent.state_by == "tina"
    orders = [o for o in loop.broker.orders("all") if o.client_order_id == proposal.client_order_id]
    assert len(orders) == 1 and orders[0].status == "filled"
    events = read_events(store, kinds=["proposal.sent"], subject=str(proposal.id))
    assert list(events["actor"]) == ["tina"]
    page.reload()
    page.get_by_role("heading", name="Orders and fills").wait_for()
    page.get_by_text(f"#{proposal.id} buy").first.wait_for(state="detached")
    shoot(page, "trader-proposal-sent")
    loop.stop("test finished")
    page.close()
