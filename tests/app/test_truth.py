"""The control room tells the truth: the right book, numbers as a trader reads them, and
honest feedback on commands, denials and flattens (issue 15), under Streamlit's AppTest."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pyarrow as pa

from engine.store import append_event
from engine.store.events import utcnow
from tests.app.conftest import log_in, open_app, page, texts
from tests.app.seed import LOOP_ID


def shown(at, column: str):
    """The text a person reads in the table that has ``column`` (its display values)."""
    for element in at.dataframe:
        data = element.proto.arrow_data
        if column not in element.value.columns:
            continue
        if data.HasField("styler"):
            values = pa.ipc.open_stream(data.styler.display_values).read_pandas()
            values.columns = element.value.columns
            return values
        return element.value.astype(str)
    raise AssertionError(f"no table with {column}")


def metric(at, label_start: str):
    found = [m for m in at.metric if m.label.startswith(label_start)]
    assert found, f"no metric {label_start!r}: {[m.label for m in at.metric]}"
    return found[0]


def last_bar(store) -> date:
    day = store.scalar("SELECT max(bar_date) FROM position_snapshots WHERE loop_id = ?", [LOOP_ID])
    return pd.Timestamp(day).date()


def held(store) -> list[str]:
    return store.query(
        "SELECT symbol FROM position_snapshots WHERE loop_id = ? AND bar_date = ? AND qty <> 0"
        " ORDER BY symbol",
        [LOOP_ID, last_bar(store)],
    )["symbol"].tolist()


def second_book(store, equity: float = 55_555.0) -> str:
    """Another book in the data dir: a replay of 2009 that stopped an hour ago."""
    started = utcnow() - timedelta(hours=2)

    def write(con):
        con.execute(
            "INSERT INTO heartbeats (loop_id, mode, broker, pid, started_at, beat_at, bar_date,"
            " trading_state, configs, stopped_at, book) VALUES ('replay-2009', 'replay', 'paper',"
            " 1, ?, ?, DATE '2009-12-11', 'ACTIVE', '[]', ?, 'paper:replay2009')",
            [started, started + timedelta(hours=1), started + timedelta(hours=1)],
        )
        for n, day in enumerate(["2009-12-10", "2009-12-11"]):
            con.execute(
                "INSERT INTO equity_snapshots VALUES ('replay-2009', ?, ?, ?, ?, 0)",
                [started + timedelta(minutes=n), day, equity - 100 + 100 * n, equity],
            )

    store.transaction(write)
    return "paper:replay2009"


# -- the right book, live -------------------------------------------------------------------


def test_the_book_picker_shows_the_loops_book_then_the_one_picked(on_seeded):
    other = second_book(on_seeded)
    at = open_app()
    running = metric(at, "Equity").value
    assert running != "$55,555"  # the running loop's book, not the newest-started one
    assert "paper:paper" in texts(at)  # the strip names the loop's book beside its bar
    at.selectbox(key="book").set_value(other).run()
    assert metric(at, "Equity").value == "$55,555"
    assert metric(at, "P&L of bar 2009-12-11").value == "+$100"
    page(at, "positions")
    assert "No open positions" in texts(at) and other in texts(at)
    assert not [b.key for b in at.button if (b.key or "").startswith("close_")]
    page(at, "risk")
    assert f"Book {other}" in texts(at)


def test_close_on_a_position_that_has_gone_says_so_and_sends_nothing(on_seeded):
    symbol = held(on_seeded)[0]
    at = page(open_app(), "positions")
    at.button(key=f"close_{symbol}").click().run()
    on_seeded.execute(  # stopped out while the trader was reading the confirmation
        "DELETE FROM position_snapshots WHERE symbol = ? AND bar_date = ?",
        [symbol, last_bar(on_seeded)],
    )
    before = on_seeded.scalar("SELECT count(*) FROM commands")
    at.button(key="confirm_yes").click().run()
    assert any(f"{symbol} is no longer held" in e.value for e in at.error)
    assert on_seeded.scalar("SELECT count(*) FROM commands") == before
    at.button(key="confirm_no").click().run()
    assert f"close_{symbol}" not in {b.key for b in at.button}  # no control without its row


# -- true numbers ---------------------------------------------------------------------------


def test_a_position_without_a_stop_has_unbounded_risk_and_a_weight_over_the_cap_is_marked(
    on_seeded,
):
    naked, *_ = held(on_seeded)
    on_seeded.execute(
        "UPDATE position_snapshots SET stop_price = NULL WHERE symbol = ? AND bar_date = ?",
        [naked, last_bar(on_seeded)],
    )
    on_seeded.execute(  # a 5% position cap: every seeded position (about 15%) is over it
        "UPDATE trading_state SET value = ? WHERE key = 'risk_limits'",
        [json.dumps({"max_positions": 6, "risk_per_trade": 0.008, "max_position_pct": 0.05})],
    )
    at = open_app()
    assert metric(at, "Open risk").value == "Unbounded"
    assert naked in metric(at, "Open risk").delta
    page(at, "positions")
    rows = shown(at, "risk_to_stop").set_index("symbol")
    assert rows.loc[naked, "risk_to_stop"] == "unbounded"
    assert rows.loc[naked, "stop_price"] == "none"
    assert rows["weight"].str.contains("over the 5% cap").all()
    assert rows["market_value"].str.startswith("$").all()
    assert "None" not in rows.to_csv() and "nan" not in rows.to_csv()


def test_todays_pnl_says_which_bar_it_is_for(on_seeded):
    at = open_app()
    assert metric(at, f"P&L of bar {last_bar(on_seeded)}")


def test_settings_show_limits_as_percent_and_dollars(on_seeded, with_users):
    at = page(log_in(open_app(), "vic"), "settings")
    limits = shown(at, "meaning").set_index("limit")["value"]
    assert limits["max position pct"] == "20%"
    assert limits["max order notional"] == "$25,000"
    assert limits["max price"] == "none"


def test_audit_and_history_read_as_words_with_the_bar_beside_the_wall_time(on_seeded):
    on_seeded.transaction(
        lambda con: append_event(
            con, "order.denied", LOOP_ID, "AAPL",
            {"rule": "max_positions", "reason": "6 positions held", "bar": "2009-12-11",
             "limit_price": None, "book": "paper:paper"},
        )
    )  # fmt: skip
    at = page(open_app(), "audit")
    events = shown(at, "payload")
    row = events[events["kind"] == "order.denied"].iloc[0]
    assert row["bar"] == "2009-12-11"
    assert (
        row["payload"]
        == "rule: max_positions · reason: 6 positions held · bar: 2009-12-11 · book: paper:paper"
    )
    assert not events["payload"].str.contains('[{}"]|None', regex=True).any()
    page(at, "strategies")
    history = shown(at, "actor")
    assert not history["payload"].str.contains('[{}"]', regex=True).any()


# -- honest feedback ------------------------------------------------------------------------


def pending_kill_switch(store) -> int:
    return int(store.scalar(
        "SELECT id FROM commands WHERE kind = 'kill_switch' AND status = 'pending'"
    ))  # fmt: skip


def test_a_pending_command_shows_in_the_strip_and_alerts_and_can_be_cancelled(
    on_seeded, with_users
):
    waiting = pending_kill_switch(on_seeded)  # the seed's "kill switch off", not applied yet
    at = log_in(open_app(), "tina")
    strip = texts(at)
    assert "Kill switch: off · pending OFF" in strip and "Pending: kill switch off" in strip
    assert any(f"#{waiting} kill switch off" in a.value for a in at.info)  # Alerts say it too
    at.button(key=f"cancel_command_{waiting}").click().run()
    status = on_seeded.scalar("SELECT status FROM commands WHERE id = ?", [waiting])
    assert status == "canceled"
    assert "pending OFF" not in texts(at)
    assert f"cancel_command_{waiting}" not in {b.key for b in at.button}


def test_the_same_command_cannot_be_queued_twice_by_accident(on_seeded):
    at = open_app()
    for _ in range(2):
        at.button(key="kill_on").click().run()
        at.button(key="confirm_yes").click().run()
    ons = on_seeded.query(
        "SELECT id FROM commands WHERE kind = 'kill_switch' AND status = 'pending'"
        " AND json_extract(payload, '$.on')::BOOLEAN"
    )
    assert len(ons) == 1
    assert any("already pending" in e.value for e in at.error)


def test_a_cancel_that_comes_too_late_leaves_the_loops_outcome_on_record(store):
    from engine.live.commands import KillSwitch, cancel_command, resolve_command, submit_command

    asked = submit_command(store, KillSwitch(on=True), "tina")
    assert cancel_command(store, asked, "tina")
    resolve_command(store, asked, applied=True, result="kill switch on", by="loop-1")
    status, result = store.query("SELECT status, result FROM commands WHERE id = ?", [asked]).iloc[
        0
    ]
    assert (status, result) == ("applied", "kill switch on (a cancel came too late)")
    assert not cancel_command(store, asked, "tina")  # decided: nothing left to cancel


def test_denied_orders_are_orders_with_their_reasons_and_a_burst_is_an_alert(on_seeded):
    for n in range(6):
        on_seeded.transaction(
            lambda con, n=n: append_event(
                con, "order.denied", LOOP_ID, "CAT",
                {"rule": "position_cap", "reason": "CAT would be 31% of equity (cap 20%)",
                 "symbol": "CAT", "side": "buy", "requested_qty": 100 + n, "order_type": "market",
                 "bar": "2013-06-28", "book": "paper:paper"},
            )
        )  # fmt: skip
    at = open_app()
    assert any("6 orders denied by the risk gate" in e.value for e in at.error)
    page(at, "orders")
    orders = shown(at, "time_in_force")
    denied = orders[orders["status"] == "denied"]
    assert len(denied) == 6
    assert denied["reason"].str.contains("position_cap: CAT would be 31% of equity").all()
    assert orders["limit_price"].isin(["—"]).any() and orders["filled_avg_price"].str.startswith("$").any()
    for table in (orders, shown(at, "slippage_bps")):
        assert "None" not in table.to_csv() and "nan" not in table.to_csv()
    at.selectbox(key="of_status").set_value("denied").run()
    assert set(shown(at, "time_in_force")["status"]) == {"denied"}


def test_a_direct_flatten_says_which_positions_the_broker_still_holds(on_seeded):
    from tests.app.seed import make_stale

    make_stale(on_seeded)
    at = open_app()
    at.button(key="flatten_all").click().run()
    at.button(key="confirm_yes").click().run()
    # The paper broker fills market orders at the next bar: nothing is closed yet, and it says so.
    report = [e.value for e in at.error if "Flattened directly" in e.value]
    assert report and "STILL OPEN at the broker" in report[0]
    assert all(symbol in report[0] for symbol in held(on_seeded))


def test_a_strategy_is_named_with_a_short_id_on_positions_and_orders(on_seeded):
    at = page(open_app(), "positions")
    strategies = set(shown(at, "risk_to_stop")["config_id"])
    assert strategies and all(s.startswith("sma_crossover · ") and len(s) == 24 for s in strategies)
