"""The live loop: at each close, apply commands, fill, reconcile, decide, gate, submit, record.

One step, for the session that just closed (see :meth:`LiveLoop.step`):

1. apply the trader's pending commands (:mod:`engine.live.overrides`), each resolved in
   the same transaction as its effect (queued since the last close, they act before the
   session: a kill switch cancels entries still waiting for the open);
2. the day's bars (a stale feed skips the step, with an alert); the paper broker's market
   moves to the bar, so orders placed before it fill at its prices (a real broker's market
   has moved by itself);
3. reconcile with the broker (:mod:`engine.live.reconcile`): fills, statuses, positions;
   a difference nothing explains stops the loop (OperatorError) and alerts;
4. each config's signals with the backtest's code and its decisions with the backtest's
   rules (:mod:`engine.live.decisions`): exits, resting stops (trailing ones move up),
   entries with their attached stops;
5. the risk gate on every order; the kill switch checked once more right before sending;
6. the orders sent (a position's stop canceled before it is replaced or exited), sells
   first;
7. one transaction records it all: orders, fills, positions, events, the equity and
   position snapshots, the book, the heartbeat.

Client order ids are deterministic (:mod:`engine.live.ids`) and step 7 is the only write,
so a step repeated after a crash finds its orders at the broker and records them then:
never a second order for one decision.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import replace
from datetime import date

from engine.brokers.base import Broker, OrderRejected
from engine.config.models import StrategyConfig
from engine.data.bars import Bars
from engine.errors import InputError, OperatorError
from engine.live import books, journal
from engine.live.alerts import Alert, Notifiers, notifier_from
from engine.live.decisions import Plan, bar_signals, plan_config
from engine.live.faults import BrokerFaults
from engine.live.gate_state import account_state
from engine.live.market import broker_view, market_for
from engine.live.model import (
    Controls,
    Difference,
    LiveOrder,
    LivePosition,
    LoopOptions,
    StepReport,
)
from engine.live.orders import OrderRules, PendingOrder, orders_for
from engine.live.reconcile import BrokerView, Reconciled, reconcile
from engine.risk import RULES, RiskGate, TradingState
from engine.store.events import utcnow

log = logging.getLogger("engine.live")

MODES = ("replay", "paper", "live")


def book_name(broker: Broker) -> str:
    """The name of the book a broker account is: ``paper:<account>`` or ``alpaca:paper|live``."""
    if hasattr(broker, "account_name"):
        return f"paper:{broker.account_name}"
    return f"{broker.name}:{'live' if getattr(broker, 'live', False) else 'paper'}"


class LiveLoop:
    """Trades ``configs`` through ``broker`` on ``feed``'s bars at ``clock``'s closes."""

    def __init__(
        self,
        store,
        broker: Broker,
        configs: list[StrategyConfig],
        feed,
        clock,
        *,
        options: LoopOptions | None = None,
        notifier: Notifiers | None = None,
        market=None,
    ):
        self.options = options or LoopOptions()
        if self.options.mode not in MODES:
            raise InputError(f"mode {self.options.mode!r} is not one of: {', '.join(MODES)}")
        if not configs:
            raise InputError("the loop needs at least one config", hint="pass --config ID")
        for config in configs:
            if config.settings.execution != "next_open":
                raise InputError(
                    f"config {config.config_id} fills signals at their own close "
                    "(execution='close'); the loop decides after a close and fills at the next "
                    "open",
                    hint="trade a config validated with execution='next_open'",
                )
        self.store = store
        self.broker = broker
        self.configs = list(configs)
        self.by_id = {c.config_id: c for c in configs}
        self.symbols = list(dict.fromkeys(s for c in configs for s in c.universe))
        self.feed = feed
        self.clock = clock
        self.market = market or market_for(broker)
        self.notifier = notifier or notifier_from(None)
        self.book = book_name(broker)
        self.loop_id = f"{self.options.mode}-{uuid.uuid4().hex[:10]}"
        self.pid = os.getpid()
        self.started_at = utcnow()
        self.gate = RiskGate(rules=self.options.gate_rules or RULES)
        self.faults = BrokerFaults()
        costs = getattr(broker, "costs", None)
        self.fee = costs.fee if costs is not None else (lambda qty, price: 0.0)
        self.last_bar: date | None = None

    # -- identity ----------------------------------------------------------------------

    @property
    def actor(self) -> str:
        return f"{self.options.actor}:{self.loop_id}"

    def starting_cash(self) -> dict[str, float]:
        return {c.config_id: c.settings.init_cash for c in self.configs}

    def trails(self, config_id: str | None) -> bool:
        config = self.by_id.get(config_id)
        return bool(config and config.settings.trailing_stop)

    # -- start-up ----------------------------------------------------------------------

    def start(self, next_bar: date | None = None) -> list[Difference]:
        """Reconcile the store with the broker before trading; refuse on what nothing explains.

        ``next_bar`` is the session the loop steps next (orders decided for it are its own
        and are left to that step). Gives every difference found; an unexplained one raises
        :class:`OperatorError` unless the loop was started to adopt the broker's view.
        """
        last = books.read_records(self.store, self.book, [], self.clock.now(), marks=False).book
        if last is not None and last.bar_date is not None:
            self.clock.at(last.bar_date)  # a replay resumes at the last session it finished
        now = self.clock.now()
        with self.faults.watching():
            records = books.read_records(self.store, self.book, list(self.by_id), now)
            view = self._view(records)
        self.last_bar = records.book.bar_date if records.book else None
        found = self._reconcile(
            records, view, next_bar, expected_cash=records.book.cash if records.book else None
        )
        adopted = self._handle_differences(found, at_start=True)
        equity = view.account.equity
        faults = self.faults.events()

        def write(con):
            books.save_orders(con, self.book, found.changed, now)
            books.save_positions(con, self.book, adopted.values(), found.closed, now)
            books.save_book(
                con, self.book, mode=self.options.mode, broker=self.broker.name,
                configs=self.starting_cash(), cash=view.account.cash, equity=equity,
                bar=None, now=now,
            )  # fmt: skip
            self._beat(con, records.controls.state)
            books.append_events(
                con,
                self.actor,
                [
                    *journal.fills(self.book, found.fills),
                    *journal.differences(self.book, found.differences),
                    *faults,
                    (
                        "loop.started",
                        self.loop_id,
                        {
                            "mode": self.options.mode,
                            "broker": self.broker.name,
                            "book": self.book,
                            "configs": list(self.by_id),
                            "pid": self.pid,
                            "equity": equity,
                            "differences": len(found.differences),
                        },
                    ),
                ],
            )

        self.store.transaction(write)
        self.faults.written(len(faults))
        # Commands queued while no loop ran (limits, kill switch, pauses) apply now; those
        # that trade wait for the first step's bars.
        from engine.live.overrides import apply_pending

        apply_pending(self, now)
        self._check_limits(books.read_controls(self.store))
        return found.differences

    def _check_limits(self, controls: Controls) -> None:
        from engine.risk.compliance import market_session

        if market_session in self.gate.rules and not controls.limits.allow_outside_session:
            raise InputError(
                "the risk limits refuse orders outside the NYSE session "
                "(allow_outside_session: false), and a daily-bar loop decides after the close "
                "for the next open",
                hint="set allow_outside_session: true in the risk limits (control room "
                "Settings, or a set_risk_limits command) before starting the loop",
            )

    # -- one step ----------------------------------------------------------------------

    def step(self, day: date) -> StepReport:
        """Act on the close of ``day`` (see the module docstring); gives what it did."""
        from engine.live.overrides import apply_pending

        with self.faults.watching():
            # Commands queued since the last close apply before the session: a kill switch
            # cancels entries still waiting for the open; a close fills at that open.
            apply_pending(self, self.clock.now())
            now = self.clock.at(day)
            records = books.read_records(
                self.store, self.book, self._registry_ids(), now, marks=self._needs_marks()
            )
            bars = self.feed.window(day)
            if len(bars) == 0 or bars.index[-1].date() != day:
                return self._stale(day, bars, records)
            # The day has traded: orders placed before it filled at its prices.
            self.market.advance(day, bars)
            view = self._view(records)
        found = self._reconcile(records, view, day)
        self._handle_differences(found, at_start=False)
        high = bars.high.iloc[-1]
        positions = {
            s: p.after_bar(float(high.get(s, float("nan")))) for s, p in found.positions.items()
        }
        controls = records.controls
        paused = self._paused(records)
        plans = self._plans(bars, records, found, positions, paused)
        rules = OrderRules(self.actor, self._fractional(controls), self.options.stop_tick)
        # A repeated step finds some of its orders at the broker already: keep, never resend.
        at_broker = {o.client_order_id: o for o in view.open_orders}
        pending, placed = [], []
        for item in orders_for(plans, view.open_orders, day, now, rules):
            order = at_broker.get(item.client_order_id)
            if order is None:
                pending.append(item)
            else:
                placed.append(replace(item.record, qty=order.qty, broker_order_id=order.id))
        state = account_state(
            view,
            records,
            positions,
            bars,
            paused=paused,
            state=controls.state,
            reason=controls.reason,
        )
        self.gate.limits = controls.limits
        decisions = self.gate.check_all([p.intent for p in pending], state, now)
        report = StepReport(bar=day, fills=len(found.fills), equity=view.account.equity)
        approved, events, change = [], [], None
        for item, decision in zip(pending, decisions, strict=True):
            if decision.state_change is not None:
                change = (decision.state_change, decision.state_reason)
            if decision.approved:
                approved.append(item.resized(decision.qty))
                continue
            report.denied.append(item.client_order_id)
            events.append(journal.denied(self.book, decision))
            if decision.rule not in ("kill_switch", "trading_state", "paused_strategy"):
                self.notifier.send(Alert("limit", decision.reason, {"rule": decision.rule}))
        if approved and self._kill_switch_engaged():
            for item in approved:
                report.denied.append(item.client_order_id)
                why = "the kill switch was engaged during the step"
                events.append(
                    ("order.denied", item.intent.symbol,
                     {"rule": "kill_switch", "reason": why, "client_order_id": item.client_order_id,
                      "book": self.book})
                )  # fmt: skip
            approved = []
        with self.faults.watching():
            sent = self._send(approved, report)
        self._record_step(
            day, now, bars, view, records, found, positions, [*placed, *sent], events, change
        )
        self.last_bar = day
        return report

    def _stale(self, day: date, bars: Bars, records) -> StepReport:
        newest = bars.index[-1].date() if len(bars) else None
        why = f"no bar for {day} yet (newest: {newest or 'none'})"
        self.notifier.send(Alert("stale_data", f"the data feed is stale: {why}", {"day": str(day)}))

        def write(con):
            books.append_events(
                con, self.actor, [("loop.stale_data", str(day), {"newest": str(newest)})]
            )
            self._beat(con, records.controls.state)

        self.store.transaction(write)
        return StepReport(bar=day, skipped=why)

    # -- reconciliation ----------------------------------------------------------------

    def _view(self, records) -> BrokerView:
        """The broker now, with the orders that closed since the last step (while the loop
        was down included) that the loop has not recorded yet."""
        since = records.book.updated_at if records.book else None
        view = broker_view(self.broker, records.tracked, closed_since=since)
        news = [o for o in view.recent_closed if o.client_order_id not in records.tracked]
        known = books.known_orders(self.store, self.book, [o.client_order_id for o in news])
        return replace(view, recent_closed=[o for o in news if o.client_order_id not in known])

    def _reconcile(self, records, view: BrokerView, bar, *, expected_cash=None) -> Reconciled:
        return reconcile(
            records.tracked,
            records.positions,
            view,
            config_ids=set(self.by_id),
            trails=self.trails,
            fee=self.fee,
            now=self.clock.now(),
            bar=bar,
            expected_cash=expected_cash,
            cash_tolerance=max(0.01, 1e-9 * abs(view.account.equity)),
        )

    def _handle_differences(self, found: Reconciled, *, at_start: bool) -> dict[str, LivePosition]:
        """The positions to carry on with; OperatorError on what nothing explains (unless adopting)."""
        for difference in found.differences:
            if not difference.explained:
                self.notifier.send(Alert("reconciliation", difference.what, difference.payload()))
        unexplained = found.unexplained
        if not unexplained:
            return found.positions
        if at_start and self.options.adopt_broker_state:
            return found.positions  # the broker's quantities, as reconcile already took them

        def write(con):
            refused = {"differences": [d.payload() for d in unexplained]}
            books.append_events(
                con,
                self.actor,
                [
                    *journal.differences(self.book, found.differences),
                    ("loop.refused", self.book, refused),
                ],
            )

        self.store.transaction(write)
        listing = "; ".join(f"{d.what} ({d.why})" for d in unexplained)
        raise OperatorError(
            f"the broker and the store disagree on {len(unexplained)} thing(s) nothing explains: {listing}",
            hint="check the account at the broker; to take the broker's view as the truth, "
            "start the loop again with --adopt-broker-state (each difference is recorded)",
        )

    # -- decisions ---------------------------------------------------------------------

    def _registry_ids(self) -> list[str]:
        return list(self.by_id) if self.options.check_registry else []

    def _needs_marks(self) -> bool:
        from engine.risk import rules as risk_rules

        drawdown = (risk_rules.daily_loss, risk_rules.weekly_soft_loss, risk_rules.weekly_hard_loss)
        return any(rule in self.gate.rules for rule in drawdown)

    def _paused(self, records) -> frozenset[str]:
        paused = set(records.controls.paused)
        if self.options.check_registry:
            paused |= {c for c in self.by_id if records.statuses.get(c) != "approved"}
        return frozenset(paused)

    def _plans(self, bars, records, found, positions, paused) -> list[tuple[str, Plan]]:
        flows = dict(records.flows)
        for fill in found.fills:
            flows[fill.order.config_id] = flows.get(fill.order.config_id, 0.0) + fill.cash_flow
        plans = []
        for config in self.configs:
            signals = bar_signals(config, bars)
            if signals is None:
                continue  # still warming up: its backtest had no signal on these bars either
            mine = {s: p.holding() for s, p in positions.items() if p.config_id == config.config_id}
            others = {s for s, p in positions.items() if p.config_id != config.config_id}
            if config.config_id in paused:
                others |= set(config.universe)  # a paused config only exits
            cash = config.settings.init_cash + flows.get(config.config_id, 0.0)
            plans.append(
                (
                    config.config_id,
                    plan_config(config, signals, cash, mine, unavailable=frozenset(others)),
                )
            )
        return plans

    def _fractional(self, controls: Controls) -> bool:
        if self.options.fractional_shares is not None:
            return self.options.fractional_shares
        return controls.limits.fractional_shares

    def _kill_switch_engaged(self) -> bool:
        """The kill switch as it stands now: set, or asked for by a command not yet applied."""
        row = self.store.query(
            "SELECT (SELECT value FROM trading_state WHERE key = 'kill_switch') AS kill,"
            " (SELECT count(*) FROM commands WHERE status = 'pending' AND kind = 'kill_switch'"
            "  AND json_extract(payload, '$.on')::BOOLEAN) AS asked"
        ).iloc[0]
        stored = {} if row["kill"] is None else {"kill_switch": json.loads(row["kill"])}
        return Controls.from_values(stored).kill_switch or bool(row["asked"])

    # -- sending -----------------------------------------------------------------------

    def _send(self, approved: list[PendingOrder], report: StepReport) -> list[LiveOrder]:
        """Cancel the stops being replaced or exited, then submit; gives the records to keep."""
        replaced = [order.id for item in approved for order in item.replaces]
        cancel_many = getattr(self.broker, "cancel_many", None)  # the paper broker: one write
        if cancel_many is not None:
            cancel_many(replaced)
        else:
            for order_id in replaced:
                self.broker.cancel(order_id)
        results = self.broker.submit_many([item.request for item in approved]) if approved else []
        sent = []
        for item, result in zip(approved, results, strict=True):
            cid = item.client_order_id
            if isinstance(result, OrderRejected):
                report.rejected.append(cid)
                sent.append(replace(item.record, status="rejected", reason=result.reason))
                self.notifier.send(
                    Alert(
                        "rejected",
                        f"{self.broker.name} rejected {cid}: {result.reason}",
                        {"client_order_id": cid},
                    )
                )
                continue
            report.submitted.append(cid)
            sent.append(replace(item.record, broker_order_id=result.id))
        return sent

    # -- recording ---------------------------------------------------------------------

    def _record_step(self, day, now, bars, view, records, found, positions, sent, events, change):
        marks = bars.close.ffill().iloc[-1]
        held = [
            (p, float(marks[s]) if s in marks and marks[s] == marks[s] else _broker_mark(view, s))
            for s, p in sorted(positions.items())
        ]
        controls = records.controls
        state = change[0] if change else controls.state
        step_payload = {
            "book": self.book,
            "fills": len(found.fills),
            "orders": [o.client_order_id for o in sent],
            "denied": len(events),
            "equity": view.account.equity,
        }

        faults = self.faults.events()

        def write(con):
            books.save_orders(con, self.book, [*found.changed, *sent], now)
            books.save_positions(
                con, self.book, positions.values(), found.closed, now, before=records.positions
            )
            books.append_events(
                con,
                self.actor,
                [
                    *journal.fills(self.book, found.fills),
                    *journal.differences(self.book, [d for d in found.differences if d.explained]),
                    *events,
                    *journal.orders(self.book, sent),
                    *faults,
                    ("loop.step", str(day), step_payload),
                ],
            )
            if change is not None and change[0] != controls.state:
                books.set_control(
                    con,
                    "state",
                    {"state": change[0].value, "reason": change[1]},
                    self.actor,
                    reason=change[1],
                )
            books.snapshot(
                con,
                self.loop_id,
                day,
                now,
                cash=view.account.cash,
                equity=view.account.equity,
                positions=held,
            )
            books.save_book(
                con, self.book, mode=self.options.mode, broker=self.broker.name,
                configs=self.starting_cash(), cash=view.account.cash, equity=view.account.equity,
                bar=day, now=now,
            )  # fmt: skip
            self._beat(con, state, bar=day)

        self.store.transaction(write)
        self.faults.written(len(faults))
        if change is not None and change[0] != controls.state:
            self.notifier.send(Alert("halt", f"trading is {change[0].value}: {change[1]}"))

    def _beat(self, con, state, *, bar=None, stopped=False) -> None:
        books.beat(
            con, self.loop_id, mode=self.options.mode, broker=self.broker.name, book=self.book,
            pid=self.pid, started_at=self.started_at, bar=bar, state=TradingState(state).value,
            configs=list(self.by_id), stopped=stopped,
        )  # fmt: skip

    def heartbeat(self) -> None:
        """Beat between steps (a paper or live loop waiting for the next close)."""
        state = books.read_controls(self.store).state
        self.store.transaction(lambda con: self._beat(con, state))

    def stop(self, reason: str = "finished") -> None:
        """Mark the loop stopped cleanly (the control room then says so, not 'stale')."""

        state = books.read_controls(self.store).state

        def write(con):
            self._beat(con, state, stopped=True)
            books.append_events(
                con, self.actor, [("loop.stopped", self.loop_id, {"reason": reason})]
            )

        self.store.transaction(write)


def _broker_mark(view: BrokerView, symbol: str) -> float:
    position = view.positions.get(symbol)
    return float(position.market_price or position.avg_entry_price) if position else float("nan")
