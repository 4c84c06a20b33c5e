"""One gate check's view of the account: the limits, the state, the time, and what follows.

Rules read derived figures (working orders, the day-trade count, the losses) from here.
Each is computed at most once per check, and only if a rule asks for it.
"""

from __future__ import annotations

import bisect
from datetime import date, datetime, timedelta
from functools import cached_property

from engine.risk import sessions
from engine.risk.drawdown import PeriodLosses, period_losses
from engine.risk.gate_inputs import (
    AccountState,
    OrderIntent,
    OrderType,
    Side,
    TradingState,
    as_utc,
)
from engine.risk.limits import PDT_WINDOW_SESSIONS, RiskLimits

THROTTLE_WINDOW = timedelta(seconds=60)


class GateContext:
    """What the rules may read for one check; figures are computed on first use."""

    def __init__(self, limits: RiskLimits, state: AccountState, now: datetime):
        self.limits = limits
        self.state = state
        self.now = as_utc(now)
        self.trading_state = state.trading_state
        self.state_reason = state.state_reason

    def escalate(self, state: TradingState, reason: str) -> None:
        """Treat the account as ``state`` for the rest of this check."""
        self.trading_state = state
        self.state_reason = reason

    # -- time --------------------------------------------------------------------------
    @cached_property
    def trade_date(self) -> date:
        """The session an order sent now trades in."""
        return sessions.trade_date(self.now)

    @cached_property
    def session(self) -> sessions.Session | None:
        """The regular session open now, or None."""
        return sessions.session_at(self.now)

    # -- prices ------------------------------------------------------------------------
    def price(self, intent: OrderIntent) -> float | None:
        """The price an order is expected to fill at: its limit, its stop, else the last price."""
        if intent.order_type is OrderType.LIMIT:
            return intent.limit_price
        if intent.order_type is OrderType.STOP:
            return intent.stop_price
        return self.state.last_price(intent.symbol)

    # -- throttle --------------------------------------------------------------------
    @cached_property
    def buys_last_minute(self) -> int:
        """Orders that added exposure sent within the last 60 seconds."""
        state = self.state
        start = bisect.bisect_left(state.order_times, self.now - THROTTLE_WINDOW)
        return sum(
            1
            for o in state.recent_orders[start:]
            if o.side is Side.BUY and o.submitted_at <= self.now
        )

    def _per_day(self, name: str, work):
        """``work()`` computed once per state and trading day: a step checks many orders."""
        key = (name, self.trade_date)
        memo = self.state.memo
        if key not in memo:
            memo[key] = work()
        return memo[key]

    # -- drawdown ----------------------------------------------------------------------
    @cached_property
    def losses(self) -> PeriodLosses:
        """The daily and weekly losses (see :mod:`engine.risk.drawdown`)."""
        state = self.state
        return self._per_day(
            "losses",
            lambda: period_losses(
                state.equity_marks,
                state.equity,
                self.trade_date,
                resumed_at=state.resumed_at,
            ),
        )

    @cached_property
    def start_of_day_equity(self) -> float:
        """Equity at the prior close (FINRA measures the PDT threshold there), else now."""
        reference = self.losses.daily_reference
        return self.state.equity if reference is None else reference

    # -- day trades --------------------------------------------------------------------
    @cached_property
    def day_trade_window(self) -> list[date]:
        """The 5 business days ending on the trade date, oldest first."""
        return self._per_day(
            "window", lambda: sessions.session_days_back(self.trade_date, PDT_WINDOW_SESSIONS)
        )

    @cached_property
    def day_trades_made(self) -> int:
        """Day trades already made in the window."""
        return day_trades_in_window(self.state.day_trades, self.day_trade_window)

    def day_trades_pending(self, besides: str) -> int:
        """Symbols other than ``besides`` bought this session with a working sell (a stop too).

        Each may still become a day trade today: a resting protective stop can fire. The
        order being checked replaces its own symbol's working sell, so it is left out.
        """
        return sum(
            1
            for symbol in self.state.working_sell_purposes
            if symbol != besides and self.bought_on_trade_date(symbol)
        )

    def bought_on_trade_date(self, symbol: str) -> bool:
        """True when shares of ``symbol`` were bought in the session an order now trades in."""
        position = self.state.positions.get(symbol)
        return (
            position is not None and sessions.new_york_date(position.last_buy_at) == self.trade_date
        )


def day_trades_in_window(day_trades: tuple[date, ...] | list[date], window: list[date]) -> int:
    """How many of the sorted ``day_trades`` dates fall within ``window`` (sorted trading dates)."""
    if not window:
        return 0
    lo = bisect.bisect_left(day_trades, window[0])
    hi = bisect.bisect_right(day_trades, window[-1])
    return hi - lo
