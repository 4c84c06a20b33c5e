"""Every page under Streamlit's AppTest, on a seeded store and on an empty one."""

from __future__ import annotations

import json
from datetime import date

import pytest

from engine.brokers import PaperBroker
from engine.research.config_registry import list_configs, save_proposal
from engine.research.validation import Verdict
from engine.store import read_events
from tests.app.conftest import PAGES, open_app, page, texts
from tests.config.factories import make_config, make_evidence

TABLES = {  # a column that tells each page's table apart
    "positions_table": "risk_to_stop",
    "fills_table": "slippage_bps",
    "orders_table": "time_in_force",
    "limits_table": "in_force",
    "var_table": "cvar",
    "stress_table": "buying_power_after",
    "configs_table": "deflated_sharpe",
    "runs_table": "run_id",
    "events_table": "payload",
}


def table(at, name: str):
    """The DataFrame behind the page's table ``name`` (AppTest does not expose table keys)."""
    for element in at.dataframe:
        if TABLES[name] in element.value.columns:
            return element.value
    raise AssertionError(
        f"no {name} on the page; tables: {[list(e.value.columns) for e in at.dataframe]}"
    )


def buttons(at) -> set[str]:
    return {b.key for b in at.button if b.key}


def test_every_page_renders_the_seeded_store_and_never_shows_broker_keys(on_seeded, app_env):
    app_env.setenv("APCA_API_KEY_ID", "KEY-do-not-show-77aa")
    app_env.setenv("APCA_API_SECRET_KEY", "SECRET-do-not-show-8c1f")
    at = open_app()
    for name in PAGES:
        page(at, name)
        assert not at.exception, f"{name}: {[e.value for e in at.exception]}"
        rendered = texts(at)
        assert len(rendered) > 200, f"{name} rendered next to nothing"
        assert "do-not-show" not in rendered, name
    assert "keys are set in the environment (never shown)" in texts(at)  # Settings says so


def test_positions_page_shows_what_the_broker_holds_with_risk_to_stop(on_seeded):
    at = page(open_app(), "positions")
    shown = table(at, "positions_table").set_index("symbol")
    held = {p.symbol: p.qty for p in PaperBroker(on_seeded).positions()}
    assert held and dict(shown["qty"]) == held
    with_stop = shown[shown["stop_price"].notna()]
    expected = (with_stop["price"] - with_stop["stop_price"]) * with_stop["qty"]
    assert (with_stop["risk_to_stop"] - expected).abs().max() < 1e-6
    # Each held symbol gets its own close and tighten-stop controls.
    assert {f"close_{s}" for s in held} | {f"tighten_{s}" for s in held} <= buttons(at)


def test_orders_page_measures_slippage_against_the_decision_bar(on_seeded):
    at = page(open_app(), "orders")
    fills = table(at, "fills_table")
    assert len(fills) > 0 and fills["decision_price"].notna().all()
    buys = fills[fills["side"] == "buy"]
    paid_more = buys["price"] > buys["decision_price"]
    assert ((buys["slippage_bps"] > 0) == paid_more).all()
    orders = table(at, "orders_table")
    assert "accepted" in set(orders["status"])  # the resting GE limit order


def test_risk_page_sets_each_limit_beside_its_use(on_seeded):
    at = page(open_app(), "risk")
    limits = table(at, "limits_table").set_index("limit")
    held = len(PaperBroker(on_seeded).positions())
    assert limits.loc["Open positions", "in_force"] == "6"  # the seeded limits, not the default 5
    assert limits.loc["Open positions", "in_use"] == str(held)
    var = table(at, "var_table")
    assert len(var) == 4
    for _, rows in var.groupby("method"):
        ordered = rows.sort_values("confidence")
        assert ordered["var"].is_monotonic_increasing  # 99% loses more than 95%
        assert (ordered["cvar"] >= ordered["var"] - 1e-9).all()


def test_risk_page_stresses_the_book_the_loop_marked(on_seeded):
    from app import facade

    at = page(open_app(), "risk")
    stress = table(at, "stress_table").set_index("scenario")
    book = facade.book(on_seeded)
    assert list(stress.index) == [
        "2008 worst day", "2008 worst week", "March 2020", "1987-style day",
        "Every position -10%", "One symbol -30% overnight", "Correlations to one",
    ]  # fmt: skip
    held_value = book.equity - book.cash
    assert stress.loc["Every position -10%", "pnl"] == pytest.approx(-0.10 * held_value)
    assert stress.loc["Every position -10%", "pnl_pct"] == pytest.approx(-0.10 * held_value / book.equity)
    assert (stress["cash_after"] >= book.cash).all()  # stops only turn shares into cash
    rendered = texts(at)
    assert "as the live loop replay-seed marked it on" in rendered
    assert "moved with the S&P 500 (-20.5%" in rendered  # 1987 is not in the sample bars
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("P&L by scenario" in spec for spec in charts)


def test_strategies_page_lists_the_registry_with_its_evidence(on_seeded):
    at = page(open_app(), "strategies")
    shown = table(at, "configs_table")
    stored = {r.config_id: r.status for r in list_configs(on_seeded)}
    # By the strategy's name and a short id, never by a hash alone.
    assert dict(zip(shown["config_id"], shown["status"], strict=True)) == {
        i[:8]: status for i, status in stored.items()
    }
    assert set(shown["strategy"]) == {r.strategy for r in list_configs(on_seeded)}
    rejected = next(i for i, status in stored.items() if status == "rejected")
    at.selectbox(key="cfg_chosen").set_value(rejected).run()
    assert "Failed validation: PBO 0.70 is above 0.50" in [w.value for w in at.warning]


def test_strategies_page_shows_confidence_provenance_and_a_change_of_code(on_seeded):
    from engine.config.models import Confidence, Interval, StrategyConfig
    from engine.research.config_registry import save_proposal
    from engine.research.validation import Verdict
    from tests.config.factories import make_evidence
    from tests.research.test_provenance import _config_validated_on, _stale_code

    stale = _config_validated_on(*_stale_code(), revalidate=False)
    interval = Interval(p05=-0.1, median=0.6, p95=1.2)
    evidence = make_evidence(
        provenance=stale.evidence.provenance,
        confidence=Confidence(method="stationary block bootstrap", resamples=2000, seed=19,
                              sharpe=interval, max_drawdown=interval, profit_factor=interval,
                              reshuffled_drawdown=interval),  # fmt: skip
    )
    config = StrategyConfig(**{**stale.model_dump(exclude={"evidence"}), "evidence": evidence})
    save_proposal(on_seeded, config, Verdict(status="validated"), actor="ana")

    at = page(open_app(), "strategies")
    at.selectbox(key="cfg_chosen").set_value(config.config_id).run()

    confidence = next(e.value for e in at.dataframe if "5th pct" in e.value.columns)
    assert confidence.loc["Sharpe", "5th pct"] == "-0.10"
    assert confidence.loc["max drawdown", "5th pct"] == "-10.0%"  # a fraction, read as one
    assert any("changed: engine.strategies.builtins.sma_crossover" in w.value for w in at.warning)
    assert "Bars `bbbbbbbbbbbbbbbb`" in texts(at)


def test_an_intraday_config_shows_its_bars_and_backtests_over_bar_times(app_env, intraday_store):
    app_env.setenv("WB_DATA_DIR", str(intraday_store.data_dir))
    stated = "annualised at 5m bars: 78 per session, 42 on an early close"
    evidence = make_evidence(data_start=date(2013, 10, 1), data_end=date(2013, 11, 29),
                             synthetic_bars=True, annualisation=stated)  # fmt: skip
    config = make_config(strategy="rsi_reversion", params={}, universe=["AAPL", "GE"],
                         bar_size="5m", evidence=evidence)  # fmt: skip
    save_proposal(intraday_store, config, Verdict(status="validated"), actor="ana")

    at = page(open_app(), "strategies")
    assert table(at, "configs_table")["bar_size"].tolist() == ["5m SYNTHETIC"]
    at.toggle(key=f"bt_{config.config_id}").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    chart = json.loads(at.get("plotly_chart")[-1].proto.spec)
    times = chart["data"][0]["x"]
    assert times[0].startswith("2013-10-01T09:30:00") and times[-1].startswith("2013-11-29T12:55")
    breaks = chart["layout"]["xaxis"]["rangebreaks"]
    assert {"bounds": [16, 9.5], "pattern": "hour"} in breaks  # the nights are closed up
    assert {"values": ["2013-11-28"]} in breaks  # Thanksgiving
    assert {"bounds": ["2013-11-29T13:00:00", "2013-11-29T16:00:00"]} in breaks  # its early close
    rendered = texts(at)
    assert "SYNTHETIC bars" in rendered
    assert "CAGR and Sharpe annualised at 5m bars: 78 per session" in rendered


def test_research_page_lists_runs_with_status_and_parameters(on_seeded):
    at = page(open_app(), "research")
    runs = table(at, "runs_table")
    assert list(runs["status"]) == ["succeeded"]
    assert '"lookback": 30' in runs["parameters"].iloc[0]


def test_audit_page_filters_by_kind_and_actor(on_seeded):
    at = page(open_app(), "audit")
    events = table(at, "events_table")
    assert list(events["id"]) == sorted(events["id"], reverse=True)
    at.selectbox(key="audit_kind").set_value("command.").run()
    at.selectbox(key="audit_actor").set_value("bob").run()
    filtered = table(at, "events_table")
    expected = read_events(on_seeded, kinds=["command."], actor="bob")
    assert list(filtered["id"]) == list(expected["id"]) and len(filtered) > 0


def test_an_empty_store_gets_friendly_empty_states_on_every_page(on_empty):
    at = open_app()
    for name in PAGES:
        page(at, name)
        assert not at.exception, f"{name}: {[e.value for e in at.exception]}"
        assert not at.error, f"{name}: {[e.value for e in at.error]}"  # nothing is wrong yet
        if name not in ("settings", "research"):
            assert at.info, f"{name} shows no empty-state note"


def test_a_stale_heartbeat_is_announced_loudly(on_seeded):
    from tests.app.seed import make_stale

    at = open_app()
    assert not any("LIVE LOOP NOT RUNNING" in e.value for e in at.error)  # beating now
    make_stale(on_seeded, minutes=10)
    for name in ("overview", "positions"):
        page(at, name)
        banner = [e.value for e in at.error if "LIVE LOOP NOT RUNNING" in e.value]
        assert banner and "10 min old" in banner[0], name


def test_invalid_stored_limits_are_shown_as_a_problem_with_its_fix_never_as_the_defaults(on_seeded):
    on_seeded.execute(
        "UPDATE trading_state SET value = ? WHERE key = 'risk_limits'",
        [json.dumps({"max_positionz": 6})],
    )
    at = open_app()
    for name in ("risk", "settings"):
        page(at, name)
        errors = " ".join(e.value for e in at.error)
        assert "max_positionz: unknown limit (did you mean 'max_positions'?)" in errors, name
        assert "Settings page" in errors and "wb limits set NAME=VALUE" in errors, name
    page(at, "risk")
    assert table(at, "limits_table").empty  # no limit is shown as in force
