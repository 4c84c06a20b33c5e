"""Logging in, roles, and the trader's overrides becoming commands in the trader's name."""

from __future__ import annotations

import json
import time

import pytest

from app import facade
from app.auth import Visitor, local_visitor
from engine.brokers import PaperBroker
from engine.errors import InputError
from engine.live.commands import KillSwitch
from engine.research.config_registry import get_config
from engine.risk import states
from engine.store import read_events
from tests.app.conftest import PAGES, log_in, open_app, page, texts

OVERRIDE_KEYS = {
    "kill_on",
    "kill_off",
    "halt_trading",
    "flatten_all",
    "resume_trading",
    "ticket_review",
    "cfg_review",
    "limits_review",
    "start_run",
}


def commands(store):
    return store.query(
        "SELECT id, actor, kind, payload, status, decided_by, result FROM commands ORDER BY id"
    )


def seeded_ids(store) -> set[int]:
    return set(commands(store)["id"])


def commands_since(store, before: set[int]):
    """The commands sent since ``before`` (the ids there were then), oldest first."""
    sent = commands(store)
    return sent[~sent["id"].isin(before)]


def keys(at) -> set[str]:
    return {w.key for w in at.button if w.key}


def test_login_is_required_when_users_are_configured(on_seeded, with_users):
    at = open_app()
    assert at.text_input(key="login_user") is not None
    assert not keys(at) - {"login_submit"}  # nothing but the login form
    assert "Equity" not in texts(at)

    log_in(at, "tina", "not her password")
    assert any("Wrong user or password" in e.value for e in at.error)
    assert "kill_on" not in keys(at)

    log_in(at, "tina")
    assert "kill_on" in keys(at) and "Equity" in texts(at)


def test_a_viewer_sees_every_page_but_no_override_control(on_seeded, with_users):
    at = log_in(open_app(), "vic")
    for name in PAGES:
        page(at, name)
        assert not at.exception, name
        shown = keys(at)
        assert not shown & OVERRIDE_KEYS, (name, shown & OVERRIDE_KEYS)
        assert not {k for k in shown if k.startswith(("close_", "tighten_"))}, name
    # Even called directly, the facade refuses a viewer.
    with pytest.raises(InputError, match="viewer"):
        facade.submit(on_seeded, KillSwitch(on=True), Visitor("vic", "viewer"))


def test_a_traders_kill_switch_is_a_pending_command_in_their_name(on_seeded, with_users):
    before = seeded_ids(on_seeded)
    at = log_in(open_app(), "tina")
    at.button(key="kill_on").click().run()
    assert not (seeded_ids(on_seeded) - before)  # nothing is sent before the confirmation
    # The confirmation promises what the gate does: entries stop, exits and stops still go.
    assert any(states.KILL_SWITCH_ON in m.value for m in at.markdown)
    at.button(key="confirm_yes").click().run()
    new = commands_since(on_seeded, before)
    assert list(zip(new["kind"], new["actor"], new["status"], strict=True)) == [
        ("kill_switch", "tina", "pending")
    ]
    assert json.loads(new["payload"].iloc[0]) == {"kind": "kill_switch", "on": True}
    assert any(f"Command #{new['id'].iloc[0]} queued" in s.value for s in at.toast)
    events = read_events(on_seeded, kinds=["command.submitted"], actor="tina")
    assert len(events) == 1


def test_a_halt_is_its_own_control_and_says_that_exits_stop_too(on_seeded, with_users):
    before = seeded_ids(on_seeded)
    at = log_in(open_app(), "tina")
    at.button(key="halt_trading").click().run()
    assert any(states.HALT in m.value for m in at.markdown)
    at.button(key="confirm_yes").click().run()
    new = commands_since(on_seeded, before)
    assert list(zip(new["kind"], new["actor"], new["status"], strict=True)) == [
        ("halt", "tina", "pending")
    ]


def test_cancelling_a_confirmation_sends_nothing(on_seeded):
    before = seeded_ids(on_seeded)
    at = open_app()
    at.button(key="flatten_all").click().run()
    at.button(key="confirm_no").click().run()
    assert seeded_ids(on_seeded) == before
    assert "confirm_yes" not in keys(at)


def test_manual_order_ticket_checks_prices_before_asking_to_confirm(on_seeded):
    before = seeded_ids(on_seeded)
    at = page(open_app(), "orders")
    at.selectbox(key="ticket_symbol").set_value("GE")
    at.number_input(key="ticket_qty").set_value(50)
    at.selectbox(key="ticket_type").set_value("limit")
    at.number_input(key="ticket_limit").set_value(200.0)  # GE traded near $23: a misplaced digit
    at.button(key="ticket_review").click().run()
    assert any("looks like a typo" in e.value for e in at.error)
    assert "confirm_yes" not in keys(at)

    at.number_input(key="ticket_limit").set_value(22.5)
    at.button(key="ticket_review").click().run()
    at.button(key="confirm_yes").click().run()
    new = commands_since(on_seeded, before)
    assert len(new) == 1 and new["actor"].iloc[0] == local_visitor().name
    order = json.loads(new["payload"].iloc[0])
    assert (
        order["kind"],
        order["symbol"],
        order["side"],
        order["qty"],
        order["order_type"],
        order["limit_price"],
    ) == ("manual_order", "GE", "buy", 50.0, "limit", 22.5)


def test_stops_only_tighten_from_the_positions_page(on_seeded):
    book = facade.book(on_seeded).positions.set_index("symbol")
    symbol = book["stop_price"].dropna().index[0]
    stop, price = book.loc[symbol, "stop_price"], book.loc[symbol, "price"]
    before = seeded_ids(on_seeded)
    at = page(open_app(), "positions")
    at.number_input(key=f"stop_{symbol}").set_value(round(stop - 1, 2))
    at.button(key=f"tighten_{symbol}").click().run()
    assert any("would loosen it" in e.value for e in at.error)
    tighter = round((stop + price) / 2, 2)
    at.number_input(key=f"stop_{symbol}").set_value(tighter)
    at.button(key=f"tighten_{symbol}").click().run()
    new = commands_since(on_seeded, before)
    assert [json.loads(p) for p in new["payload"]] == [
        {"kind": "tighten_stop", "symbol": symbol, "stop_price": tighter}
    ]


def test_approving_a_config_records_who_and_why(on_seeded, with_users):
    validated = on_seeded.scalar("SELECT config_id FROM configs WHERE status = 'validated'")
    at = page(log_in(open_app(), "tina"), "strategies")
    at.selectbox(key="cfg_chosen").set_value(validated).run()
    at.text_input(key=f"cfg_reason_{validated}").input("walk-forward holds up")
    at.button(key="cfg_review").click().run()
    assert any("Choose what to do" in e.value for e in at.error)  # no action is preselected
    at.button_group(key=f"cfg_action_{validated}").set_value("approve")
    at.button(key="cfg_review").click().run()
    assert any("The live loop may trade it" in m.value for m in at.markdown)  # the confirmation
    at.button(key="confirm_yes").click().run()
    assert get_config(on_seeded, validated).status == "approved"
    event = read_events(on_seeded, kinds=["config.approved"], subject=validated).iloc[0]
    assert (
        event["actor"] == "tina" and json.loads(event["payload"])["why"] == "walk-forward holds up"
    )


def test_new_risk_limits_pass_the_limits_validation_before_they_are_sent(on_seeded):
    before = seeded_ids(on_seeded)
    at = page(open_app(), "settings")
    at.number_input(key="limit_weekly_soft_loss").set_value(9.0)  # percent: past the 8% hard halt
    at.button(key="limits_review").click().run()
    assert any("weekly_soft_loss" in e.value for e in at.error)
    assert seeded_ids(on_seeded) == before

    at.number_input(key="limit_weekly_soft_loss").set_value(5.0)
    at.number_input(key="limit_max_positions").set_value(4)
    at.button(key="limits_review").click().run()
    at.button(key="confirm_yes").click().run()
    new = commands_since(on_seeded, before)
    sent = json.loads(new["payload"].iloc[0])
    assert sent["kind"] == "set_risk_limits" and sent["limits"]["max_positions"] == 4
    assert sent["limits"]["risk_per_trade"] == 0.008  # the limits in force are kept


def test_flatten_without_a_running_loop_goes_straight_to_the_broker(on_seeded):
    from tests.app.seed import make_stale

    make_stale(on_seeded)
    held = {p.symbol: p.qty for p in PaperBroker(on_seeded).positions()}
    at = open_app()
    at.button(key="flatten_all").click().run()
    assert any("straight to the paper broker" in m.value for m in at.markdown)
    at.button(key="confirm_yes").click().run()
    flatten = commands(on_seeded).query("kind == 'flatten_all'").iloc[-1]
    assert (flatten["status"], flatten["decided_by"]) == ("applied", "direct")
    sells = {o.symbol: o.qty for o in PaperBroker(on_seeded).orders("open") if o.side == "sell"}
    assert sells == held
    assert commands(on_seeded).query("kind == 'kill_switch'").iloc[-1]["status"] == "pending"
    assert any("Flattened directly" in s.value for s in at.toast)


def test_research_form_refuses_bad_parameters_and_starts_good_runs(on_seeded, with_users):
    at = page(log_in(open_app(), "tina"), "research")
    at.text_input(key="param_momentum_check_symbols").input("[]")
    at.button(key="start_run").click().run()
    assert any("names no tickers" in e.value for e in at.error)

    at.text_input(key="param_momentum_check_symbols").input("[GE, F]")
    at.number_input(key="param_momentum_check_lookback").set_value(40)
    at.button(key="start_run").click().run()
    assert any("Started momentum_check.ipynb" in s.value for s in at.success)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = on_seeded.query(
            "SELECT actor, parameters, status FROM research_runs WHERE actor = 'tina'"
        )
        if len(runs) and runs["status"].iloc[0] != "running":
            break
        time.sleep(0.2)  # a run of the tiny notebook takes seconds: look often
    assert list(runs["status"]) == ["succeeded"]
    assert json.loads(runs["parameters"].iloc[0]) == {"symbols": ["GE", "F"], "lookback": 40}


def test_the_executed_notebook_opens_as_html(on_seeded):
    at = page(open_app(), "research")
    run_id = at.selectbox(key="run_chosen").value
    at.toggle(key=f"open_{run_id}").set_value(True).run()
    [frame] = at.get("iframe")
    assert "weekly: 2 symbols, lookback 30" in str(frame.proto)


def test_flattening_an_empty_store_sends_nothing_and_opens_no_account(on_empty):
    at = open_app()
    at.button(key="flatten_all").click().run()
    at.button(key="confirm_yes").click().run()
    assert any("nothing to flatten" in e.value for e in at.error)
    assert on_empty.scalar("SELECT count(*) FROM commands") == 0
    assert on_empty.scalar("SELECT count(*) FROM paper_accounts") == 0


def test_the_settings_form_asks_for_approval_of_entries_above_a_value(on_seeded):
    before = seeded_ids(on_seeded)
    at = page(open_app(), "settings")
    assert at.text_input(key="limit_approval_expires").value == "next_bar"
    at.selectbox(key="limit_approve_entries").set_value("above")
    at.button(key="limits_review").click().run()
    assert any("needs approve_entries_above" in e.value for e in at.error)
    assert seeded_ids(on_seeded) == before

    at.number_input(key="limit_approve_entries_above").set_value(15_000.0)
    at.text_input(key="limit_approval_expires").set_value("09:25")
    at.button(key="limits_review").click().run()
    at.button(key="confirm_yes").click().run()
    sent = json.loads(commands_since(on_seeded, before)["payload"].iloc[0])["limits"]
    assert (sent["approve_entries"], sent["approve_entries_above"], sent["approval_expires"]) == (
        "above", 15_000.0, "09:25"
    )  # fmt: skip
