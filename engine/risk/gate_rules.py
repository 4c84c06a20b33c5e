"""The gate's rules about trading state, order hygiene, exposure and drawdown.

Each rule is a plain function ``rule(intent, ctx) -> Outcome | None`` (declared with
:func:`~engine.risk.rule_facts.rule` where the gate or the loop must know a fact about
it, such as ``buys_only``): None lets the order pass; a :class:`Deny` stops it with a reason in a trader's words that carries the numbers;
a :class:`Resize` lets it pass smaller; an :class:`Escalate` moves the account to a
stricter trading state. Rules never raise for an order they dislike and never touch the
store or a broker. The compliance rules (session, day trading, wash sales) live in
:mod:`engine.risk.compliance`; :mod:`engine.risk.gate` runs them all in order.

The book is long-only: a buy adds exposure, a sell reduces it. Exposure limits apply to
buys only (they are declared ``buys_only``, and the gate passes them every sell), so
nothing here can stop a position from being reduced except the trading state, the
session, the day-trade rule and a malformed order.
"""

from __future__ import annotations

from datetime import timedelta

from engine.risk import states
from engine.risk.context import GateContext
from engine.risk.decision import Deny, Escalate, Outcome, Resize
from engine.risk.gate_inputs import OrderIntent, Purpose, TradingState
from engine.risk.rule_facts import rule
from engine.risk.sizing import whole

_EPSILON = 1e-9  # money compared after float arithmetic


def money(value: float) -> str:
    """``1234.5`` -> ``"$1,234.50"``; negatives as ``"-$1,234.50"``."""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def shares(qty: float) -> str:
    """``100.0`` -> ``"100"``; fractional quantities keep their decimals."""
    return f"{qty:,.0f}" if float(qty).is_integer() else f"{qty:,.6g}"


def describe_order(intent: OrderIntent) -> str:
    """``"buy 100 AAPL"``: how a reason names the order."""
    return f"{intent.side} {shares(intent.qty)} {intent.symbol}"


def refuse(
    rule_name: str,
    intent: OrderIntent,
    why: str,
    *,
    state_change: TradingState | None = None,
    state_reason: str = "",
) -> Deny:
    """``rule_name``'s denial of ``intent``, its reason ``"buy 100 AAPL refused: <why>"``
    (with ``state_change``, the stricter state the account moves to, and why)."""
    return Deny(rule_name, f"{describe_order(intent)} refused: {why}", state_change, state_reason)


# -- hard stops: malformed orders and trading state -------------------------------------


def order_shape(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """Deny a fractional quantity on an account that trades whole shares."""
    if not ctx.limits.fractional_shares and not float(intent.qty).is_integer():
        why = "this account trades whole shares only (fractional_shares is off)"
        return refuse("order_shape", intent, why)
    return None


@rule(alerts=False)
def kill_switch(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """The kill switch stops new entries: exits and protective stops still go (REDUCING)."""
    if not ctx.state.kill_switch or states.lets_through(states.KILL_SWITCH_STATE, intent):
        return None
    why = f"the kill switch is on, {states.refusal(states.KILL_SWITCH_STATE)}"
    return refuse("kill_switch", intent, why)


@rule(needs_marks=True)
def weekly_hard_loss(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """A weekly loss past the hard limit HALTS trading until a trader resumes."""
    if ctx.trading_state is TradingState.HALTED:
        return None
    down = ctx.losses.weekly_since_resume
    limit = ctx.limits.weekly_hard_loss
    if down < limit:
        return None
    reason = (
        f"equity is down {down:.2%} this week, past the hard limit of {limit:.0%}: "
        "trading HALTED until a trader resumes"
    )
    if states.lets_through(TradingState.HALTED, intent):
        return Escalate("weekly_hard_loss", TradingState.HALTED, reason)
    return refuse(
        "weekly_hard_loss", intent, reason, state_change=TradingState.HALTED, state_reason=reason
    )


@rule(alerts=False)
def trading_state(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """REDUCING lets only exits and stops go; HALTED only a trader's orders that reduce."""
    state = ctx.trading_state
    if states.lets_through(state, intent):
        return None
    why = f" ({ctx.state_reason})" if ctx.state_reason else ""
    until = " until a trader resumes" if state is TradingState.HALTED else ""
    return refuse(
        "trading_state", intent, f"trading is {state.value}{why}{until}: {states.MEANING[state]}"
    )


@rule(alerts=False, buys_only=True)
def paused_strategy(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """A paused config may not open or add; its exits and stops still go, so it can unwind."""
    if intent.config_id in ctx.state.paused_configs:
        return refuse(
            "paused_strategy",
            intent,
            f"config {intent.config_id} is paused; it may only exit its positions until a "
            "trader resumes it",
        )
    return None


# -- order hygiene ----------------------------------------------------------------------


@rule(buys_only=True)
def restricted_list(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """Nobody buys a symbol on the restricted list."""
    if intent.symbol in ctx.limits.restricted_symbols:
        return refuse("restricted_list", intent, f"{intent.symbol} is on the restricted list")
    return None


def long_only(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """A sell may not exceed the shares held (less those already being sold): no shorts."""
    if intent.adds_exposure:
        return None
    held = ctx.state.position_qty(intent.symbol)
    if held <= 0:
        return refuse("long_only", intent, f"no {intent.symbol} is held and the book is long-only")
    # A protective stop replaces the position's stop, so it may cover every held share.
    selling = (
        0.0 if intent.purpose is Purpose.STOP else ctx.state.working_sells.get(intent.symbol, 0)
    )
    available = held - selling
    if intent.qty > available + _EPSILON:
        already = f", {shares(selling)} already being sold" if selling else ""
        why = (
            f"{shares(held)} {intent.symbol} held{already}; at most "
            f"{shares(max(available, 0))} can be sold (the book is long-only)"
        )
        return refuse("long_only", intent, why)
    return None


def stops_only_tighten(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """A protective stop may only move toward the price, and must sit below it."""
    if intent.purpose is not Purpose.STOP:
        return None
    position = ctx.state.positions.get(intent.symbol)
    new = intent.stop_price
    if position is not None and position.stop_price is not None and new < position.stop_price:
        return Deny(
            "stops_only_tighten",
            f"stop on {intent.symbol} refused: moving it from {money(position.stop_price)} down "
            f"to {money(new)} would loosen it; stops only tighten",
        )
    last = ctx.state.last_price(intent.symbol)
    if last is not None and new >= last:
        return Deny(
            "stops_only_tighten",
            f"stop on {intent.symbol} refused: a sell stop at {money(new)} is at or above the "
            f"last price {money(last)} and would fill at once; send an exit instead",
        )
    return None


def duplicate_order(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """The same source may not send the same side of a symbol twice for one bar.

    A trader's order has no bar: the same order from the same trader within
    ``duplicate_window_seconds`` is taken for a double click.
    """
    if intent.bar is not None:
        if (intent.source, intent.symbol, intent.side, intent.bar) in ctx.state.sent_keys:
            why = (
                f"{intent.source} already sent a {intent.side} of {intent.symbol} for the bar "
                f"of {intent.bar:%Y-%m-%d %H:%M} UTC"
            )
            return refuse("duplicate_order", intent, why)
        return None
    window = timedelta(seconds=ctx.limits.duplicate_window_seconds)
    for order in reversed(ctx.state.recent_orders):
        if order.submitted_at < ctx.now - window:
            break
        if (order.source, order.symbol, order.side, order.qty) == (
            intent.source,
            intent.symbol,
            intent.side,
            intent.qty,
        ):
            ago = (ctx.now - order.submitted_at).total_seconds()
            why = (
                f"the same order was sent by {intent.source} {ago:.0f}s ago; send it again "
                f"after {ctx.limits.duplicate_window_seconds:.0f}s if it is meant"
            )
            return refuse("duplicate_order", intent, why)
    return None


@rule(buys_only=True)
def order_throttle(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """At most ``max_orders_per_minute`` buys in any 60 seconds (a runaway-loop guard).

    Orders that reduce exposure are not throttled: a flatten of the whole book must go out
    at once, and the long-only rule already bounds how much can be sold.
    """
    sent, limit = ctx.buys_last_minute, ctx.limits.max_orders_per_minute
    if sent < limit:
        return None
    why = f"{sent} buy orders in the last 60 seconds reached the limit of {limit} per minute"
    return refuse("order_throttle", intent, why)


# -- universe filters (buys only) -------------------------------------------------------


@rule(buys_only=True)
def price_known(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """A buy needs a price (its limit, or the last trade) for every dollar limit after this."""
    if ctx.price(intent) is not None:
        return None
    why = (
        f"no last price for {intent.symbol}, so its cost cannot be checked; send a limit "
        "order or refresh the market data"
    )
    return refuse("price_known", intent, why)


@rule(buys_only=True)
def price_filter(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """Buys only of shares priced between ``min_price`` and ``max_price``."""
    price, limits = ctx.price(intent), ctx.limits
    if price is None:
        return price_known(intent, ctx)
    priced = f"{intent.symbol} at {money(price)}"
    if price < limits.min_price:
        why = f"{priced} is below the minimum price {money(limits.min_price)}"
        return refuse("price_filter", intent, why)
    if limits.max_price is not None and price > limits.max_price:
        why = f"{priced} is above the maximum price {money(limits.max_price)}"
        return refuse("price_filter", intent, why)
    return None


@rule(buys_only=True)
def liquidity_filter(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """Buys only of symbols trading at least ``min_avg_dollar_volume`` a day on average."""
    floor = ctx.limits.min_avg_dollar_volume
    if floor <= 0:
        return None
    snapshot = ctx.state.market.get(intent.symbol)
    volume = snapshot.avg_dollar_volume if snapshot else None
    if volume is None:
        why = (
            f"the average dollar volume of {intent.symbol} is unknown and the minimum is "
            f"{money(floor)} a day"
        )
        return refuse("liquidity_filter", intent, why)
    if volume < floor:
        why = (
            f"{intent.symbol} trades {money(volume)} a day on average, below the minimum of "
            f"{money(floor)}"
        )
        return refuse("liquidity_filter", intent, why)
    return None


# -- drawdown (buys only, the hard halt above) ------------------------------------------


@rule(needs_marks=True, buys_only=True)
def daily_loss(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """No new entries for the rest of a day that is down ``daily_loss_limit`` or more."""
    down, limit = ctx.losses.daily, ctx.limits.daily_loss_limit
    if down < limit:
        return None
    why = (
        f"equity is down {down:.2%} since the prior close, past the daily limit of "
        f"{limit:.0%}: no new entries today"
    )
    return refuse("daily_loss", intent, why)


@rule(needs_marks=True, buys_only=True)
def weekly_soft_loss(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """Past the weekly soft loss, new buys are cut to ``weekly_soft_size_factor`` of their size."""
    down, limits = ctx.losses.weekly, ctx.limits
    if down < limits.weekly_soft_loss:
        return None
    qty = whole(intent.qty * limits.weekly_soft_size_factor, limits.fractional_shares)
    why = (
        f"equity is down {down:.2%} this week, past the soft limit of "
        f"{limits.weekly_soft_loss:.0%}: sizes are cut to {limits.weekly_soft_size_factor:.0%}"
    )
    if qty <= 0:
        return refuse("weekly_soft_loss", intent, f"{why}, which leaves 0 shares")
    return Resize("weekly_soft_loss", qty, f"{describe_order(intent)} cut to {shares(qty)}: {why}")


# -- exposure (buys only) ---------------------------------------------------------------


@rule(buys_only=True)
def max_positions(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """A buy of a new symbol may not take the book past ``max_positions`` symbols."""
    open_symbols, limit = ctx.state.open_symbols, ctx.limits.max_positions
    if intent.symbol in open_symbols or len(open_symbols) < limit:
        return None
    why = (
        f"{len(open_symbols)} positions held or being bought "
        f"({', '.join(sorted(open_symbols))}) already reach the limit of {limit}"
    )
    return refuse("max_positions", intent, why)


@rule(buys_only=True)
def position_cap(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """A position (held, being bought and this order) may not exceed ``max_position_pct`` of equity."""
    price, state, limits = ctx.price(intent), ctx.state, ctx.limits
    if price is None:
        return price_known(intent, ctx)
    cap = limits.max_position_pct * state.equity
    existing = state.position_qty(intent.symbol) + state.working_buys.get(intent.symbol, (0, 0))[0]
    value = (existing + intent.qty) * price
    if value <= cap + _EPSILON:
        return None
    if state.equity <= 0:
        why = f"equity {money(state.equity)} leaves no room for a position"
        return refuse("position_cap", intent, why)
    room = whole(max(cap / price - existing, 0.0), limits.fractional_shares)
    why = (
        f"the position would be worth {money(value)}, {value / state.equity:.1%} of equity "
        f"{money(state.equity)}, above the cap of {limits.max_position_pct:.0%} "
        f"({money(cap)}); at most {shares(room)} more shares fit"
    )
    return refuse("position_cap", intent, why)


@rule(buys_only=True)
def order_notional(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """A buy may not cost more than ``max_order_notional`` dollars (a fat-finger guard)."""
    if (price := ctx.price(intent)) is None:
        return price_known(intent, ctx)
    cost, limit = intent.qty * price, ctx.limits.max_order_notional
    if cost <= limit + _EPSILON:
        return None
    why = f"it costs {money(cost)}, above the largest order allowed, {money(limit)}"
    return refuse("order_notional", intent, why)


@rule(buys_only=True)
def cash_buffer(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """After a buy (and the buys still working), cash must stay above ``cash_buffer`` of equity."""
    if (price := ctx.price(intent)) is None:
        return price_known(intent, ctx)
    state, limits = ctx.state, ctx.limits
    cost = intent.qty * price
    left = state.cash - state.committed_cash - cost
    floor = limits.cash_buffer * state.equity
    if left >= floor - _EPSILON:
        return None
    committed = (
        f" and {money(state.committed_cash)} in working buys" if state.committed_cash else ""
    )
    why = (
        f"it costs {money(cost)}, leaving {money(left)} of cash {money(state.cash)}{committed}; "
        f"the buffer keeps {money(floor)} ({limits.cash_buffer:.0%} of equity)"
    )
    return refuse("cash_buffer", intent, why)
