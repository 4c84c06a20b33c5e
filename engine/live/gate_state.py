"""The risk gate's view of the account for one step, built from the broker and the loop's books."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from engine.brokers.base import BrokerView, Order
from engine.data import earnings
from engine.data.bars import Bars
from engine.live import ids
from engine.live.ledger import Records
from engine.live.records import LiveOrder, LivePosition
from engine.risk import (
    AccountState,
    Position,
    Purpose,
    RiskLimits,
    SubmittedOrder,
    TradingState,
    market_snapshot,
)


def account_state(
    broker: BrokerView,
    records: Records,
    positions: dict[str, LivePosition],
    bars: Bars,
    *,
    paused: frozenset[str],
    state: TradingState,
    reason: str,
) -> AccountState:
    """What the gate may look at: the broker's money, the loop's positions and history, the market.

    ``paused`` are the configs that may not enter (paused by a trader or no longer approved).
    """
    purposes = {o.broker_order_id: o for o in records.tracked.values() if o.broker_order_id}
    # A position's stop, for the gate, is the one resting at the broker (in its tick size)
    # for its shares: one left over from before a split guards other shares at a price of
    # another time, and is no level to tighten from.
    resting: dict[str, float] = {}
    for order in broker.open_orders:
        held = positions.get(order.symbol)
        if (
            order.side == "sell"
            and order.type == "stop"
            and order.stop_price is not None
            and held is not None
            and abs(order.remaining_qty - held.qty) <= 1e-9 * max(1.0, held.qty)
        ):
            resting[order.symbol] = max(resting.get(order.symbol, 0.0), order.stop_price)
    working = [_working(order, purposes.get(order.id)) for order in broker.open_orders]
    seen = {o.client_order_id for o in broker.open_orders}
    recent = [_sent(o) for o in records.recent if o.client_order_id not in seen]
    return AccountState(
        equity=broker.account.equity,
        cash=broker.account.cash,
        buying_power=broker.account.buying_power,
        positions={
            s: Position(
                symbol=s,
                qty=p.qty,
                avg_price=p.avg_price,
                opened_at=p.opened_at,
                stop_price=resting.get(s),
                config_id=p.config_id,
                last_buy_at=p.last_buy_at,
            )
            for s, p in positions.items()
            if p.qty > 0
        },
        trading_state=state,
        state_reason=reason,
        kill_switch=records.controls.kill_switch,
        paused_configs=paused,
        equity_marks=records.marks,
        day_trades=records.day_trades,
        realised_sales=records.sales,
        recent_orders=(*working, *recent),
        market=market_snapshot(bars),
        resumed_at=records.controls.resumed_at,
    )


def with_earnings(store, state: AccountState, limits: RiskLimits, now: datetime) -> AccountState:
    """``state`` with the stored earnings dates, when the earnings blackout is on (else as is)."""
    if not limits.earnings_blackout_sessions:
        return state
    since = (now - timedelta(days=7)).date()  # the rule looks on from the order's session
    return replace(state, earnings=earnings.known_dates(store, since=since))


def _working(order: Order, mine: LiveOrder | None) -> SubmittedOrder:
    if mine is not None:
        purpose = Purpose(mine.purpose)
    elif order.side == "sell" and order.type == "stop":
        purpose = Purpose.STOP
    else:
        purpose = Purpose.MANUAL
    return SubmittedOrder(
        symbol=order.symbol,
        side=order.side.value,
        qty=order.remaining_qty or order.qty,
        submitted_at=order.submitted_at or datetime.min,
        purpose=purpose,
        config_id=mine.config_id if mine else None,
        bar=_bar_time(mine),
        price=order.limit_price or order.stop_price,
        working=True,
    )


def _sent(order: LiveOrder) -> SubmittedOrder:
    return SubmittedOrder(
        symbol=order.symbol,
        side=order.side,
        qty=order.qty,
        submitted_at=order.created_at,
        purpose=Purpose(order.purpose),
        config_id=order.config_id,
        bar=_bar_time(order),
        price=order.limit_price or order.stop_price,
        working=False,
    )


def _bar_time(order: LiveOrder | None) -> datetime | None:
    """The bar that decided ``order``, as the gate keys bars (an intraday bar's close)."""
    if order is None or order.decision_bar is None:
        return None
    decided = ids.parse_decision_id(order.client_order_id)
    if decided is not None:
        return decided.decided_at
    return datetime.combine(order.decision_bar, datetime.min.time())
