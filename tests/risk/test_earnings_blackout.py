"""The earnings blackout, case by case: NYSE sessions before the date, on it, after it, unknown.

AAPL reports on Tue 2024-04-02; Good Friday (2024-03-29) shuts the NYSE, so from Thursday
2024-03-28 there are two sessions to go (Mon 04-01 and the report's Tuesday), not three.
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.risk.helpers import account, buy, decide, held, sell, stop, with_positions

REPORTS = {"AAPL": (date(2024, 4, 2), date(2024, 7, 2)), "GE": (date(2024, 12, 2),)}
STATE = with_positions(account(earnings=REPORTS), held("AAPL", 100, stop_price=90.0))
#: Two sessions' blackout; orders after the close queue for the next session (a daily loop's).
N2 = {"earnings_blackout_sessions": 2, "allow_outside_session": True}


@pytest.mark.parametrize(
    "now, limits, refused_with",
    [
        pytest.param("2024-03-27 11:00", N2, None, id="3-sessions-before-allowed"),
        pytest.param("2024-03-28 11:00", N2, "Tue 2024-04-02, 2 sessions after this order's session (Thu 2024-03-28)", id="2-before-across-good-friday-and-weekend"),
        pytest.param("2024-03-28 17:00", N2, "1 session after this order's session (Mon 2024-04-01)", id="after-the-close-trades-next-session"),
        pytest.param("2024-03-30 12:00", N2, "1 session after this order's session (Mon 2024-04-01)", id="weekend-trades-monday"),
        pytest.param("2024-04-02 10:00", N2, "Tue 2024-04-02, the session this order trades in", id="on-the-day"),
        pytest.param("2024-04-03 10:00", N2, None, id="the-session-after-allowed"),
        pytest.param("2024-03-28 11:00", {"earnings_blackout_sessions": 1}, None, id="shorter-window-allowed"),
        pytest.param("2024-04-02 10:00", {}, None, id="off-by-default"),
    ],
)  # fmt: skip
def test_a_buy_near_earnings(now, limits, refused_with):
    decision = decide(buy("AAPL", 10), STATE, now=now, **limits)
    if refused_with is None:
        assert decision.approved, decision.reason
        assert "earnings_date_unknown" not in decision.flags
    else:
        assert (decision.approved, decision.rule) == (False, "earnings_blackout"), decision.reason
        assert refused_with in decision.reason
        assert decision.reason.startswith("buy 10 AAPL refused: AAPL reports earnings on ")
        assert f"within {limits['earnings_blackout_sessions']} sessions" in decision.reason


def test_thanksgiving_and_its_half_day_count_as_the_sessions_they_are():
    # Wed 11-27 -> Fri 11-29 (a half day, a session) and Mon 12-02: two sessions, not four days.
    decision = decide(buy("GE", 10), STATE, now="2024-11-27 11:00", **N2)
    assert decision.rule == "earnings_blackout"
    assert "Mon 2024-12-02, 2 sessions after" in decision.reason


@pytest.mark.parametrize(
    "intent",
    [
        pytest.param(sell("AAPL", 100), id="exit"),
        pytest.param(stop("AAPL", 100, stop_price=95.0), id="protective-stop"),
        pytest.param(sell("AAPL", 100, config_id=None, actor="bob", purpose="manual"), id="trader-sell"),
    ],
)
def test_exits_and_stops_are_never_blocked(intent):
    assert decide(intent, STATE, now="2024-04-02 10:00", **N2).approved


def test_a_traders_own_buy_is_held_to_the_blackout_too():
    trader = buy("AAPL", 10, config_id=None, actor="bob", purpose="manual")
    assert decide(trader, STATE, now="2024-04-02 10:00", **N2).rule == "earnings_blackout"


@pytest.mark.parametrize(
    "symbol, said",
    [
        pytest.param("MSFT", "no earnings date of MSFT is known on or after 2024-04-03", id="never-known"),
        pytest.param("GE", "the last known was 2024-12-02", id="only-past-dates"),
    ],
)
def test_an_unknown_date_is_allowed_with_a_note(symbol, said):
    now = "2024-04-03 10:00" if symbol == "MSFT" else "2025-01-06 10:00"
    decision = decide(buy(symbol, 10), STATE, now=now, **N2)
    assert decision.approved
    assert decision.flags == ("earnings_date_unknown",)
    assert said in decision.reason and "wb earnings refresh" in decision.reason
