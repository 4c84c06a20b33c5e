"""Drawdown limits on any equity path: the gate's losses are the ones a trader would work out.

The test measures each loss its own way, from the marks grouped by New York trading date:
the daily loss from the last mark of the previous trading day, the weekly loss from the
last mark before the week's first trading day. Thanksgiving week is in the path.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from engine.data import calendar
from engine.risk import (
    AccountState,
    EquityMark,
    OrderIntent,
    RiskGate,
    RiskLimits,
    SymbolSnapshot,
    TradingState,
)
from engine.risk.drawdown import equity_before, period_losses
from tests.risk.helpers import marks, ny

NY = ZoneInfo("America/New_York")
SCHEDULE = calendar.schedule("2024-11-11", "2024-12-06")
SESSIONS = [
    (day.date(), opened.to_pydatetime(), closed.to_pydatetime())
    for day, opened, closed in zip(
        SCHEDULE.index, SCHEDULE["market_open"], SCHEDULE["market_close"], strict=True
    )
]
LIMITS = RiskLimits(min_avg_dollar_volume=0)
GATE = RiskGate(LIMITS)


def _path(daily_changes: list[float]) -> list[EquityMark]:
    """Three marks per session (30 minutes in, midday, the close) moving a third of the day's change each."""
    equity, found = 100_000.0, []
    for (_, opened, closed), change in zip(SESSIONS, daily_changes, strict=False):
        for at in (opened + timedelta(minutes=30), opened + (closed - opened) / 2, closed):
            equity *= (1 + change) ** (1 / 3)
            found.append(EquityMark(at, equity))
    return found


def _own_losses(history: list[EquityMark], now_index: int) -> tuple[float, float]:
    today = history[now_index].at.astimezone(NY).date()
    monday = today - timedelta(days=today.weekday())
    before_today = [m.equity for m in history[:now_index] if m.at.astimezone(NY).date() < today]
    before_week = [m.equity for m in history[:now_index] if m.at.astimezone(NY).date() < monday]
    equity = history[now_index].equity
    daily_ref = before_today[-1] if before_today else history[0].equity
    weekly_ref = before_week[-1] if before_week else history[0].equity
    return 1 - equity / daily_ref, 1 - equity / weekly_ref


@settings(max_examples=500, deadline=None)
@given(
    daily_changes=st.lists(
        # Daily moves from a crash to a good day, weighted to slides that build up over a week.
        st.sampled_from([-0.03, -0.019, -0.016, -0.013, -0.01, -0.006, 0.0, 0.006, 0.012]),
        min_size=2,
        max_size=len(SESSIONS),
    ),
    midday=st.booleans(),
    by_trader=st.booleans(),
)
def test_entries_obey_the_loss_limits_on_any_equity_path(daily_changes, midday, by_trader):
    history = _path(daily_changes)
    k = len(history) - (2 if midday else 3)  # the check: inside the path's last session
    daily, weekly = _own_losses(history, k)
    for loss, limit in ((daily, 0.02), (weekly, 0.05), (weekly, 0.08)):
        assume(abs(loss - limit) > 1e-9)  # not exactly on a threshold
    state = AccountState(
        equity=history[k].equity,
        cash=history[k].equity,
        equity_marks=tuple(history[: k + 1]),
        market={"AAPL": SymbolSnapshot(10.0, 5e7)},
    )
    source = {"config_id": None, "actor": "alice"} if by_trader else {"config_id": "cfg"}
    decision = GATE.check(OrderIntent("AAPL", "buy", 101, **source), state, history[k].at)
    event(f"{decision.rule} qty {decision.qty:.0f}")

    if weekly >= 0.08:
        assert decision.rule == "weekly_hard_loss"
        assert decision.state_change is TradingState.HALTED
    elif daily >= 0.02:
        assert decision.rule == "daily_loss"
    else:
        assert decision.approved and decision.state_change is None
        assert decision.qty == (50 if weekly >= 0.05 else 101)


def test_period_losses_with_no_marks_is_no_loss():
    losses = period_losses((), 90_000, ny("2024-03-06 11:00").date())
    assert (losses.daily, losses.weekly) == (0.0, 0.0)


def test_equity_before_a_time_uses_the_last_earlier_mark_else_the_first():
    history = marks(("2024-03-05 16:00", 100.0), ("2024-03-06 10:00", 90.0))
    assert equity_before(history, ny("2024-03-06 09:30")) == 100.0
    assert equity_before(history, ny("2024-03-06 10:00")) == 100.0  # strictly before
    assert equity_before(history, ny("2024-03-06 10:00"), inclusive=True) == 90.0
    assert equity_before(history, ny("2024-03-01 10:00")) == 100.0  # nothing earlier
