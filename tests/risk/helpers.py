"""Builders for the risk tests: New York times, a clean account, a gate call."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from engine.risk import (
    AccountState,
    Decision,
    EquityMark,
    OrderIntent,
    Position,
    RiskGate,
    RiskLimits,
    SymbolSnapshot,
)

NY = ZoneInfo("America/New_York")

#: A plain Wednesday morning in the regular session.
NOW = "2024-03-06 11:00"


def ny(text: str) -> datetime:
    """A New York wall-clock time ("2024-03-06 11:00") as a tz-aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=NY).astimezone(UTC)


def snapshot(price: float = 100.0, dollar_volume: float = 50e6, sector: str | None = None):
    return SymbolSnapshot(price, dollar_volume, sector)


def market(*symbols: str, price: float = 100.0) -> dict[str, SymbolSnapshot]:
    return {s: snapshot(price) for s in symbols}


def held(
    symbol: str, qty: float = 100, avg_price: float = 100.0, opened: str = "2024-03-01 10:00", **kw
):
    return Position(symbol, qty, avg_price, ny(opened), **kw)


def account(**overrides) -> AccountState:
    """A $100,000 all-cash account that breaks no limit, with $100 quotes for a few symbols."""
    base = {
        "equity": 100_000.0,
        "cash": 100_000.0,
        "market": market("AAPL", "MSFT", "IBM", "GE", "F", "BA", "CAT", "DELL"),
    }
    base.update(overrides)
    return AccountState(**base)


def buy(symbol: str = "AAPL", qty: float = 100, **kw) -> OrderIntent:
    kw.setdefault("config_id", "cfg1")
    return OrderIntent(symbol, "buy", qty, **kw)


def sell(symbol: str = "AAPL", qty: float = 100, **kw) -> OrderIntent:
    kw.setdefault("config_id", "cfg1")
    kw.setdefault("purpose", "exit")
    return OrderIntent(symbol, "sell", qty, **kw)


def stop(symbol: str = "AAPL", qty: float = 100, stop_price: float = 95.0, **kw) -> OrderIntent:
    kw.setdefault("config_id", "cfg1")
    return OrderIntent(
        symbol, "sell", qty, purpose="stop", order_type="stop", stop_price=stop_price, **kw
    )


def decide(
    intent: OrderIntent,
    state: AccountState | None = None,
    *,
    now: str = NOW,
    **limits,
) -> Decision:
    """The gate's decision with default limits changed by ``limits``."""
    return RiskGate(RiskLimits(**limits)).check(intent, state or account(), ny(now))


def with_positions(state: AccountState, *positions: Position) -> AccountState:
    return replace(state, positions={p.symbol: p for p in positions})


def marks(*points: tuple[str, float]) -> tuple[EquityMark, ...]:
    """Equity marks from (New York time, equity) pairs."""
    return tuple(EquityMark(ny(at), equity) for at, equity in points)
