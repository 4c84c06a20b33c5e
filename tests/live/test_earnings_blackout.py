"""The live loop reads the stored earnings dates while the earnings blackout is on."""

from __future__ import annotations

import json

from engine.data import calendar, earnings
from engine.live.commands import SetRiskLimits, submit_command
from engine.live.runner import run_replay
from tests.live.conftest import REPLAY_LIMITS, open_replay


def test_a_replay_under_the_blackout_buys_nothing_that_reports_within_a_session(
    replay_store, tmp_path
):
    # Every universe symbol "reports" every day of January 2012: no day is clear of one.
    universe = replay_store.config.universe
    days = calendar.sessions("2012-01-03", "2012-02-03")
    path = tmp_path / "earnings.csv"
    path.write_text(
        "symbol,date\n" + "".join(f"{s},{d.date()}\n" for s in universe for d in days)
    )
    earnings.import_csv(replay_store, path, actor="ana")
    limits = REPLAY_LIMITS.model_copy(update={"earnings_blackout_sessions": 1})
    submit_command(replay_store, SetRiskLimits(limits=limits.to_mapping()), actor="bob")

    opened = open_replay(replay_store, start="2012-01-03", end="2012-01-31")
    run_replay(opened.loop, opened.days)

    bought = replay_store.scalar(
        "SELECT count(*) FROM live_orders WHERE side = 'buy' AND filled_qty > 0"
    )
    denied = [
        json.loads(p)
        for p in replay_store.query("SELECT payload FROM events WHERE kind = 'order.denied'")[
            "payload"
        ]
    ]
    assert bought == 0
    assert denied and {d["rule"] for d in denied} == {"earnings_blackout"}
    assert all("reports earnings on" in d["reason"] for d in denied)
    assert all(d["side"] == "buy" for d in denied)
