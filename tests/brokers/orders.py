"""Orders as a broker holds them, for tests that need one without placing it."""

from __future__ import annotations

from engine.brokers import Order, OrderStatus, OrderType, Side, TimeInForce


def broker_order(**changes) -> Order:
    """A buy of 10 AAPL at market, new at the broker, with ``changes`` (enums by member or value)."""
    spec = dict(
        id="o-1", client_order_id="c", symbol="AAPL", side="buy", qty=10.0, type="market",
        time_in_force="day", status="new",
    ) | changes  # fmt: skip
    return Order(**{
        **spec,
        "side": Side(spec["side"]),
        "type": OrderType(spec["type"]),
        "time_in_force": TimeInForce(spec["time_in_force"]),
        "status": OrderStatus(spec["status"]),
    })  # fmt: skip
