"""Each trading state held to what it says: which orders it lets through, and the words.

The whole gate decides every case (an account that breaks no other limit), so the table is
what a trader gets: with the kill switch on, exits and stops go and buys do not; HALTED
lets only a trader's own reducing order go; a drawdown halt is a HALT like a trader's.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.risk import TradingState, states
from tests.risk.helpers import account, buy, decide, held, marks, sell, stop

HOLDING = account(positions={"AAPL": held("AAPL", 100, stop_price=97.0)})
#: Down 9% this week: past the weekly hard loss (8%), which HALTS trading.
DRAWDOWN = replace(
    HOLDING,
    equity=91_000,
    cash=81_000,
    equity_marks=marks(("2024-03-01 16:00", 100_000), ("2024-03-05 16:00", 91_000)),
)

ORDERS = {
    "strategy entry": buy("MSFT"),
    "strategy exit": sell(),
    "protective stop": stop(stop_price=98.0),
    "trader buy": buy("MSFT", config_id=None, actor="alice", purpose="manual"),
    "trader sell": sell(config_id=None, actor="alice", purpose="manual"),
}
GOES = "approved"

#: account -> what each order gets: approved, or the rule that refuses it.
TABLE = {
    "ACTIVE": (HOLDING, dict.fromkeys(ORDERS, GOES)),
    "kill switch": (
        replace(HOLDING, kill_switch=True, trading_state=TradingState.REDUCING),
        {"strategy entry": "kill_switch", "strategy exit": GOES, "protective stop": GOES,
         "trader buy": "kill_switch", "trader sell": GOES},
    ),
    # A kill switch whose state was lost (an old store): it still stops buys only.
    "kill switch, state ACTIVE": (
        replace(HOLDING, kill_switch=True),
        {"strategy entry": "kill_switch", "strategy exit": GOES, "protective stop": GOES,
         "trader buy": "kill_switch", "trader sell": GOES},
    ),
    "REDUCING": (
        replace(HOLDING, trading_state=TradingState.REDUCING),
        {"strategy entry": "trading_state", "strategy exit": GOES, "protective stop": GOES,
         "trader buy": "trading_state", "trader sell": GOES},
    ),
    "HALTED": (
        replace(HOLDING, trading_state=TradingState.HALTED, state_reason="halted by bob"),
        {"strategy entry": "trading_state", "strategy exit": "trading_state",
         "protective stop": "trading_state", "trader buy": "trading_state", "trader sell": GOES},
    ),
    "kill switch and HALTED": (
        replace(HOLDING, kill_switch=True, trading_state=TradingState.HALTED),
        {"strategy entry": "kill_switch", "strategy exit": "trading_state",
         "protective stop": "trading_state", "trader buy": "kill_switch", "trader sell": GOES},
    ),
    "weekly hard loss": (
        DRAWDOWN,
        {"strategy entry": "weekly_hard_loss", "strategy exit": "weekly_hard_loss",
         "protective stop": "weekly_hard_loss", "trader buy": "weekly_hard_loss",
         "trader sell": GOES},
    ),
}  # fmt: skip

CASES = [
    pytest.param(state, order, expected, id=f"{name}-{order}")
    for name, (state, outcomes) in TABLE.items()
    for order, expected in outcomes.items()
]


@pytest.mark.parametrize("state, order, expected", CASES)
def test_each_state_lets_through_what_it_says(state, order, expected):
    decision = decide(ORDERS[order], state)
    assert decision.rule == expected, decision.reason


def test_the_kill_switch_says_it_stops_entries_and_lets_exits_and_stops_go():
    state, _ = TABLE["kill switch"]
    decision = decide(ORDERS["strategy entry"], state)
    assert decision.reason == (
        "buy 100 MSFT refused: the kill switch is on, trading is REDUCING: "
        "no new entries; exits and protective stops still go"
    )
    assert decision.state_change is None  # the switch itself is the state: nothing to escalate


def test_a_halt_says_why_and_what_still_goes():
    state, _ = TABLE["HALTED"]
    decision = decide(ORDERS["strategy exit"], state)
    assert decision.reason == (
        "sell 100 AAPL refused: trading is HALTED (halted by bob) until a trader resumes: "
        + states.MEANING[TradingState.HALTED]
    )


def test_the_weekly_hard_loss_halts_and_a_traders_reducing_order_still_goes():
    decision = decide(ORDERS["trader sell"], DRAWDOWN)
    assert decision.approved and decision.state_change is TradingState.HALTED
    refused = decide(ORDERS["strategy exit"], DRAWDOWN)
    assert refused.state_change is TradingState.HALTED
    assert "past the hard limit of 8%: trading HALTED until a trader resumes" in refused.reason


@pytest.mark.parametrize(
    "a, b, strictest",
    [
        ("ACTIVE", "REDUCING", "REDUCING"),
        ("HALTED", "REDUCING", "HALTED"),
        ("ACTIVE", "ACTIVE", "ACTIVE"),
    ],
)
def test_the_stricter_state_wins(a, b, strictest):
    assert states.stricter(TradingState(a), TradingState(b)) is TradingState(strictest)
