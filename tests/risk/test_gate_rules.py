"""One table per gate rule: what it lets through, what it refuses, and the reason a trader reads.

Every case goes through the whole gate with an account that breaks no other limit, so a
case also proves that its rule is the one that speaks (rule order included). Expected
numbers in the reasons are worked out by hand from the case's inputs.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from engine.risk import OrderIntent, RiskGate, RiskLimits, SubmittedOrder, TradingState
from engine.risk.decision import Deny
from engine.risk.rule_facts import rule
from tests.risk.helpers import (
    NOW,
    account,
    buy,
    decide,
    held,
    market,
    marks,
    ny,
    sell,
    snapshot,
    stop,
    with_positions,
)

HOLDING = account(positions={"AAPL": held("AAPL", 100, stop_price=97.0)})


def check(decision, rule: str, *fragments: str) -> None:
    if rule == "approved":
        assert decision.approved, decision.reason
    else:
        assert not decision.approved, f"expected {rule} to deny, got: {decision.reason}"
        assert decision.rule == rule, decision.reason
    for fragment in fragments:
        assert fragment in decision.reason


def sent(symbol="AAPL", side="buy", qty=100, at=NOW, **kw) -> SubmittedOrder:
    kw.setdefault("config_id", "cfg1")
    return SubmittedOrder(symbol, side, qty, ny(at), **kw)


# -- order shape -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "intent, limits, rule, fragments",
    [
        pytest.param(
            buy(qty=10.5), {}, "order_shape", ["buy 10.5 AAPL", "whole shares only"], id="fraction"
        ),
        pytest.param(
            buy(qty=10.5), {"fractional_shares": True}, "approved", [], id="fraction-allowed"
        ),
        pytest.param(buy(qty=10), {}, "approved", [], id="whole"),
    ],
)
def test_order_shape(intent, limits, rule, fragments):
    check(decide(intent, **limits), rule, *fragments)


# -- paused strategy (the kill switch and the trading states: tests/risk/test_states.py) ---

TRADER_SELL = sell(config_id=None, actor="alice", purpose="manual")


@pytest.mark.parametrize(
    "intent, rule",
    [
        pytest.param(buy(config_id="cfg1"), "paused_strategy", id="paused-buy"),
        pytest.param(sell(config_id="cfg1"), "approved", id="paused-exit"),
        pytest.param(stop(config_id="cfg1", stop_price=98), "approved", id="paused-stop"),
        pytest.param(buy(config_id="cfg2"), "approved", id="other-config"),
    ],
)
def test_paused_strategy(intent, rule):
    state = replace(HOLDING, paused_configs={"cfg1"})
    check(decide(intent, state), rule, *(["config cfg1 is paused"] if rule != "approved" else []))


# -- market session ----------------------------------------------------------------------
#
# An order is judged by the session it executes in: now while the NYSE is open, else the
# next session's open, where it waits. A strategy's orders (a daily loop decides after the
# close for the next open), exits, stops and limit orders wait there; a trader's market buy
# sent while the market is shut is refused unless allow_outside_session, because it would
# fill at an opening price nobody knows yet.

MANUAL_BUY = buy("MSFT", config_id=None, actor="alice", purpose="manual")
MANUAL_LIMIT_BUY = buy("MSFT", config_id=None, actor="alice", purpose="manual",
                       order_type="limit", limit_price=101.0)  # fmt: skip


@pytest.mark.parametrize(
    "intent, now",
    [
        pytest.param(buy(), "2024-03-06 11:00", id="in-session"),
        pytest.param(buy(), "2024-03-06 09:30", id="at-open"),
        pytest.param(buy(), "2024-03-06 15:59", id="last-minute"),
        pytest.param(buy(), "2024-11-29 12:59", id="half-day-morning"),
        pytest.param(MANUAL_BUY, "2024-03-06 11:00", id="trader-in-session"),
    ],
)
def test_an_order_in_session_goes_at_once(intent, now):
    decision = decide(intent, HOLDING, now=now)
    check(decision, "approved")
    assert "queued_for_open" not in decision.flags


@pytest.mark.parametrize(
    "intent, now, fragments",
    [
        pytest.param(buy(), "2024-03-06 16:01", ["queued for the open of Thu 2024-03-07 09:30 ET", "the NYSE closed at 16:00 ET"], id="daily-decision-after-close"),
        pytest.param(buy(), "2024-03-06 09:29", ["queued for the open of Wed 2024-03-06 09:30 ET", "not open yet"], id="pre-open"),
        pytest.param(sell(), "2024-11-27 16:05", ["queued for the open of Fri 2024-11-29 09:30 ET"], id="thanksgiving-eve"),
        pytest.param(sell(), "2024-07-03 13:30", ["queued for the open of Fri 2024-07-05 09:30 ET", "closed at 13:00 ET (a half day)"], id="july-4th-eve-after-the-half-day"),
        pytest.param(buy(), "2024-03-29 12:00", ["queued for the open of Mon 2024-04-01 09:30 ET", "(Good Friday)"], id="good-friday"),
        pytest.param(TRADER_SELL, "2024-03-09 11:00", ["queued for the open of Mon 2024-03-11 09:30 ET", "(the weekend)"], id="saturday-trader-sell"),
        pytest.param(MANUAL_LIMIT_BUY, "2024-03-09 11:00", ["queued for the open of Mon 2024-03-11 09:30 ET"], id="saturday-trader-limit-buy"),
        pytest.param(stop(config_id=None, actor="alice", stop_price=98.0), "2024-03-09 11:00", ["queued for the open of Mon 2024-03-11"], id="saturday-trader-stop"),
    ],
)  # fmt: skip
def test_an_order_sent_while_shut_queues_for_the_next_open(intent, now, fragments):
    decision = decide(intent, HOLDING, now=now)
    check(decision, "approved")
    notes = "; ".join(decision.notes)
    assert all(f in notes for f in fragments), notes
    assert "queued_for_open" in decision.flags


@pytest.mark.parametrize(
    "now, opens, fragments",
    [
        pytest.param("2024-03-09 11:00", "Mon 2024-03-11", ["buy 100 MSFT refused: the NYSE is closed at Sat 2024-03-09 11:00 ET (the weekend)", "would fill at the open of Mon 2024-03-11 at a price not known now", "send a limit order"], id="saturday"),
        pytest.param("2024-07-04 10:00", "Fri 2024-07-05", ["(July 4th)", "the open of Fri 2024-07-05"], id="july-4th"),
    ],
)  # fmt: skip
def test_a_traders_market_buy_while_shut_is_refused_unless_allowed(now, opens, fragments):
    check(decide(MANUAL_BUY, HOLDING, now=now), "market_session", *fragments)
    allowed = decide(MANUAL_BUY, HOLDING, now=now, allow_outside_session=True)
    check(allowed, "approved")
    assert f"queued for the open of {opens} 09:30 ET" in "; ".join(allowed.notes)


# -- order hygiene -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "intent, rule",
    [
        pytest.param(buy("AAPL"), "restricted_list", id="buy-restricted"),
        pytest.param(sell("AAPL"), "approved", id="sell-restricted"),
        pytest.param(buy("MSFT"), "approved", id="buy-other"),
    ],
)
def test_restricted_list(intent, rule):
    decision = decide(intent, HOLDING, restricted_symbols=["aapl"])
    check(decision, rule, *(["AAPL is on the restricted list"] if rule != "approved" else []))


WORKING_EXIT = sent(side="sell", qty=40, purpose="exit", working=True, at="2024-03-06 10:00")
RESTING_STOP = sent(side="sell", qty=100, purpose="stop", working=True, at="2024-03-06 10:00")


@pytest.mark.parametrize(
    "intent, orders, rule, fragments",
    [
        pytest.param(sell("MSFT"), [], "long_only", ["sell 100 MSFT refused: no MSFT is held and the book is long-only"], id="nothing-held"),
        pytest.param(sell(qty=150), [], "long_only", ["100 AAPL held; at most 100 can be sold"], id="oversell"),
        pytest.param(sell(qty=100), [WORKING_EXIT], "long_only", ["100 AAPL held, 40 already being sold; at most 60 can be sold"], id="working-sell"),
        pytest.param(sell(qty=60), [WORKING_EXIT], "approved", [], id="rest-of-position"),
        pytest.param(stop(stop_price=98), [RESTING_STOP], "approved", [], id="stop-replaces-stop"),
        pytest.param(sell(qty=100), [RESTING_STOP], "approved", [], id="exit-over-resting-stop"),
    ],
)  # fmt: skip
def test_long_only(intent, orders, rule, fragments):
    check(decide(intent, replace(HOLDING, recent_orders=tuple(orders))), rule, *fragments)


@pytest.mark.parametrize(
    "new_stop, rule, fragments",
    [
        pytest.param(
            95.0,
            "stops_only_tighten",
            ["moving it from $97.00 down to $95.00 would loosen it; stops only tighten"],
            id="loosen",
        ),
        pytest.param(97.0, "approved", [], id="same"),
        pytest.param(98.5, "approved", [], id="tighten"),
        pytest.param(
            100.0,
            "stops_only_tighten",
            ["a sell stop at $100.00 is at or above the last price $100.00"],
            id="at-price",
        ),
        pytest.param(101.0, "stops_only_tighten", ["send an exit instead"], id="above-price"),
    ],
)
def test_stops_only_tighten(new_stop, rule, fragments):
    check(decide(stop(stop_price=new_stop), HOLDING), rule, *fragments)


def test_a_first_stop_may_go_anywhere_below_the_price():
    state = account(positions={"AAPL": held("AAPL", 100)})  # no stop yet
    check(decide(stop(stop_price=80.0), state), "approved")


BAR = ny("2024-03-05 16:00")


@pytest.mark.parametrize(
    "intent, orders, rule, fragments",
    [
        pytest.param(buy(bar=BAR), [sent(bar=BAR, at="2024-03-06 09:31")], "duplicate_order", ["config cfg1 already sent a buy of AAPL for the bar of 2024-03-05 21:00 UTC"], id="same-bar"),
        pytest.param(buy(bar=BAR), [sent(bar=BAR - timedelta(days=1), at="2024-03-05 09:31")], "approved", [], id="earlier-bar"),
        pytest.param(buy(bar=BAR), [sent(bar=BAR, config_id="cfg2", at="2024-03-06 09:31")], "approved", [], id="other-config"),
        pytest.param(buy(bar=BAR), [sent(bar=BAR, side="sell", at="2024-03-06 09:31")], "approved", [], id="other-side"),
        pytest.param(buy(config_id=None, actor="alice"), [sent(config_id=None, actor="alice", at="2024-03-06 10:59:57")], "duplicate_order", ["the same order was sent by alice 3s ago"], id="double-click"),
        pytest.param(buy(config_id=None, actor="alice"), [sent(config_id=None, actor="alice", at="2024-03-06 10:59:30")], "approved", [], id="meant-again"),
        pytest.param(buy(config_id=None, actor="alice", qty=50), [sent(config_id=None, actor="alice", at="2024-03-06 10:59:57")], "approved", [], id="other-qty"),
    ],
)  # fmt: skip
def test_duplicate_order(intent, orders, rule, fragments):
    check(decide(intent, replace(HOLDING, recent_orders=tuple(orders))), rule, *fragments)


def _burst(count: int, side: str = "buy", at: str = "2024-03-06 10:59:30"):
    # Different symbols so that no order in the burst is a duplicate of the one checked.
    return tuple(sent(f"S{i}", side=side, qty=1, at=at) for i in range(count))


@pytest.mark.parametrize(
    "intent, orders, rule, fragments",
    [
        pytest.param(
            buy(),
            _burst(20),
            "order_throttle",
            ["20 buy orders in the last 60 seconds reached the limit of 20 per minute"],
            id="limit-reached",
        ),
        pytest.param(buy(), _burst(19), "approved", [], id="one-below"),
        pytest.param(
            buy(), _burst(20, at="2024-03-06 10:58:59"), "approved", [], id="a-minute-ago"
        ),
        pytest.param(buy(), _burst(20, side="sell"), "approved", [], id="sells-do-not-count"),
        pytest.param(sell(), _burst(20), "approved", [], id="sells-not-throttled"),
    ],
)
def test_order_throttle(intent, orders, rule, fragments):
    check(decide(intent, replace(HOLDING, recent_orders=orders)), rule, *fragments)


# -- universe filters --------------------------------------------------------------------


@pytest.mark.parametrize(
    "intent, quote, limits, rule, fragments",
    [
        pytest.param(buy("ZZZ"), None, {}, "price_known", ["no last price for ZZZ"], id="no-price"),
        pytest.param(
            buy("ZZZ", order_type="limit", limit_price=20.0),
            snapshot(20.0, 5e6),
            {},
            "approved",
            [],
            id="limit-without-quote",
        ),
        pytest.param(
            buy("ZZZ"),
            snapshot(4.0),
            {},
            "price_filter",
            ["ZZZ at $4.00 is below the minimum price $5.00"],
            id="penny",
        ),
        pytest.param(
            buy("ZZZ", qty=10),
            snapshot(600.0),
            {"max_price": 500},
            "price_filter",
            ["ZZZ at $600.00 is above the maximum price $500.00"],
            id="too-dear",
        ),
        pytest.param(
            buy("ZZZ"),
            snapshot(20.0, 500_000),
            {},
            "liquidity_filter",
            ["ZZZ trades $500,000.00 a day on average, below the minimum of $1,000,000.00"],
            id="illiquid",
        ),
        pytest.param(
            buy("ZZZ"),
            snapshot(20.0, None),
            {},
            "liquidity_filter",
            ["the average dollar volume of ZZZ is unknown"],
            id="unknown-volume",
        ),
        pytest.param(
            buy("ZZZ"),
            snapshot(20.0, None),
            {"min_avg_dollar_volume": 0},
            "approved",
            [],
            id="filter-off",
        ),
    ],
)
def test_universe_filters(intent, quote, limits, rule, fragments):
    quotes = market("AAPL") | ({"ZZZ": quote} if quote else {})
    check(decide(intent, account(market=quotes), **limits), rule, *fragments)


# -- drawdown ----------------------------------------------------------------------------


def _down(prior_week: float, prior_close: float, equity: float, **kw):
    history = marks(("2024-03-01 16:00", prior_week), ("2024-03-05 16:00", prior_close))
    return replace(HOLDING, equity=equity, cash=equity - 10_000, equity_marks=history, **kw)


@pytest.mark.parametrize(
    "intent, state, rule, fragments",
    [
        pytest.param(
            buy(),
            _down(100_000, 100_000, 97_900),
            "daily_loss",
            [
                "equity is down 2.10% since the prior close, past the daily limit of 2%: no new entries today"
            ],
            id="past-limit",
        ),
        pytest.param(
            buy("MSFT"), _down(100_000, 100_000, 98_100), "approved", [], id="within-limit"
        ),
        pytest.param(sell(), _down(100_000, 100_000, 97_900), "approved", [], id="exits-go"),
    ],
)
def test_daily_loss(intent, state, rule, fragments):
    check(decide(intent, state), rule, *fragments)


def test_weekly_soft_loss_halves_new_sizes():
    state = _down(100_000, 94_000, 94_000)  # down 6% on the week, flat on the day
    decision = decide(buy(qty=101), state)
    assert decision.approved and decision.qty == 50
    assert decision.reason == (
        "approved; buy 101 AAPL cut to 50: equity is down 6.00% this week, past the soft "
        "limit of 5%: sizes are cut to 50%"
    )
    check(decide(buy(qty=1), state), "weekly_soft_loss", "which leaves 0 shares")
    assert decide(sell(), state).qty == 100  # exits keep their size


def test_weekly_soft_loss_cut_is_judged_by_the_exposure_limits():
    # 300 shares break the 20% cap; the halved 150 do not.
    state = _down(100_000, 94_000, 94_000, positions={})
    decision = decide(buy(qty=300), state)
    assert decision.approved and decision.qty == 150


@pytest.mark.parametrize(
    "intent, rule, change",
    [
        pytest.param(buy(), "weekly_hard_loss", TradingState.HALTED, id="buy"),
        pytest.param(sell(), "weekly_hard_loss", TradingState.HALTED, id="strategy-exit"),
        pytest.param(TRADER_SELL, "approved", TradingState.HALTED, id="trader-sell"),
    ],
)
def test_weekly_hard_loss_halts(intent, rule, change):
    decision = decide(intent, _down(100_000, 92_000, 91_500))
    reason = "equity is down 8.50% this week, past the hard limit of 8%: trading HALTED until a trader resumes"
    check(decision, rule, reason)
    assert decision.state_change == change
    assert decision.state_reason == reason


def test_a_resume_acknowledges_the_loss_so_far():
    history = marks(
        ("2024-03-01 16:00", 100_000), ("2024-03-05 16:00", 92_000), ("2024-03-06 10:00", 91_800)
    )
    state = replace(
        HOLDING, equity=91_500, cash=81_500, equity_marks=history, resumed_at=ny("2024-03-06 10:00")
    )
    decision = decide(buy(qty=100), state)
    # Not halted again (down 0.33% since the resume), but still cut by the weekly soft loss.
    assert decision.approved and decision.qty == 50 and decision.state_change is None
    deeper = replace(state, equity=91_800 * 0.91, cash=70_000)
    assert decide(buy(), deeper).rule == "weekly_hard_loss"


def test_a_resume_last_week_does_not_excuse_this_week():
    history = marks(("2024-03-01 16:00", 100_000), ("2024-03-05 16:00", 92_000))
    state = replace(HOLDING, equity=91_500, equity_marks=history, resumed_at=ny("2024-02-28 10:00"))
    assert decide(buy(), state).rule == "weekly_hard_loss"


# -- exposure ----------------------------------------------------------------------------

FIVE = account(positions={s: held(s, 10) for s in ("AAPL", "MSFT", "IBM", "GE", "F")})
FOUR_AND_ONE_COMING = replace(
    with_positions(FIVE, *(held(s, 10) for s in ("AAPL", "MSFT", "IBM", "GE"))),
    recent_orders=(sent("BA", working=True, at="2024-03-06 10:00"),),
)


@pytest.mark.parametrize(
    "intent, state, limits, rule, fragments",
    [
        pytest.param(
            buy("BA"),
            FIVE,
            {},
            "max_positions",
            [
                "buy 100 BA refused: 5 positions held or being bought (AAPL, F, GE, IBM, MSFT) already reach the limit of 5"
            ],
            id="sixth",
        ),
        pytest.param(buy("AAPL"), FIVE, {}, "approved", [], id="add-to-held"),
        pytest.param(
            buy("CAT"),
            FOUR_AND_ONE_COMING,
            {},
            "max_positions",
            ["(AAPL, BA, GE, IBM, MSFT)"],
            id="working-buy-counts",
        ),
        pytest.param(buy("BA"), FIVE, {"max_positions": 6}, "approved", [], id="raised-limit"),
    ],
)
def test_max_positions(intent, state, limits, rule, fragments):
    check(decide(intent, state, **limits), rule, *fragments)


@pytest.mark.parametrize(
    "intent, state, rule, fragments",
    [
        pytest.param(
            buy(qty=300),
            account(),
            "position_cap",
            [
                "the position would be worth $30,000.00, 30.0% of equity $100,000.00, above the cap of 20% ($20,000.00); at most 200 more shares fit"
            ],
            id="new",
        ),
        pytest.param(buy(qty=200), account(), "approved", [], id="exactly-at-cap"),
        pytest.param(
            buy(qty=100),
            account(positions={"AAPL": held("AAPL", 150)}),
            "position_cap",
            ["worth $25,000.00", "at most 50 more shares fit"],
            id="adding",
        ),
        pytest.param(
            buy(qty=100),
            account(recent_orders=(sent(qty=150, working=True, at="2024-03-06 10:00"),)),
            "position_cap",
            ["at most 50 more shares fit"],
            id="working-buy",
        ),
        pytest.param(
            buy(qty=100, order_type="limit", limit_price=250.0),
            account(),
            "position_cap",
            ["worth $25,000.00", "at most 80 more shares fit"],
            id="limit-price",
        ),
    ],
)
def test_position_cap(intent, state, rule, fragments):
    check(decide(intent, state), rule, *fragments)


@pytest.mark.parametrize(
    "qty, rule",
    [pytest.param(100, "order_notional", id="over"), pytest.param(50, "approved", id="at")],
)
def test_order_notional(qty, rule):
    decision = decide(buy(qty=qty), max_order_notional=5_000)
    check(
        decision,
        rule,
        *(
            ["it costs $10,000.00, above the largest order allowed, $5,000.00"]
            if rule != "approved"
            else []
        ),
    )


@pytest.mark.parametrize(
    "intent, state, rule, fragments",
    [
        pytest.param(
            buy(qty=90),
            account(cash=10_000),
            "cash_buffer",
            [
                "it costs $9,000.00, leaving $1,000.00 of cash $10,000.00; the buffer keeps $2,000.00 (2% of equity)"
            ],
            id="into-buffer",
        ),
        pytest.param(buy(qty=80), account(cash=10_000), "approved", [], id="down-to-buffer"),
        pytest.param(
            buy(qty=40),
            account(
                cash=10_000,
                recent_orders=(sent("MSFT", qty=50, working=True, at="2024-03-06 10:00"),),
            ),
            "cash_buffer",
            ["leaving $1,000.00 of cash $10,000.00 and $5,000.00 in working buys"],
            id="working-buys-spend-cash",
        ),
    ],
)
def test_cash_buffer(intent, state, rule, fragments):
    check(decide(intent, state), rule, *fragments)


def test_a_bigger_buffer_is_honoured():
    check(
        decide(buy(qty=80), account(cash=10_000), cash_buffer=0.05),
        "cash_buffer",
        "$5,000.00 (5% of equity)",
    )


# -- buys-only rules (the exposure limits) ----------------------------------------------


def test_a_buys_only_rule_is_never_asked_about_a_sell():
    asked = []

    @rule(buys_only=True)
    def no_buys_today(intent, ctx):
        asked.append(str(intent.side))
        return Deny("no_buys_today", "no buys today")

    gate = RiskGate(RiskLimits(), rules=[no_buys_today])
    assert gate.check(sell(), HOLDING, ny(NOW)).approved
    assert gate.check(buy(), HOLDING, ny(NOW)).rule == "no_buys_today"
    assert asked == ["buy"]


@pytest.mark.parametrize(
    "quote",
    [
        pytest.param(snapshot(4.0, 0.0), id="penny-stock-nobody-trades"),
        pytest.param(None, id="no-quote"),
    ],
)
def test_an_exit_goes_out_whole_with_every_exposure_limit_broken(quote):
    # The exposure limits judge buys only (declared on each rule): one that forgot it would
    # trap a position that every limit says is too risky to hold. (Max positions never
    # judges a symbol already held.)
    state = account(
        equity=97_900,  # down 2.1% on the day, 5.9% on the week: past the daily and soft limits
        cash=0,
        equity_marks=marks(("2024-03-01 16:00", 104_000), ("2024-03-05 16:00", 100_000)),
        positions={"AAPL": held("AAPL", 100)},
        paused_configs={"cfg1"},
        recent_orders=_burst(20),
        market=market("MSFT") | ({"AAPL": quote} if quote else {}),
        earnings={"AAPL": (date(2024, 3, 7),)},
    )
    limits = {
        "restricted_symbols": ["AAPL"],
        "earnings_blackout_sessions": 3,
        "max_position_pct": 0.001,
        "max_order_notional": 1.0,
    }
    assert not decide(buy(qty=1), state, **limits).approved
    decision = decide(sell(), state, **limits)
    assert decision.approved and decision.qty == 100, decision.reason


# -- the decision as a trader and the audit trail see it ---------------------------------


def test_a_denial_names_the_first_rule_that_refuses():
    # Halted, outside the session, and too big: the halt is what the trader must hear.
    state = replace(account(), trading_state="HALTED", state_reason="kill switch drill")
    decision = decide(buy(qty=10_000), state, now="2024-03-09 11:00")
    assert decision.rule == "trading_state"


def test_event_payload_records_what_was_asked_and_what_was_decided():
    state = _down(100_000, 94_000, 94_000)
    intent = OrderIntent("AAPL", "buy", 100, config_id="cfg1", bar=BAR, actor="loop")
    payload = decide(intent, state).to_event_payload()
    assert payload["approved"] is True
    assert (payload["requested_qty"], payload["qty"]) == (100, 50)
    assert payload["bar"] == "2024-03-05T21:00:00+00:00"
    assert payload["notes"] and "cut to 50" in payload["notes"][0]
