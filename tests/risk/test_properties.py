"""Property tests: whatever orders, prices and fills come, approved orders keep every limit.

A tiny book trades a few symbols over real NYSE sessions (Thanksgiving week and its half
day, Christmas, New Year, the 2025-01-09 closure). Hypothesis draws a sequence of steps:
a strategy's or a trader's buy, an exit, a same-day round trip, a protective stop, or a
price move that may fire resting stops. Every order goes through the gate; approved ones
fill at once at the current price. The book checks the limits on its own figures, worked
out from its own history rather than by the gate's code: positions, the position cap, the
order notional, the cash buffer, the daily and weekly losses, the halt, and at the end the
day-trade count in every 5-session window.

Run with ``--hypothesis-show-statistics`` to see how often each rule spoke.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.data import calendar
from engine.risk import (
    AccountState,
    Decision,
    EquityMark,
    OrderIntent,
    Position,
    RealisedSale,
    RiskGate,
    RiskLimits,
    SubmittedOrder,
    SymbolSnapshot,
    TradingState,
)

NY = ZoneInfo("America/New_York")
SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]
SCHEDULE = calendar.schedule("2024-11-18", "2025-03-31")
SESSIONS = [
    (day.date(), opened.to_pydatetime(), closed.to_pydatetime())
    for day, opened, closed in zip(
        SCHEDULE.index, SCHEDULE["market_open"], SCHEDULE["market_close"], strict=True
    )
]
EPS = 1e-6


@dataclass
class Book:
    """A paper account that fills approved orders at once and checks every limit itself."""

    limits: RiskLimits
    prices: dict[str, float]
    cash: float = 20_000.0
    positions: dict[str, Position] = field(default_factory=dict)
    stops: dict[str, SubmittedOrder] = field(default_factory=dict)  # resting protective stops
    day_trades: list[tuple[date, str]] = field(default_factory=list)  # (day, purpose)
    sales: list[RealisedSale] = field(default_factory=list)
    orders: list[SubmittedOrder] = field(default_factory=list)
    marks: list[EquityMark] = field(default_factory=list)
    trading_state: TradingState = TradingState.ACTIVE
    state_reason: str = ""

    @property
    def equity(self) -> float:
        return self.cash + sum(p.qty * self.prices[s] for s, p in self.positions.items())

    def state(self) -> AccountState:
        return AccountState(
            equity=self.equity,
            cash=self.cash,
            positions=dict(self.positions),
            trading_state=self.trading_state,
            state_reason=self.state_reason,
            equity_marks=tuple(self.marks),
            day_trades=tuple(d for d, _ in self.day_trades),
            realised_sales=tuple(self.sales),
            recent_orders=tuple(self.orders[-40:]) + tuple(self.stops.values()),
            market={s: SymbolSnapshot(p, 50e6) for s, p in self.prices.items()},
        )

    def mark(self, now: datetime) -> None:
        self.marks.append(EquityMark(now, self.equity))

    # -- the book's own view of its losses -------------------------------------------------
    def _equity_before(self, at: datetime) -> float:
        earlier = [m.equity for m in self.marks if m.at < at]
        return earlier[-1] if earlier else self.marks[0].equity

    def losses(self, day: date) -> tuple[float, float]:
        """(daily, weekly) loss: since the last mark before today's and this week's first open."""
        day_open = next(o for d, o, _ in SESSIONS if d == day)
        week_open = min(o for d, o, _ in SESSIONS if d.isocalendar()[:2] == day.isocalendar()[:2])
        return (
            1 - self.equity / self._equity_before(day_open),
            1 - self.equity / self._equity_before(week_open),
        )

    # -- orders ----------------------------------------------------------------------------
    def submit(self, gate: RiskGate, intent: OrderIntent, now: datetime, day: date) -> Decision:
        """Ask the gate; check the limits on an approval, then fill it."""
        limits = self.limits
        equity_before = self.equity
        daily, weekly = self.losses(day)
        decision = gate.check(intent, self.state(), now)
        event(f"{intent.side} {intent.purpose} {decision.rule}")
        if decision.state_change is TradingState.HALTED:
            self.trading_state, self.state_reason = TradingState.HALTED, decision.state_reason
        if not decision.approved:
            return decision

        trader_reducing = intent.is_manual and not intent.adds_exposure
        assert weekly < limits.weekly_hard_loss - EPS or trader_reducing, (weekly, intent)
        if self.trading_state is TradingState.HALTED:
            assert trader_reducing, f"{intent} approved while HALTED"
        if intent.adds_exposure:
            assert daily < limits.daily_loss_limit + EPS, (daily, intent)
            if weekly >= limits.weekly_soft_loss + EPS:
                assert decision.qty <= math.floor(intent.qty * limits.weekly_soft_size_factor)

        symbol, price = intent.symbol, self.prices[intent.symbol]
        if intent.purpose.value == "stop":  # rests at the broker until a move fires it
            position = self.positions[symbol]
            assert position.stop_price is None or intent.stop_price >= position.stop_price
            self.stops[symbol] = SubmittedOrder(
                symbol,
                "sell",
                decision.qty,
                now,
                purpose="stop",
                price=intent.stop_price,
                working=True,
            )
            self.positions[symbol] = _with(position, stop_price=intent.stop_price)
        elif intent.adds_exposure:
            self._buy(symbol, decision.qty, now)
            assert len(self.positions) <= limits.max_positions
            assert (
                self.positions[symbol].qty * price <= limits.max_position_pct * equity_before + EPS
            )
            assert self.cash >= limits.cash_buffer * equity_before - EPS
            assert decision.qty * price <= limits.max_order_notional + EPS
        else:
            assert decision.qty <= self.positions[symbol].qty + EPS  # long-only
            self.fill_sell(symbol, decision.qty, price, now, day, "exit")
        self.orders.append(
            SubmittedOrder(
                symbol,
                intent.side,
                decision.qty,
                now,
                purpose=intent.purpose,
                config_id=intent.config_id,
                actor=intent.actor,
                bar=intent.bar,
            )
        )
        self.mark(now)
        return decision

    def _buy(self, symbol: str, qty: float, now: datetime) -> None:
        price = self.prices[symbol]
        held = self.positions.get(symbol)
        if held:
            total = held.qty + qty
            avg = (held.qty * held.avg_price + qty * price) / total
            self.positions[symbol] = _with(held, qty=total, avg_price=avg, last_buy_at=now)
        else:
            self.positions[symbol] = Position(symbol, qty, price, now)
        self.cash -= qty * price

    def fill_sell(self, symbol, qty, price, now, day, purpose) -> None:
        held = self.positions[symbol]
        self.cash += qty * price
        self.sales.append(RealisedSale(symbol, now, qty, (price - held.avg_price) * qty))
        if held.last_buy_at.astimezone(NY).date() == day:
            self.day_trades.append((day, purpose))
        left = held.qty - qty
        if left <= EPS:
            del self.positions[symbol]
            self.stops.pop(symbol, None)  # the broker cancels a closed position's stop
            return
        self.positions[symbol] = _with(held, qty=left)
        resting = self.stops.get(symbol)
        if resting and resting.qty > left:
            self.stops[symbol] = SubmittedOrder(
                symbol,
                "sell",
                left,
                resting.submitted_at,
                purpose="stop",
                price=resting.price,
                working=True,
            )

    def move(self, symbol: str, change: float, now: datetime, day: date) -> None:
        """The price moves; a resting stop at or above the new price fills there."""
        self.prices[symbol] *= 1 + change
        resting = self.stops.get(symbol)
        if resting and self.prices[symbol] <= resting.price:
            self.stops.pop(symbol)
            self.fill_sell(symbol, resting.qty, self.prices[symbol], now, day, "stop")
        self.mark(now)


def _with(p: Position, **changes) -> Position:
    fields = {
        "symbol": p.symbol,
        "qty": p.qty,
        "avg_price": p.avg_price,
        "opened_at": p.opened_at,
        "stop_price": p.stop_price,
        "config_id": p.config_id,
        "last_buy_at": p.last_buy_at,
    }
    return Position(**(fields | changes))


step = st.tuples(
    st.sampled_from([0] * 8 + [1, 1, 2]),  # sessions to move on (0: a few minutes later)
    st.sampled_from(["buy", "buy", "sell", "round_trip", "stop", "move", "move", "move"]),
    st.integers(0, len(SYMBOLS) - 1),  # which symbol: mostly a held one for sells and moves
    st.integers(1, 150),  # quantity (for a sell: percent of the position, past 100 oversells)
    st.floats(-0.3, 0.15),  # price move
    st.booleans(),  # a trader's order rather than a strategy's
)

limits_strategy = st.builds(
    RiskLimits,
    max_positions=st.integers(1, 5),
    max_position_pct=st.sampled_from([0.1, 0.2, 0.35, 0.5]),
    cash_buffer=st.sampled_from([0.02, 0.05, 0.2, 0.5]),
    max_order_notional=st.sampled_from([2_000.0, 25_000.0]),
    pdt_equity_threshold=st.just(1e12),  # every account is held to the day-trade count
    allow_protective_stop_as_4th_day_trade=st.booleans(),
    min_avg_dollar_volume=st.just(0.0),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limits=limits_strategy,
    steps=st.lists(step, min_size=20, max_size=80),
    start_prices=st.lists(st.floats(8, 80), min_size=len(SYMBOLS), max_size=len(SYMBOLS)),
)
def test_approved_orders_never_break_a_limit(limits, steps, start_prices):
    gate = RiskGate(limits)
    book = Book(limits, prices=dict(zip(SYMBOLS, start_prices, strict=True)))
    book.mark(SESSIONS[0][1] - timedelta(hours=1))
    session, minute = 0, 5

    for advance, action, pick, qty, change, by_trader in steps:
        # The clock stays inside a session, so every rule but the session rule gets to speak.
        session, minute = (session + advance, 5) if advance else (session, minute + 7)
        if (
            session < len(SESSIONS)
            and SESSIONS[session][1] + timedelta(minutes=minute + 1) >= SESSIONS[session][2]
        ):
            session, minute = session + 1, 5
        if session >= len(SESSIONS):
            break
        day, day_open, _ = SESSIONS[session]
        now = day_open + timedelta(minutes=minute)
        held = sorted(book.positions)
        symbol = held[pick % len(held)] if held and action != "buy" and pick % 3 else SYMBOLS[pick]

        if action == "move":
            book.move(symbol, change, now, day)
            continue
        source = (
            {"config_id": None, "actor": "alice"} if by_trader else {"config_id": "cfg", "bar": now}
        )
        if action in ("buy", "round_trip"):
            purpose = "manual" if by_trader else "entry"
            bought = book.submit(
                gate, OrderIntent(symbol, "buy", qty, purpose=purpose, **source), now, day
            )
            if action == "buy" or not bought.approved:
                continue
            now += timedelta(minutes=1)
            action, qty = "sell", 100  # sell it all again a minute later
        position = book.positions.get(symbol)
        if action == "sell":
            shares = math.ceil((position.qty if position else 10) * qty / 100)
            purpose = "manual" if by_trader else "exit"
            if not by_trader:
                source["bar"] = now
            book.submit(
                gate, OrderIntent(symbol, "sell", shares, purpose=purpose, **source), now, day
            )
        elif position is not None:  # a protective stop, sometimes tighter, sometimes looser
            stop_price = round(book.prices[symbol] * (1 - (qty % 10 + 1) / 100), 4)
            intent = OrderIntent(
                symbol,
                "sell",
                position.qty,
                purpose="stop",
                order_type="stop",
                stop_price=stop_price,
                **source,
            )
            book.submit(gate, intent, now, day)

    # The day-trade count in every 5-session window the book lived through. With the
    # protective-stop exception, only stops may be the ones past the limit.
    days = [d for d, _, _ in SESSIONS[: session + 1]]
    counted = [
        d
        for d, purpose in book.day_trades
        if purpose != "stop" or not limits.allow_protective_stop_as_4th_day_trade
    ]
    event(
        f"day trades made: {min(len(book.day_trades), 4)}{'+' if len(book.day_trades) > 3 else ''}"
    )
    for end in range(len(days)):
        window = days[max(0, end - 4) : end + 1]
        count = sum(1 for d in counted if window[0] <= d <= window[-1])
        assert count <= limits.pdt_max_day_trades, (window, book.day_trades)
