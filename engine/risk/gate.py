"""The risk gate: every order intent, from a strategy or a trader, is approved or denied here.

>>> from datetime import UTC, datetime
>>> from engine.risk import AccountState, OrderIntent, SymbolSnapshot
>>> state = AccountState(equity=100_000, cash=100_000, market={"AAPL": SymbolSnapshot(190.0, 5e9)})
>>> now = datetime(2024, 3, 6, 15, 0, tzinfo=UTC)  # 10:00 in New York
>>> gate = RiskGate(RiskLimits())
>>> gate.check(OrderIntent("AAPL", "buy", 100, config_id="c1"), state, now).reason
'approved'
>>> decision = gate.check(OrderIntent("AAPL", "buy", 150, config_id="c1"), state, now)
>>> decision.approved, decision.rule
(False, 'position_cap')
>>> print(decision.reason)
buy 150 AAPL refused: the position would be worth $28,500.00, 28.5% of equity $100,000.00, above the cap of 20% ($20,000.00); at most 105 more shares fit

The rules run in :data:`RULES` order and the first denial wins, so the reason a trader
reads is the most fundamental one; a sell is not asked the rules declared ``buys_only``
(the exposure limits). The order is:

1. hard stops: a malformed order, the kill switch, the weekly hard loss (which HALTS),
   the trading state, a paused strategy, the market session (an order sent while the NYSE
   is shut is judged against the next session, whose open it waits for);
2. order hygiene: the restricted list, long-only, stops only tighten, duplicates, the
   order-rate throttle;
3. the universe: a known price, the price range, liquidity, the earnings blackout;
4. drawdown: the daily loss stops entries, the weekly soft loss cuts their size (so the
   exposure limits below judge the smaller order);
5. exposure: max positions, the position cap, the order notional, the cash buffer;
6. compliance that depends on the final order: day trading, wash sales.

A check is pure: it reads the limits, the state and ``now``, and returns a
:class:`Decision`. A state change it finds (HALTED) is in ``decision.state_change``; the
loop persists it with an event in the same transaction as the order's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from engine.risk import compliance, earnings, gate_rules
from engine.risk.context import GateContext
from engine.risk.decision import Decision, Deny, Escalate, Flag, Outcome, Resize
from engine.risk.gate_inputs import AccountState, OrderIntent, SubmittedOrder, TradingState
from engine.risk.limits import RiskLimits
from engine.risk.rule_facts import Rule, as_rules

#: Every rule, in the order the gate runs them (see the module docstring for why).
RULES: tuple[Callable[[OrderIntent, GateContext], Outcome | None], ...] = (
    gate_rules.order_shape,
    gate_rules.kill_switch,
    gate_rules.weekly_hard_loss,
    gate_rules.trading_state,
    gate_rules.paused_strategy,
    compliance.market_session,
    gate_rules.restricted_list,
    gate_rules.long_only,
    gate_rules.stops_only_tighten,
    gate_rules.duplicate_order,
    gate_rules.order_throttle,
    gate_rules.price_known,
    gate_rules.price_filter,
    gate_rules.liquidity_filter,
    earnings.earnings_blackout,
    gate_rules.daily_loss,
    gate_rules.weekly_soft_loss,
    gate_rules.max_positions,
    gate_rules.position_cap,
    gate_rules.order_notional,
    gate_rules.cash_buffer,
    compliance.day_trading,
    compliance.wash_sale,
)


class RiskGate:
    """Approves or denies order intents against one set of :class:`RiskLimits`."""

    def __init__(self, limits: RiskLimits | None = None, rules: Sequence[Callable] = RULES):
        self.limits = limits or RiskLimits()
        self.rules: tuple[Rule, ...] = as_rules(rules)
        #: What a sell is asked: every rule but the buys-only ones (the exposure limits).
        self.sell_rules = tuple(r for r in self.rules if not r.buys_only)

    @property
    def needs_marks(self) -> bool:
        """True when a rule reads the account's equity marks (the drawdown rules)."""
        return any(r.needs_marks for r in self.rules)

    def check(self, intent: OrderIntent, state: AccountState, now: datetime) -> Decision:
        """The gate's decision on ``intent`` given the account ``state`` at time ``now``."""
        ctx = GateContext(self.limits, state, now)
        current = intent
        flags: list[str] = []
        notes: list[str] = []
        change: TradingState | None = None
        for rule in self.rules if intent.adds_exposure else self.sell_rules:
            outcome = rule.check(current, ctx)
            if outcome is None:
                continue
            if isinstance(outcome, Deny):
                change = outcome.state_change or change
                return Decision(
                    approved=False,
                    qty=current.qty,
                    rule=outcome.rule,
                    reason=outcome.reason,
                    intent=intent,
                    flags=tuple(flags),
                    notes=tuple(notes),
                    state_change=change,
                    state_reason=(outcome.state_reason or outcome.reason)
                    if outcome.state_change
                    else ctx.state_reason,
                    alerts=rule.alerts,
                )
            if isinstance(outcome, Resize):
                current = replace(current, qty=outcome.qty)
                notes.append(outcome.reason)
            elif isinstance(outcome, Flag):
                flags.append(outcome.flag)
                notes.append(outcome.reason)
            elif isinstance(outcome, Escalate):
                ctx.escalate(outcome.state, outcome.reason)
                change = outcome.state
                notes.append(outcome.reason)
        return Decision(
            approved=True,
            qty=current.qty,
            rule="approved",
            reason="; ".join(["approved", *notes]),
            intent=intent,
            flags=tuple(flags),
            notes=tuple(notes),
            state_change=change,
            state_reason=ctx.state_reason if change else "",
        )

    def check_all(
        self, intents: Iterable[OrderIntent], state: AccountState, now: datetime
    ) -> list[Decision]:
        """Decisions on several intents sent together, each seeing those approved before it.

        An approved order counts as working for the next check (its cash, its position
        slot, the throttle, duplicates), so a bar's batch cannot together break a limit
        that each order alone respects.
        """
        decisions = []
        for intent in intents:
            decision = self.check(intent, state, now)
            decisions.append(decision)
            if decision.approved:
                state = state.with_order(submitted(decision, now, state))
            if decision.state_change is not None:
                state = replace(
                    state, trading_state=decision.state_change, state_reason=decision.state_reason
                )
        return decisions


def submitted(
    decision: Decision, now: datetime, state: AccountState | None = None
) -> SubmittedOrder:
    """The working order an approved decision becomes once it is sent."""
    intent = decision.intent
    price = intent.limit_price or intent.stop_price
    if price is None and state is not None:
        price = state.last_price(intent.symbol)
    # It keeps what the intent says of it: the symbol, the side, why, who for, which bar.
    kept = ("symbol", "side", "purpose", "config_id", "actor", "bar")
    return SubmittedOrder(
        **{name: getattr(intent, name) for name in kept},
        qty=decision.qty, submitted_at=now, price=price, working=True,
    )  # fmt: skip
