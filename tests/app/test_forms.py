"""What a trader types is checked before it becomes a command."""

from __future__ import annotations

import pytest

from app import forms
from engine.errors import InputError
from engine.risk.limits import LimitsError, RiskLimits

UNIVERSE = ["AAPL", "GE"]


def ticket(last_price=25.0, **changes):
    typed = {"symbol": "ge", "side": "buy", "qty": 10, "order_type": "market",
             "limit_price": None, "stop_price": None}  # fmt: skip
    return forms.check_manual_order(typed | changes, universe=UNIVERSE, last_price=last_price)


def test_a_sane_ticket_becomes_a_manual_order():
    order = ticket(order_type="limit", limit_price=24.5)
    assert (order.symbol, order.side, order.qty, order.order_type, order.limit_price) == (
        "GE",
        "buy",
        10,
        "limit",
        24.5,
    )
    # A price typed for another order type is not sent (nor checked).
    assert ticket(order_type="market", limit_price=24.5).limit_price is None
    assert ticket(order_type="limit", limit_price=24.5, stop_price=2.5).stop_price is None


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"symbol": "TSLA"}, "not in the universe"),
        ({"symbol": ""}, "choose a symbol"),
        ({"qty": 0}, "more than 0 shares"),
        ({"qty": None}, "more than 0 shares"),
        ({"last_price": None}, "no price for GE"),
        ({"order_type": "limit", "limit_price": 250.0}, "looks like a typo"),
        ({"order_type": "limit", "limit_price": 2.5}, "looks like a typo"),
        ({"order_type": "limit", "limit_price": None}, "a limit order needs a limit price"),
        ({"order_type": "stop", "stop_price": 24.0}, "buy stop at 24.00 is at or below"),
        (
            {"order_type": "stop", "side": "sell", "stop_price": 26.0},
            "sell stop at 26.00 is at or above",
        ),
    ],
)
def test_a_bad_ticket_says_what_to_fix(changes, message):
    with pytest.raises(InputError, match=message):
        ticket(**changes)


def test_stops_only_tighten_and_stay_below_the_price():
    command = forms.check_tighten_stop(
        symbol="GE", new_stop=23.0, current_stop=22.0, last_price=25.0
    )
    assert (command.symbol, command.stop_price) == ("GE", 23.0)
    assert forms.check_tighten_stop(symbol="GE", new_stop=20.0, current_stop=None, last_price=25.0)
    with pytest.raises(InputError, match="would loosen it"):
        forms.check_tighten_stop(symbol="GE", new_stop=21.0, current_stop=22.0, last_price=25.0)
    with pytest.raises(InputError, match="would sell at once"):
        forms.check_tighten_stop(symbol="GE", new_stop=25.0, current_stop=22.0, last_price=25.0)


def test_the_limits_form_goes_through_the_limits_validation():
    entered = forms.form_values(RiskLimits()) | {"restricted_symbols": "gme, amc", "max_price": None}
    limits = forms.limits_from_form(entered)
    assert limits.restricted_symbols == frozenset({"GME", "AMC"})
    assert limits == RiskLimits(restricted_symbols={"GME", "AMC"})  # percent in, fractions kept
    with pytest.raises(LimitsError) as caught:  # the form takes percentages: 9 means 9%
        forms.limits_from_form(entered | {"weekly_soft_loss": 9.0, "cash_buffer": 0.1})
    assert set(caught.value.problems) >= {"cash_buffer"}
    with pytest.raises(LimitsError, match="weekly_soft_loss"):
        forms.limits_from_form(entered | {"weekly_soft_loss": 9.0})


def test_limits_read_as_percent_and_dollars():
    assert forms.limit_text("max_position_pct", 0.2) == "20%"
    assert forms.limit_text("daily_loss_limit", 0.025) == "2.50%"
    assert forms.limit_text("max_order_notional", 25_000.0) == "$25,000"
    assert forms.limit_text("weekly_soft_size_factor", 0.5) == "×0.5"
    assert forms.limit_text("max_price", None) == "none"


def test_every_limit_appears_once_in_the_settings_form():
    names = [name for _, fields in forms.limit_groups() for name, _ in fields]
    assert sorted(names) == sorted(RiskLimits.model_fields)
