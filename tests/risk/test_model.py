"""Order intents and account state: bad input is refused with a clear error; histories are ordered."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from engine.errors import InputError
from engine.risk import AccountState, EquityMark, OrderIntent, Position, Side, SubmittedOrder


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param(
            {"qty": 0}, "order quantity for AAPL must be a positive number, not 0", id="zero-qty"
        ),
        pytest.param({"qty": float("nan")}, "must be a positive number, not nan", id="nan-qty"),
        pytest.param({"side": "short"}, "'short' is not a valid Side", id="side"),
        pytest.param(
            {"order_type": "limit"}, "a limit order for AAPL needs a limit_price", id="limit"
        ),
        pytest.param({"order_type": "stop"}, "a stop order for AAPL needs a stop_price", id="stop"),
        pytest.param(
            {"purpose": "stop", "side": "sell"},
            "a protective stop for AAPL is a sell order of type stop",
            id="protective-stop",
        ),
        pytest.param(
            {"limit_price": -1.0, "order_type": "limit"},
            "limit price for AAPL must be a positive number",
            id="negative-limit",
        ),
        pytest.param({"symbol": " "}, "an order needs a symbol", id="no-symbol"),
    ],
)
def test_malformed_intents_are_refused_with_what_is_wrong(kwargs, message):
    fields = {"symbol": "aapl", "side": "buy", "qty": 10} | kwargs
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        OrderIntent(**fields)


def test_intents_are_normalised():
    intent = OrderIntent(" aapl ", "buy", 10, bar=datetime(2024, 3, 5, 21, 0))
    assert intent.symbol == "AAPL" and intent.side is Side.BUY and intent.qty == 10.0
    assert intent.bar == datetime(2024, 3, 5, 21, 0, tzinfo=UTC)  # naive times are UTC
    assert intent.is_manual and intent.adds_exposure


def test_account_state_orders_its_histories():
    t = lambda h: datetime(2024, 3, 6, h, tzinfo=UTC)  # noqa: E731
    state = AccountState(
        equity=1.0,
        cash=1.0,
        positions=[Position("AAPL", 1, 1.0, t(15))],
        equity_marks=(EquityMark(t(16), 2.0), EquityMark(t(15), 1.0)),
        day_trades=(date(2024, 3, 6), date(2024, 3, 1)),
        recent_orders=(SubmittedOrder("b", "buy", 1, t(16)), SubmittedOrder("a", "sell", 1, t(15))),
    )
    assert [m.equity for m in state.equity_marks] == [1.0, 2.0]
    assert state.day_trades == (date(2024, 3, 1), date(2024, 3, 6))
    assert [o.symbol for o in state.recent_orders] == ["A", "B"]
    assert set(state.positions) == {"AAPL"} and state.buying_power == 1.0


def test_a_position_needs_shares_and_a_price():
    with pytest.raises(InputError, match="position quantity of AAPL"):
        Position("AAPL", 0, 10.0, datetime(2024, 1, 2))
