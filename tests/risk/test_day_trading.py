"""Day-trading policy: PDT counts over NYSE business days (weekends, holidays, half days).

A small account (prior close $20,000) with 3 day trades in the window may not make a
4th. The windows below are worked out from the NYSE calendar by hand: a count over
calendar weekdays instead of sessions gets the holiday cases wrong.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from engine.risk import SubmittedOrder
from engine.risk.context import day_trades_in_window
from engine.risk.sessions import session_days_back
from tests.risk.helpers import account, buy, decide, held, marks, ny, sell, stop


def small_account(
    day_trades: list[str],
    bought: str,
    *,
    prior_close: float = 20_000,
    equity: float = 20_000,
    **kw,
):
    """$20,000 of equity, AAPL bought at ``bought``, and day trades on ``day_trades``."""
    return account(
        equity=equity,
        cash=equity - 1_000,
        positions={"AAPL": held("AAPL", 10, opened=bought)},
        day_trades=tuple(date.fromisoformat(d) for d in day_trades),
        equity_marks=marks(("2024-01-02 16:00", prior_close)),
        **kw,
    )


#: Both settings of ``allow_protective_stop_as_4th_day_trade``, and whether the order goes.
either_stop_policy = pytest.mark.parametrize(
    "allowed, approved",
    [pytest.param(True, True, id="stop-allowed"), pytest.param(False, False, id="strict")],
)


def refused_as_fourth(decision, first: str, last: str) -> None:
    assert not decision.approved and decision.rule == "day_trading"
    assert decision.reason == (
        f"sell 10 AAPL refused: selling AAPL on {last} closes shares bought that day, which "
        f"would be day trade 4, with 3 made in the 5 business days {first} to {last}; under "
        "$25,000.00 of equity (prior close $20,000.00) at most 3 day trades are allowed; "
        "hold it overnight"
    )


@pytest.mark.parametrize(
    "day_trades, bought, now, window",
    [
        pytest.param(["2024-11-20", "2024-11-21", "2024-11-22"], "2024-11-26 10:00",
                     "2024-11-26 14:00", ("2024-11-20", "2024-11-26"),
                     id="three-before-a-weekend-still-count-on-tuesday"),
        pytest.param(["2024-11-20", "2024-11-21", "2024-11-22"], "2024-11-27 10:00",
                     "2024-11-27 14:00", None, id="the-oldest-leaves-the-window-on-wednesday"),
        # Window for Fri 2024-11-29 (a half day): 22, 25, 26, 27, 29 -- the 28th is skipped,
        # so the day trade of Friday the 22nd still counts; on Monday it has left.
        pytest.param(["2024-11-22", "2024-11-25", "2024-11-26"], "2024-11-29 10:00",
                     "2024-11-29 12:00", ("2024-11-22", "2024-11-29"),
                     id="thanksgiving-is-not-a-business-day"),
        pytest.param(["2024-11-22", "2024-11-25", "2024-11-26"], "2024-12-02 10:00",
                     "2024-12-02 12:00", None, id="after-thanksgiving-the-22nd-has-left"),
        pytest.param(["2024-06-28", "2024-07-01", "2024-07-02"], "2024-07-05 10:00",
                     "2024-07-05 11:00", ("2024-06-28", "2024-07-05"),
                     id="july-4th-is-not-a-business-day"),
        pytest.param(["2024-11-25", "2024-11-26", "2024-11-27"], "2024-11-27 10:00",
                     "2024-11-29 10:00", None,
                     id="selling-a-position-bought-yesterday-is-not-a-day-trade"),
    ],
)  # fmt: skip
def test_the_window_is_five_nyse_business_days(day_trades, bought, now, window):
    """Selling AAPL bought ``bought`` at ``now``: refused as the 4th day trade in ``window``
    (its first and last business day), or approved (None)."""
    decision = decide(sell(qty=10), small_account(day_trades, bought=bought), now=now)
    if window is None:
        assert decision.approved
    else:
        refused_as_fourth(decision, *window)


def test_a_sell_queued_after_a_half_day_close_is_judged_against_the_next_session():
    state = small_account(["2024-06-28", "2024-07-01", "2024-07-02"], bought="2024-07-03 10:00")
    # Three day trades made: selling shares bought today would be the fourth ...
    refused_as_fourth(decide(sell(qty=10), state, now="2024-07-03 12:30"), "2024-06-27",
                      "2024-07-03")  # fmt: skip
    # ... but sent after the 13:00 close it fills on the 5th (the 4th is a holiday), so it
    # closes shares bought on an earlier day: no day trade, and it waits for that open.
    queued = decide(sell(qty=10), state, now="2024-07-03 13:30")
    assert queued.approved and "queued for the open of Fri 2024-07-05" in queued.reason


def test_a_buy_added_today_makes_selling_today_a_day_trade():
    state = small_account(["2024-11-25", "2024-11-26", "2024-11-27"], bought="2024-11-20 10:00")
    added = held("AAPL", 10, opened="2024-11-20 10:00", last_buy_at=ny("2024-11-29 10:00"))
    state = replace(state, positions={"AAPL": added})
    assert decide(sell(qty=10), state, now="2024-11-29 11:00").rule == "day_trading"


@either_stop_policy
def test_a_protective_stop_may_be_the_fourth_only_when_the_policy_allows(allowed, approved):
    state = small_account(["2024-11-20", "2024-11-21", "2024-11-22"], bought="2024-11-26 10:00")
    decision = decide(
        stop(qty=10, stop_price=95.0),
        state,
        now="2024-11-26 10:01",
        allow_protective_stop_as_4th_day_trade=allowed,
    )
    assert decision.approved is approved
    if approved:
        assert decision.flags == ("pdt_protective_stop",)
        assert "protective stop allowed although selling AAPL on 2024-11-26" in decision.reason
    else:
        assert decision.rule == "day_trading"


@pytest.mark.parametrize(
    "prior_close, equity, approved",
    [
        pytest.param(26_000, 24_500, True, id="over-at-prior-close"),
        pytest.param(24_500, 26_000, False, id="under-at-prior-close"),
        pytest.param(25_000, 25_000, True, id="at-threshold"),
    ],
)
def test_the_threshold_is_measured_at_the_prior_close(prior_close, equity, approved):
    state = small_account(
        ["2024-11-20", "2024-11-21", "2024-11-22"],
        bought="2024-11-26 10:00",
        prior_close=prior_close,
        equity=equity,
    )
    assert decide(sell(qty=10), state, now="2024-11-26 14:00").approved is approved


@pytest.mark.parametrize("purpose", ["exit", "stop"])
def test_a_working_sell_that_may_still_be_a_day_trade_counts(purpose):
    # MSFT, bought today, has a working sell: a resting stop can fire as well as an exit.
    state = small_account(["2024-11-21", "2024-11-22"], bought="2024-11-26 10:00")
    msft = held("MSFT", 10, opened="2024-11-26 10:05")
    working = SubmittedOrder(
        "MSFT", "sell", 10, ny("2024-11-26 10:06"), purpose=purpose, working=True
    )
    state = replace(state, positions={**state.positions, "MSFT": msft}, recent_orders=(working,))
    decision = decide(sell(qty=10), state, now="2024-11-26 14:00")
    assert decision.rule == "day_trading"
    assert "day trade 4, with 2 made and 1 more possible from working sells" in decision.reason


def test_the_order_replacing_its_own_symbols_stop_is_not_counted_twice():
    state = small_account(["2024-11-21", "2024-11-22"], bought="2024-11-26 10:00")
    own_stop = SubmittedOrder(
        "AAPL", "sell", 10, ny("2024-11-26 10:01"), purpose="stop", working=True
    )
    assert decide(
        sell(qty=10), replace(state, recent_orders=(own_stop,)), now="2024-11-26 14:00"
    ).approved


@pytest.mark.parametrize("shares, approved", [(4, False), (10, True)])
def test_a_partial_sale_leaves_its_own_stop_resting_as_a_possible_day_trade(shares, approved):
    # AAPL bought today, 2 day trades made, its protective stop resting. Selling part of it
    # is day trade 3 and leaves the stop able to fire as a 4th (found by the gate's property
    # test); selling all of it replaces the stop.
    state = small_account(["2024-11-21", "2024-11-22"], bought="2024-11-26 10:00")
    own_stop = SubmittedOrder(
        "AAPL", "sell", 10, ny("2024-11-26 10:01"), purpose="stop", working=True
    )
    decision = decide(
        sell(qty=shares),
        replace(state, recent_orders=(own_stop,)),
        now="2024-11-26 14:00",
        allow_protective_stop_as_4th_day_trade=False,
    )
    assert decision.approved is approved
    if not approved:
        assert "day trade 4, with 2 made and 1 more possible from working sells" in decision.reason


@either_stop_policy
def test_buying_more_under_a_resting_stop_can_make_a_fourth_day_trade(allowed, approved):
    # AAPL was bought last week with a resting stop; buying more today means the stop could
    # close shares bought today.
    state = small_account(["2024-11-21", "2024-11-22", "2024-11-25"], bought="2024-11-18 10:00")
    resting = SubmittedOrder(
        "AAPL", "sell", 10, ny("2024-11-18 10:01"), purpose="stop", working=True
    )
    state = replace(state, recent_orders=(resting,))
    decision = decide(
        buy(qty=5), state, now="2024-11-26 11:00", allow_protective_stop_as_4th_day_trade=allowed
    )
    assert decision.approved is approved
    if not approved:
        assert (
            "buying more AAPL on 2024-11-26 would make its working sell a possible day trade 4"
            in decision.reason
        )


@pytest.mark.parametrize("policy", ["off", "intraday_margin"])
def test_other_policies_do_not_count_day_trades(policy):
    state = small_account(["2024-11-20", "2024-11-21", "2024-11-22"], bought="2024-11-26 10:00")
    assert decide(sell(qty=10), state, now="2024-11-26 14:00", day_trade_policy=policy).approved


@pytest.mark.parametrize(
    "qty, approved", [pytest.param(40, True, id="within"), pytest.param(100, False, id="beyond")]
)
def test_intraday_margin_keeps_buying_power_above_zero(qty, approved):
    state = account(buying_power=5_000)
    decision = decide(buy(qty=qty), state, day_trade_policy="intraday_margin")
    assert decision.approved is approved
    if not approved:
        assert decision.rule == "day_trading"
        assert (
            "it costs $10,000.00 and would take buying power $5,000.00 to -$5,000.00 "
            "(intraday margin)" in decision.reason
        )


@pytest.mark.parametrize(
    "day, window",
    [
        pytest.param(
            "2025-01-02",
            ["2024-12-26", "2024-12-27", "2024-12-30", "2024-12-31", "2025-01-02"],
            id="new-year",
        ),
        pytest.param(
            # The NYSE closed on 2025-01-09 for President Carter's national day of mourning.
            "2025-01-10",
            ["2025-01-03", "2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10"],
            id="ad-hoc-closure",
        ),
        pytest.param(
            "2024-03-30",  # a Saturday after Good Friday: the window ends on Thursday
            ["2024-03-22", "2024-03-25", "2024-03-26", "2024-03-27", "2024-03-28"],
            id="weekend",
        ),
    ],
)
def test_the_window_is_five_nyse_sessions(day, window):
    assert [d.isoformat() for d in session_days_back(date.fromisoformat(day), 5)] == window


def test_day_trades_in_window_counts_each_day_trade_across_a_year_end():
    trades = tuple(
        date.fromisoformat(d)
        for d in [
            "2024-12-20",
            "2024-12-26",
            "2024-12-31",
            "2024-12-31",
            "2025-01-02",
            "2025-01-03",
        ]
    )
    window = session_days_back(date(2025, 1, 2), 5)
    assert day_trades_in_window(trades, window) == 4
