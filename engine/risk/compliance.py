"""The gate's compliance rules: the NYSE session, day trading, and wash sales.

Rules here have the same shape as those in :mod:`engine.risk.gate_rules`.

Day-trading policy. ``pdt`` is the default because it is the conservative choice: FINRA's
pattern-day-trader rule still binds at brokers that have not moved to the 2026 intraday
margin standard of Rule 4210 (phased in through October 2027), and breaking it gets a
small account restricted for 90 days. Under ``pdt``, an account whose equity at the prior
close is below ``pdt_equity_threshold`` may make at most ``pdt_max_day_trades`` day trades
in 5 business days (NYSE sessions, so holidays do not count). A day trade is a sell, in
the session it trades in, of shares bought in that same session. The count includes the
day trades already made in the window and those still possible today: every other symbol
bought today with a working sell, a resting protective stop included (it can fire), and
the symbol's own working sell when the order sells only part of it. Opening a position is
never a day trade, so the rule stops exits, and a buy only when it adds to a position
whose working sell could then close shares bought today. A protective stop may still be
the one day trade too many when ``allow_protective_stop_as_4th_day_trade`` is on
(default), because a 90-day restriction is recoverable and an unprotected position is not.
Under ``intraday_margin``, a buy may not take buying power below zero, counting the
working buys the state lists (if the broker's figure already deducts them, the check is
stricter than it needs to be).

Wash sales (IRS, 30 calendar days either side of a loss-making sale). A buy within 30 days
after a loss-making sale of the same symbol is flagged (or, with ``wash_sale_policy:
block``, denied). A loss-making sale that leaves shares bought within the 30 days before
it is flagged too; a sale is never blocked for a tax reason, because an exit that protects
capital outranks it.
"""

from __future__ import annotations

from engine.risk import sessions
from engine.risk.context import GateContext
from engine.risk.decision import Deny, Flag, Outcome
from engine.risk.gate_inputs import OrderIntent, OrderType, Purpose
from engine.risk.gate_rules import describe_order, money, price_known, refuse
from engine.risk.limits import PDT_WINDOW_SESSIONS, WASH_SALE_WINDOW_DAYS


def market_session(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """Judge each order by the session it executes in: now, or the next session's open.

    While the NYSE is open an order executes at once. While it is shut (before the open,
    after the close, on a weekend or a holiday) it waits for the next session's open, and
    every other rule judges it against that session (``ctx.trade_date``): a daily loop's
    orders, decided after the close, are its next open's; a sale queued after the close
    does not close shares bought "today". It is marked ``queued_for_open``.

    One order is refused there: a trader's market buy, which would fill at an opening
    price nobody knows yet (a weekend's news, a gap); a limit order says the most to pay,
    and ``allow_outside_session`` lets market buys queue too. Exits and stops always
    queue: getting out never waits for the clock.
    """
    if ctx.session is not None:
        return None
    opens = sessions.session_on(ctx.trade_date).open.astimezone(sessions.NEW_YORK)
    the_open = f"the open of {opens:%a %Y-%m-%d}"
    why = sessions.closed_reason(ctx.now)
    blind = intent.is_manual and intent.adds_exposure and intent.order_type is OrderType.MARKET
    if blind and not ctx.limits.allow_outside_session:
        return refuse(
            "market_session",
            intent,
            f"{why}; a market buy would fill at {the_open} at a price not known now: send a "
            "limit order (or set allow_outside_session to queue market buys for the open)",
        )
    return Flag(
        "market_session",
        "queued_for_open",
        f"{describe_order(intent)} queued for {the_open} {opens:%H:%M} ET: {why}",
    )


def day_trading(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """Enforce the account's day-trading policy (see the module docstring)."""
    policy = ctx.limits.day_trade_policy
    if policy == "pdt":
        return _pattern_day_trader(intent, ctx)
    if policy == "intraday_margin":
        return _intraday_margin(intent, ctx)
    return None


def _pattern_day_trader(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    limits = ctx.limits
    symbol = intent.symbol
    if intent.adds_exposure:
        # Buying more of a symbol held from an earlier day turns its working sell (often a
        # resting stop) into a possible day trade today.
        purposes = ctx.state.working_sell_purposes.get(symbol)
        if not purposes or ctx.bought_on_trade_date(symbol):
            return None
        only_stops = purposes == {Purpose.STOP}
        if only_stops and limits.allow_protective_stop_as_4th_day_trade:
            return None
    elif not ctx.bought_on_trade_date(symbol):
        return None
    equity = ctx.start_of_day_equity
    if equity >= limits.pdt_equity_threshold:
        return None
    made, pending = ctx.day_trades_made, ctx.day_trades_pending(besides=symbol)
    if _leaves_own_working_sell(intent, ctx):
        pending += 1
    if made + pending < limits.pdt_max_day_trades:
        return None
    window = ctx.day_trade_window
    counted = f"{made} made" + (
        f" and {pending} more possible from working sells" if pending else ""
    )
    limit = (
        f"{counted} in the {PDT_WINDOW_SESSIONS} business days {window[0]} to {window[-1]}; "
        f"under {money(limits.pdt_equity_threshold)} of equity (prior close {money(equity)}) "
        f"at most {limits.pdt_max_day_trades} day trades are allowed"
    )
    if intent.adds_exposure:
        return refuse(
            "day_trading",
            intent,
            f"buying more {symbol} on {ctx.trade_date} would make its working sell a possible "
            f"day trade {made + pending + 1}, with {limit}",
        )
    situation = (
        f"selling {symbol} on {ctx.trade_date} closes shares bought that day, which would be "
        f"day trade {made + pending + 1}, with {limit}"
    )
    if intent.purpose is Purpose.STOP and limits.allow_protective_stop_as_4th_day_trade:
        return Flag(
            "day_trading", "pdt_protective_stop", f"protective stop allowed although {situation}"
        )
    return refuse("day_trading", intent, f"{situation}; hold it overnight")


def _leaves_own_working_sell(intent: OrderIntent, ctx: GateContext) -> bool:
    """True when a sale of part of a position bought today leaves the symbol's own working
    sell (its resting stop) in place, free to fire later as one more day trade. A stop
    replaces its symbol's stop, and a sale of the whole position has it cancelled."""
    if intent.adds_exposure or intent.purpose is Purpose.STOP:
        return False
    position = ctx.state.positions.get(intent.symbol)
    return (
        intent.symbol in ctx.state.working_sell_purposes
        and position is not None
        and intent.qty < position.qty
    )


def _intraday_margin(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    if not intent.adds_exposure:
        return None
    if (price := ctx.price(intent)) is None:
        return price_known(intent, ctx)
    state = ctx.state
    cost = intent.qty * price
    left = state.buying_power - state.committed_cash - cost
    if left >= 0:
        return None
    return refuse(
        "day_trading",
        intent,
        f"it costs {money(cost)} and would take buying power {money(state.buying_power)} to "
        f"{money(left)} (intraday margin)",
    )


def wash_sale(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    """Flag (or block, for buys) trades that make a loss-making sale a wash sale."""
    if intent.adds_exposure:
        return _buy_after_loss(intent, ctx)
    return _loss_sale_after_buy(intent, ctx)


def _buy_after_loss(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    trade_day = ctx.trade_date
    for sale in reversed(ctx.state.loss_sales.get(intent.symbol, ())):
        sold_on = sessions.new_york_date(sale.sold_at)
        days = (trade_day - sold_on).days
        if days > WASH_SALE_WINDOW_DAYS:
            break  # sales are in time order: the rest are older still
        if days < 0:
            continue
        reason = (
            f"{describe_order(intent)} on {trade_day} is {days} days after {intent.symbol} was sold "
            f"at a loss of {money(-sale.pnl)} on {sold_on}: a wash sale (within "
            f"{WASH_SALE_WINDOW_DAYS} days), the loss would be disallowed"
        )
        if ctx.limits.wash_sale_policy == "block":
            return Deny("wash_sale", f"{reason}; refused (wash_sale_policy is block)")
        return Flag("wash_sale", "wash_sale", reason)
    return None


def _loss_sale_after_buy(intent: OrderIntent, ctx: GateContext) -> Outcome | None:
    position = ctx.state.positions.get(intent.symbol)
    price = ctx.price(intent)
    if position is None or price is None or price >= position.avg_price:
        return None
    if position.qty - intent.qty <= 0:
        return None  # nothing bought in the window is left to replace the sold shares
    bought_on = sessions.new_york_date(position.last_buy_at)
    days = (ctx.trade_date - bought_on).days
    if days > WASH_SALE_WINDOW_DAYS:
        return None
    loss = (position.avg_price - price) * intent.qty
    return Flag(
        "wash_sale",
        "wash_sale",
        f"{describe_order(intent)} at about {money(price)} realises a loss of about {money(loss)} "
        f"while {intent.symbol} shares bought on {bought_on} ({days} days before) stay held: "
        "a possible wash sale",
    )
