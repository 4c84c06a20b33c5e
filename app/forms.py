"""What a trader typed into a form, checked before it becomes a command: pure functions.

The live loop's risk gate still judges every order; these checks catch what a person
would want caught before anything is queued: a symbol outside the universe, a zero
quantity, a limit price typed with a misplaced decimal point, a stop on the wrong side of
the market, a stop moved away from the price.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pydantic

from engine.errors import InputError
from engine.live.commands import ManualOrder, TightenStop
from engine.risk.limits import RiskLimits, limits_from_mapping

#: A limit or stop further than this from the last price is taken for a typo.
PRICE_COLLAR = 0.20


def check_manual_order(
    ticket: Mapping[str, Any], *, universe: list[str], last_price: float | None
) -> ManualOrder:
    """The ManualOrder a ticket describes, or an InputError saying what to fix.

    ``ticket`` is what the trader typed, under ManualOrder's field names (symbol, side, qty,
    order_type, limit_price, stop_price). ``last_price`` is the newest known price of the
    symbol: a limit or stop price must be within :data:`PRICE_COLLAR` of it, a buy stop
    above it and a sell stop below it (a stop on the other side would trigger at once).
    """
    symbol = (ticket.get("symbol") or "").strip().upper()
    if not symbol:
        raise InputError("choose a symbol")
    if symbol not in universe:
        raise InputError(
            f"{symbol} is not in the universe (approved configs' symbols and stored bars)",
            hint="ingest its bars first (wb ingest --symbols " + symbol + ") or pick another",
        )
    qty = ticket.get("qty")
    if qty is None or not math.isfinite(qty) or qty <= 0:
        raise InputError(f"quantity must be more than 0 shares, not {qty!r}")
    if last_price is None:
        raise InputError(
            f"there is no price for {symbol}, so the order cannot be checked",
            hint=f"ingest {symbol}'s bars first",
        )
    kind, side = ticket.get("order_type"), ticket.get("side")
    price = ticket.get(f"{kind}_price")  # the one price this order type reads (market: none)
    if price is not None:
        if not math.isfinite(price) or price <= 0:
            raise InputError(f"the {kind} price must be positive, not {price!r}")
        _within_collar(kind, price, last_price)
    if kind == "stop" and price is not None:
        if side == "buy" and price <= last_price:
            raise InputError(
                f"a buy stop at {price:,.2f} is at or below the last price {last_price:,.2f}: "
                "it would trigger at once",
                hint="a buy stop goes above the market; for a cheaper entry use a limit",
            )
        if side == "sell" and price >= last_price:
            raise InputError(
                f"a sell stop at {price:,.2f} is at or above the last price {last_price:,.2f}: "
                "it would trigger at once",
                hint="a sell stop goes below the market; to sell higher use a limit",
            )
    # Only that price is sent: a limit typed before the trader chose "stop" is not.
    order = {**ticket, "symbol": symbol, "limit_price": None, "stop_price": None}
    if price is not None:
        order[f"{kind}_price"] = price
    try:
        return ManualOrder.model_validate(order)
    except pydantic.ValidationError as exc:
        raise InputError(
            "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        ) from None


def check_tighten_stop(
    *, symbol: str, new_stop: float, current_stop: float | None, last_price: float
) -> TightenStop:
    """The TightenStop for a held long position, or an InputError: stops only move up, below the price."""
    if new_stop is None or not math.isfinite(new_stop) or new_stop <= 0:
        raise InputError(f"the stop must be a positive price, not {new_stop!r}")
    if new_stop >= last_price:
        raise InputError(
            f"a stop at {new_stop:,.2f} is at or above the last price {last_price:,.2f}: "
            "it would sell at once",
            hint="to exit now, close the position instead",
        )
    if current_stop is not None and not math.isnan(current_stop) and new_stop <= current_stop:
        raise InputError(
            f"{symbol}'s stop is {current_stop:,.2f}; {new_stop:,.2f} would loosen it",
            hint="stops only ever tighten: choose a price above the current stop",
        )
    return TightenStop(symbol=symbol, stop_price=new_stop)


def _within_collar(name: str, price: float, last: float) -> None:
    if abs(price / last - 1) > PRICE_COLLAR:
        raise InputError(
            f"the {name} price {price:,.2f} is {price / last - 1:+.0%} from the last price "
            f"{last:,.2f}: more than {PRICE_COLLAR:.0%} away looks like a typo",
            hint="check the decimal point; for a price that far away, wait until it is nearer",
        )


# -- risk limits -----------------------------------------------------------------------------


#: How the Settings form groups the limits (as RiskLimits orders them); new limits go to "Other".
LIMIT_GROUPS = {
    "Sizing": ["risk_per_trade", "allow_wide_risk_per_trade", "fractional_shares"],
    "Exposure": ["max_positions", "max_position_pct", "cash_buffer", "max_order_notional",
                 "max_orders_per_minute", "duplicate_window_seconds"],
    "Drawdown": ["daily_loss_limit", "weekly_soft_loss", "weekly_soft_size_factor",
                 "weekly_hard_loss"],
    "Day trading": ["day_trade_policy", "pdt_equity_threshold", "pdt_max_day_trades",
                    "allow_protective_stop_as_4th_day_trade"],
    "Compliance and universe": ["wash_sale_policy", "allow_outside_session", "min_price",
                                "max_price", "min_avg_dollar_volume", "restricted_symbols",
                                "earnings_blackout_sessions"],
    "Entries a trader approves": ["approve_entries", "approve_entries_above", "approval_expires"],
}  # fmt: skip


#: Limits that are fractions of equity: entered and shown as percentages, stored as fractions.
PERCENT_LIMITS = frozenset({"risk_per_trade", "max_position_pct", "cash_buffer",
                            "daily_loss_limit", "weekly_soft_loss", "weekly_hard_loss"})  # fmt: skip
#: Limits in dollars.
MONEY_LIMITS = frozenset({"max_order_notional", "pdt_equity_threshold", "min_price", "max_price",
                          "min_avg_dollar_volume", "approve_entries_above"})  # fmt: skip


def limit_text(name: str, value: Any) -> str:
    """One limit's value as a trader reads it: ``20%``, ``$25,000``, ``x0.5``, ``yes``, ``none``."""
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name in PERCENT_LIMITS:
        return f"{value:.2%}".replace(".00%", "%")
    if name in MONEY_LIMITS:
        return f"${value:,.2f}".removesuffix(".00")
    if name == "weekly_soft_size_factor":
        return f"×{value:g}"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(sorted(value)) or "none"
    return f"{value:,g}" if isinstance(value, int | float) else str(value)


def form_values(limits: RiskLimits) -> dict[str, Any]:
    """The limits in the form's units: fractions of equity as percentages (20 for 0.20)."""
    values = limits.to_mapping()
    return {n: v * 100 if n in PERCENT_LIMITS else v for n, v in values.items()}


def limit_fields() -> list[tuple[str, Any]]:
    """(name, pydantic field) of every risk limit, in the model's order."""
    return list(RiskLimits.model_fields.items())


def limit_groups() -> list[tuple[str, list[tuple[str, Any]]]]:
    """The limits in their form groups: (group, [(name, field), ...]), every limit once."""
    fields = dict(limit_fields())
    grouped = [
        (group, [(n, fields[n]) for n in names if n in fields])
        for group, names in LIMIT_GROUPS.items()
    ]
    placed = {n for names in LIMIT_GROUPS.values() for n in names}
    rest = [(n, f) for n, f in fields.items() if n not in placed]
    return grouped + ([("Other", rest)] if rest else [])


def limits_from_form(values: dict[str, Any]) -> RiskLimits:
    """RiskLimits from the Settings form, through the same validation as a limits file.

    The form gives fractions of equity as percentages (PERCENT_LIMITS), restricted symbols
    as text and an empty price cap as None; everything else is passed as typed. Raises :class:`~engine.risk.limits.LimitsError` naming each
    bad field.
    """
    data = dict(values)
    for name in PERCENT_LIMITS & data.keys():  # the form takes percentages
        if isinstance(data[name], int | float):
            data[name] = data[name] / 100
    text = data.get("restricted_symbols")
    if isinstance(text, str):
        data["restricted_symbols"] = [s for s in text.replace(",", " ").split() if s]
    if data.get("max_price") in ("", 0, 0.0):
        data["max_price"] = None
    return limits_from_mapping(data, source="the risk limits entered")
