"""The control room's reads and writes, straight against the store."""

from __future__ import annotations

import os
from datetime import timedelta

import pandas as pd
import pytest

from app import facade
from app.auth import Visitor
from app.figures import limit_usage
from engine.brokers import OrderRequest, PaperBroker
from engine.data.repository import load_bars
from engine.live.commands import pending_commands
from engine.live.heartbeat import stale_after_s
from engine.risk.limits import RiskLimits
from engine.store.events import utcnow
from tests.app.conftest import process_started
from tests.live.conftest import replay_store  # noqa: F401

TRADER = Visitor("tina", "trader")


def beat(store, *, age_s: float = 0, pid: int | None = None, stopped: bool = False):
    """A heartbeat as a loop in this test process writes it, ``age_s`` seconds before the time returned."""
    now = utcnow()
    store.execute(
        "INSERT INTO heartbeats (loop_id, mode, broker, pid, started_at, beat_at, trading_state,"
        " configs, stopped_at) VALUES ('loop-1', 'paper', 'paper', ?, ?, ?, 'ACTIVE', '[]', ?)",
        [
            pid or os.getpid(),
            process_started(),
            now - timedelta(seconds=age_s),
            now if stopped else None,
        ],
    )
    return now


def test_no_heartbeat_means_no_loop(store):
    status = facade.loop_status(store)
    assert (status.running, status.ever_ran) == (False, False)


def test_a_fresh_heartbeat_from_a_live_process_is_a_running_loop(store):
    now = beat(store, age_s=3)
    status = facade.loop_status(store, now=now)
    assert status.running and status.mode == "paper" and status.why == "heartbeat 3s ago"


@pytest.mark.parametrize(
    "kwargs, why",
    [
        ({"age_s": stale_after_s() + 60}, "min old (stale after"),
        ({"stopped": True}, "stopped cleanly"),
        ({"pid": 2**22 + 12345}, "is gone"),
    ],
)
def test_a_stale_stopped_or_dead_loop_is_not_running(store, kwargs, why):
    beat(store, **kwargs)
    status = facade.loop_status(store)
    assert not status.running and why in status.why


def test_without_a_loop_the_book_comes_from_the_paper_broker(sample_store):
    bars = load_bars(sample_store, ["GE", "F"], "2012-06-01", "2012-06-08", adjust=False)
    broker = PaperBroker(sample_store, cash=50_000)
    broker.process_bar(bars.index[0], bars)
    broker.submit(OrderRequest(symbol="GE", side="buy", qty=100, client_order_id="t-ge"))
    broker.submit(OrderRequest(symbol="F", side="buy", qty=300, client_order_id="t-f"))
    broker.process_bar(bars.index[1], bars)
    held = facade.book(sample_store)
    expected = {p.symbol: (p.qty, p.avg_entry_price) for p in broker.positions()}
    shown = {r.symbol: (r.qty, r.avg_price) for r in held.positions.itertuples()}
    assert shown == expected
    assert held.equity == pytest.approx(broker.account().equity)
    assert "paper account" in held.source


def test_fills_filter_by_symbol_and_carry_their_decision_price(sample_store):
    bars = load_bars(sample_store, ["GE", "F"], "2012-06-01", "2012-06-08", adjust=False)
    broker = PaperBroker(sample_store, cash=50_000, slippage=0.001)
    broker.process_bar(bars.index[0], bars)
    broker.submit(OrderRequest(symbol="GE", side="buy", qty=100, client_order_id="t-ge"))
    broker.submit(OrderRequest(symbol="F", side="buy", qty=300, client_order_id="t-f"))
    broker.process_bar(bars.index[1], bars)
    data = facade.orders_and_fills(sample_store, symbols=["GE"])
    assert list(data.fills["symbol"]) == ["GE"] and list(data.orders["symbol"]) == ["GE"]
    fill = data.fills.iloc[0]
    decided = float(bars.close.loc[bars.index[0], "GE"])
    assert fill["decision_price"] == pytest.approx(decided)
    assert fill["slippage_bps"] == pytest.approx((fill["price"] / decided - 1) * 1e4)


def test_the_loops_own_decision_price_wins_over_the_stored_close(sample_store):
    bars = load_bars(sample_store, ["GE"], "2012-06-01", "2012-06-08", adjust=False)
    broker = PaperBroker(sample_store, cash=50_000)
    broker.process_bar(bars.index[0], bars)
    broker.submit(OrderRequest(symbol="GE", side="buy", qty=100, client_order_id="cfg-GE-buy"))
    broker.process_bar(bars.index[1], bars)
    now = utcnow()
    sample_store.execute(
        "INSERT INTO live_orders (book, client_order_id, config_id, symbol, side, purpose, qty, type,"
        " decision_bar, decision_price, status, created_at, updated_at) VALUES ('paper:paper',"
        " 'cfg-GE-buy', 'cfg', 'GE', 'buy', 'entry', 100, 'market', ?, 19.5, 'filled', ?, ?)",
        [bars.index[0].date(), now, now],
    )
    data = facade.orders_and_fills(sample_store)
    fill = data.fills.iloc[0]
    assert (fill["decision_price"], fill["purpose"], fill["config_id"]) == (19.5, "entry", "cfg")
    assert fill["slippage_bps"] == pytest.approx((fill["price"] / 19.5 - 1) * 1e4)
    assert data.orders.iloc[0]["purpose"] == "entry"


def test_audit_pages_through_the_trail_without_gaps_or_repeats(store):
    from engine.store import append_event

    def write(con):
        for i in range(25):
            append_event(
                con,
                "test.tick" if i % 2 else "other.tock",
                "ana" if i % 3 else "bob",
                f"S{i}",
                {"i": i},
            )

    store.transaction(write)
    first = facade.audit(store, facade.AuditFilter(limit=10))
    second = facade.audit(store, facade.AuditFilter(limit=10, before_id=int(first["id"].min())))
    everything = facade.audit(store, facade.AuditFilter(limit=100))
    assert list(first["id"]) + list(second["id"]) == list(everything["id"][:20])
    ticks = facade.audit(store, facade.AuditFilter(kind="test.", actor="bob"))
    assert len(ticks) > 0 and set(ticks["kind"]) == {"test.tick"} and set(ticks["actor"]) == {"bob"}


def test_limit_usage_measures_each_limit_against_the_book():
    limits = RiskLimits(max_positions=4, max_position_pct=0.25)
    positions = pd.DataFrame(
        {"symbol": ["A", "B"], "market_value": [20_000.0, 10_000.0], "weight": [0.2, 0.1]}
    )
    usage = limit_usage(
        limits, positions, 100_000.0, 70_000.0, daily=0.01, weekly=0.04, day_trades=2
    ).set_index("limit")
    assert usage.loc["Open positions", "used"] == pytest.approx(0.5)
    assert usage.loc["Largest position", "used"] == pytest.approx(0.8)
    assert usage.loc["Largest position", "state"] == "near"  # past three quarters of the cap
    assert usage.loc["Open positions", "state"] == "ok"
    assert usage.loc["Daily loss", "used"] == pytest.approx(0.5)
    assert usage.loc["Weekly loss (hard)", "used"] == pytest.approx(0.5)
    assert usage.loc["Day trades (5 sessions)", "in_force"] == "no limit"  # above the PDT threshold
    small = positions.assign(market_value=[4_000.0, 2_000.0])
    under = limit_usage(limits, small, 20_000.0, 14_000.0, 0, 0, 2).set_index("limit")
    assert under.loc["Day trades (5 sessions)", "in_use"] == "2 used, 1 left"
    assert under.loc["Day trades (5 sessions)", "used"] == pytest.approx(2 / 3)


def test_pausing_a_config_moves_it_in_the_registry_and_tells_the_loop(store):
    from engine.research.config_registry import act, get_config, save_proposal
    from engine.research.validation import Verdict
    from tests.config.factories import make_config

    config = make_config()
    save_proposal(store, config, Verdict(status="validated"), actor="ana")
    act(store, config.config_id, "approve", "bob", "good")
    record, command_id = facade.act_on_config(store, config.config_id, "pause", TRADER, "news")
    assert get_config(store, config.config_id).status == "paused" == record.status
    [(pending_id, actor, command)] = pending_commands(store)
    assert (pending_id, actor, command.kind, command.config_id) == (
        command_id,
        "tina",
        "pause_strategy",
        config.config_id,
    )


def test_an_intraday_books_bars_and_fills_are_named_by_their_time(intraday_store):
    from engine.live.runner import run_replay
    from tests.live.conftest import open_replay
    from tests.live.test_intraday_loop import approve_intraday

    intraday_store.config = approve_intraday(intraday_store)
    opened = open_replay(intraday_store, start="2013-11-29", end="2013-11-29")
    run_replay(opened.loop, opened.days)

    data = facade.orders_and_fills(intraday_store)
    fills = data.fills
    assert data.intraday and len(fills) >= 2
    # The fill's bar: its New York time to the minute (the paper broker fills at a bar's open).
    local = pd.to_datetime(fills["filled_at"]).dt.tz_localize("UTC").dt.tz_convert(NEW_YORK)
    assert (fills["bar_date"] == local.dt.strftime("%Y-%m-%d %H:%M")).all()
    # The bar it was decided at closed when the bar it filled in opened.
    assert (fills["decision_bar"] == fills["bar_date"]).all()
    assert data.orders["decision_bar"].str.fullmatch(r"2013-11-29 \d\d:\d\d").all()
    assert "marked it on the close of 2013-11-29 13:00 (New York)" in facade.book(intraday_store).source
    assert facade.bar_sizes(intraday_store, fills["symbol"].iat[0])[0] == "5m"  # its own bars first


def test_a_daily_books_bars_are_named_by_their_date(replay_store):  # noqa: F811
    from engine.live.runner import run_replay
    from tests.live.conftest import open_replay

    opened = open_replay(replay_store, start="2012-01-03", end="2012-02-29")
    run_replay(opened.loop, opened.days)

    data = facade.orders_and_fills(replay_store)
    assert not data.intraday and len(data.fills)
    for column in ("bar_date", "decision_bar"):  # session dates, no time of day
        days = pd.to_datetime(data.fills[column])
        assert days.notna().all() and (days == days.dt.normalize()).all()
    assert "marked it on 2012-02-29" in facade.book(replay_store).source


NEW_YORK = "America/New_York"
