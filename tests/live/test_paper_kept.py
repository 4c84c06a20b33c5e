"""A replay on the paper broker: the account it keeps in memory is the store's at every step.

Through an entry, its stop, a trader's cancel of that stop from a second broker object
(the loop puts it back), a 4:1 split and a dividend.
"""

from __future__ import annotations

from engine.brokers import PaperBroker
from engine.live.runner import run_replay
from engine.live.setup import open_loop
from tests.brokers.test_paper_memory import assert_kept_is_the_store
from tests.live.test_corporate_actions import SESSIONS, split_store  # noqa: F401


def test_a_replay_keeps_the_paper_account_as_the_store_has_it(split_store):  # noqa: F811
    store = split_store
    opened = open_loop(store, mode="replay", config_ids=[store.config.config_id],
                       start=SESSIONS[0], end=SESSIONS[-1])  # fmt: skip
    broker = opened.loop.broker
    trader = PaperBroker(store, account=broker.account_name, actor="trader")
    canceled = []

    def on_step(_report):
        assert_kept_is_the_store(broker)
        stops = [o for o in trader.orders("open") if o.type == "stop"]
        if stops and not canceled:
            canceled.append(trader.cancel(stops[0].id))

    run_replay(opened.loop, opened.days, on_step=on_step)

    assert canceled and canceled[0].status == "canceled"
    (stop,) = [o for o in broker.orders("open") if o.type == "stop"]  # the loop put one back
    assert stop.id != canceled[0].id
    assert {a[1] for a in broker._kept.applied} == {"split", "dividend"}
