"""A rule's facts (does a denial alert, does it read equity marks) are declared on the rule
and honoured by the loop, for a rule the loop has never heard of; and the session rule
judges a daily loop's orders by the session they execute in."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.backtest.settings import BacktestSettings
from engine.brokers import open_broker
from engine.config.models import StrategyConfig
from engine.data.repository import load_bars
from engine.live.alerts import Notifiers
from engine.live.clock import ReplayClock
from engine.live.feed import FrameFeed
from engine.live.loop import LiveLoop, LoopOptions
from engine.live.scratch import ScratchStore
from engine.risk import RiskLimits, compliance
from engine.risk import gate_rules as risk_rules
from engine.risk.decision import Deny
from engine.risk.rule_facts import rule
from engine.store import read_events

CONFIG = StrategyConfig(
    strategy="donchian_breakout",
    params={"entry_window": 10, "exit_window": 5, "atr_window": 10},
    universe=["AAPL", "BA", "CAT", "GE"],
    settings=BacktestSettings(stop="strategy", size="risk", risk_per_trade=0.01, max_positions=3),
    created_by="ana",
)


@pytest.fixture
def bars(sample_store):
    return load_bars(sample_store, CONFIG.universe, "2011-06-01", "2012-03-30")


def replay(bars, rules, sessions: int = 60) -> tuple[ScratchStore, Notifiers]:
    """The loop over ``bars`` with a gate of ``rules`` (after the order-shape ones), stepped."""
    store, clock, alerts = ScratchStore(), ReplayClock(), Notifiers()
    broker = open_broker("paper", store=store, opening_cash=100_000, account="t", now=clock.now)
    options = LoopOptions(
        mode="replay",
        gate_rules=(risk_rules.kill_switch, risk_rules.trading_state, *rules),
        check_registry=False,
    )
    loop = LiveLoop(store, broker, [CONFIG], FrameFeed(bars), clock, options=options,
                    notifier=alerts)  # fmt: skip
    days = FrameFeed(bars).sessions()[-sessions:]
    loop.start(days[0])
    for day in days:
        loop.step(day)
    return store, alerts


def denied_by(store, name: str) -> int:
    denials = read_events(store, kinds=["order.denied"], limit=10_000)
    return int(denials["payload"].str.contains(f'"rule": "{name}"').sum())


def no_buys(intent, ctx):
    """Deny every buy (a stand-in for a new limit)."""
    return Deny("no_buys", f"{intent.symbol}: no buys today") if intent.adds_exposure else None


def test_a_rule_that_does_not_alert_denies_quietly_and_one_that_does_alerts(bars):
    quiet, loud = rule(alerts=False)(no_buys), rule()(no_buys)

    store, alerts = replay(bars, [quiet])
    assert denied_by(store, "no_buys") > 0
    assert [a for a in alerts.sent if a.kind == "limit"] == []

    store, alerts = replay(bars, [loud])
    assert len([a for a in alerts.sent if a.kind == "limit"]) == denied_by(store, "no_buys") > 0


def test_a_rule_that_needs_equity_marks_gets_them_without_a_drawdown_rule_in_the_gate(bars):
    seen: list[int] = []

    @rule(needs_marks=True)
    def down_from_peak(intent, ctx):
        seen.append(len(ctx.state.equity_marks))

    replay(bars, [down_from_peak])
    assert seen and max(seen) > 5  # the marks of the steps before, from the store


def test_a_daily_loop_trades_under_the_session_rule_without_allow_outside_session(bars):
    """It decides after each close; its orders wait for, and are judged against, the next open."""
    store, alerts = replay(bars, [compliance.market_session])

    assert RiskLimits().allow_outside_session is False  # the limits in force: the defaults
    approved = read_events(store, kinds=["order.submitted"], limit=10_000)
    assert len(approved) > 5 and denied_by(store, "market_session") == 0
    fills = store.query("SELECT filled_at, decision_bar FROM live_orders WHERE status = 'filled'")
    assert len(fills) > 5
    # Each filled at the open of the session after the one it was decided on.
    filled_on = pd.to_datetime(fills["filled_at"]).dt.date
    decided_on = pd.to_datetime(fills["decision_bar"]).dt.date
    assert all(f > d for f, d in zip(filled_on, decided_on, strict=True))
    assert [a for a in alerts.sent if a.kind == "limit"] == []
