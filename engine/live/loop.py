"""The live loop: at each close, apply commands, fill, reconcile, decide, gate, submit, record.

One step, for the session that just closed (see :meth:`LiveLoop.step`):

1. apply the trader's pending commands (:mod:`engine.live.overrides` says what each does;
   the loop writes each resolved in one transaction with its effects) (queued since the last close, they act before the
   session: a kill switch cancels entries still waiting for the open); then, before
   anything else, put back any held position's protective stop that expired, vanished
   or no longer covers its shares (:meth:`LiveLoop.protect`), and once a trading day
   compare the broker's calendar and clock with the NYSE calendar (an alert where they
   differ; the broker's sessions time the steps);
2. the day's bars (a stale feed skips the step, with an alert); a simulated broker's
   market (the paper broker's) moves to the bar, so orders placed before it fill at its prices (a real broker's market
   has moved by itself); entries still open after the session they were meant for are
   canceled (a GTC entry must not fill on a later day its strategy never decided on);
3. reconcile with the broker (:mod:`engine.live.reconcile`): fills, statuses, positions;
   a difference nothing explains stops the loop (OperatorError) and alerts;
4. each config's signals with the backtest's code and its decisions with the backtest's
   rules (:mod:`engine.live.decisions`): exits, resting stops (trailing ones move up),
   entries with their attached stops;
5. the orders sent through the one order path (:mod:`engine.live.router`): the risk gate
   on every order, the kill switch checked once more right before sending (a step
   holding the store file: the controls it read, which nobody else could write since), a position's
   stop canceled before it is replaced or exited, sells first;
6. one transaction records it all: orders, fills, positions, events, the equity and
   position snapshots, the book, the heartbeat.

Client order ids are deterministic (:mod:`engine.live.ids`) and step 6 is the loop's only
write, so a step repeated after a crash finds its orders at the broker and records them
then: never a second order for one decision. A step holding the store file (a simulated
broker's) makes steps 2 to 6 one transaction (:meth:`~engine.store.Store.step`): the
broker's bar, cancels and orders commit with the record, or none of them does, and the
loop's memory follows only the commit.
"""

from __future__ import annotations

import logging
import os
import uuid
from contextlib import nullcontext
from dataclasses import replace
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from engine.brokers.base import Broker, BrokerView
from engine.config.models import StrategyConfig
from engine.data.bar_sizes import DAILY
from engine.data.bars import Bars
from engine.data.corporate_actions import CorporateAction
from engine.errors import InputError, OperatorError
from engine.live import approvals, calendar_check, heartbeat, ids, journal, ledger, overrides
from engine.live.alerts import Alert, Notifiers, notifier_from
from engine.live.book_lock import book_lock, take
from engine.live.books import Written
from engine.live.clock import BarClose, entry_refusal, flat_due
from engine.live.clock import next_bar as bar_after
from engine.live.commands import parsed, pending_commands, still_pending
from engine.live.decisions import Plan, PlannedExit, bar_signals, plan_config
from engine.live.faults import BrokerFaults
from engine.live.feed import ends_at, label_of, traded_window
from engine.live.gate_state import account_state, with_earnings
from engine.live.kept import KeptBooks
from engine.live.orders import OrderRules, orders_for, protective_stops
from engine.live.reconcile import Reconciled, reconcile
from engine.live.records import BookRow, Controls, Difference, LivePosition, LoopOptions, StepReport
from engine.live.router import Judge, OrderRouter, Routed
from engine.locks import JobLock
from engine.risk import RULES, OrderIntent, RiskGate, TradingState
from engine.risk.decision import Decision
from engine.risk.sessions import new_york_date
from engine.store.db import StaleStep
from engine.store.events import utcnow
from engine.strategies import arrays

log = logging.getLogger("engine.live")

MODES = ("replay", "paper", "live")


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
        """``market`` moves a stand-in broker's market to each bar (tests); by default the
        broker's own :meth:`~engine.brokers.base.Broker.process_bar` does."""
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
        sizes = sorted({c.bar_size for c in configs})
        if len(sizes) > 1:
            raise InputError(
                f"one loop steps one bar size; these configs trade {', '.join(sizes)} bars",
                hint="run a loop per bar size (each in its own account)",
            )
        #: The bar size the loop steps: "1d" after each session's close, or every bar close.
        self.bar_size = sizes[0]
        self.feed = feed
        self.clock = clock
        self.market = market
        self.notifier = notifier or notifier_from(None)
        self.book = broker.book
        self.loop_id = f"{self.options.mode}-{uuid.uuid4().hex[:10]}"
        self.pid = os.getpid()
        self.started_at = utcnow()
        # The gate's rules and their facts; its limits are those in force at each judgement.
        self.gate = RiskGate(rules=self.options.gate_rules or RULES)
        self.router = OrderRouter(store, broker, self.book, self.notifier)
        self.faults = BrokerFaults()
        #: The last bar stepped: a session date (daily), or a BarClose (intraday).
        self.last_bar: date | BarClose | None = None
        self.calendar_checked: date | None = None  # the New York date of the last check
        self._lock: JobLock | None = None  # the book's, held from start to stop
        #: The loop's books between steps (a cache of the store: engine/live/kept.py).
        self.kept = KeptBooks(store, self.book)
        #: The session whose positions this loop marked last (its own rows: none to replace
        #: in a new session).
        self.marked_session: date | None = None
        #: True while a step holds the store file open (no other process can write it).
        self._held = False
        #: When a step writes the heartbeat (the beats committed so far).
        self.pace = heartbeat.Pace()

    # -- identity ----------------------------------------------------------------------

    @property
    def actor(self) -> str:
        return f"{self.options.actor}:{self.loop_id}"

    def starting_cash(self) -> dict[str, float]:
        return {config_id: c.settings.init_cash for config_id, c in self.by_id.items()}

    def trails(self, config_id: str | None) -> bool:
        config = self.by_id.get(config_id)
        return bool(config and config.settings.trailing_stop)

    def laddered(self, config_id: str | None) -> bool:
        """Whether the config builds its positions in legs (a scale-in ladder)."""
        config = self.by_id.get(config_id)
        return bool(config and config.settings.ladder)

    # -- start-up ----------------------------------------------------------------------

    def start(self, next_bar: date | BarClose | None = None) -> list[Difference]:
        """Take the book, reconcile the store with the broker before trading, then say so.

        ``next_bar`` is the session the loop steps next (orders decided for it are its own
        and are left to that step). Gives every difference found. The loop refuses to start
        (:class:`OperatorError` or :class:`InputError`) when another loop trades the book
        (:mod:`engine.live.book_lock`), on a difference nothing explains (unless started to
        adopt the broker's view), under limits that would refuse its orders, or when a config's
        code changed since it was validated and its validation policy requires re-validation
        (every such change raises an alert); a refused start records only why
        (``loop.refused``): no ``loop.started``, no heartbeat.
        """
        self._take_book()
        try:
            return self._start(next_bar)
        except BaseException:
            self.release()
            raise

    def _take_book(self) -> None:
        if not self.store.shared:
            return
        lock = book_lock(
            self.store.data_dir, self.book, loop_id=self.loop_id, mode=self.options.mode
        )
        try:
            take(lock)
        except OperatorError as exc:
            self._refuse(exc.message)
            raise
        self._lock = lock

    def _start(self, next_bar: date | BarClose | None) -> list[Difference]:
        self._check_code()
        last = self.stepped(
            ledger.read_records(self.store, self.book, [], self.clock.now(), marks=False).book
        )
        if last is not None:
            self._clock_at(last)  # a replay resumes at the last bar it finished
        now = self.clock.now()
        with self.faults.watching():
            records = ledger.read_records(self.store, self.book, list(self.by_id), now)
            view = self._view(records)
        self.last_bar = self.stepped(records.book)
        found = self._reconcile(
            records, view, next_bar, expected_cash=records.book.cash if records.book else None
        )
        adopted = self._handle_differences(found, at_start=True)
        equity = view.account.equity
        faults = self.faults.events()

        def write(con):
            ledger.save_orders(con, self.book, found.changed, now)
            ledger.save_positions(con, self.book, adopted.values(), found.closed, now)
            ledger.save_adjustments(con, self.book, found.adjustments, now)
            ledger.save_book(
                con, self.book, mode=self.options.mode, broker=self.broker.name,
                configs=self.starting_cash(), cash=view.account.cash, equity=equity,
                bar=None, now=now, buying_power=view.account.buying_power,
            )  # fmt: skip
            self._beat(con, records.controls.state)
            ledger.append_events(
                con,
                self.actor,
                [
                    *journal.fills(self.book, found.fills),
                    *journal.adjustments(self.book, found.adjustments),
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
        self._beaten(records.controls.state)
        self.kept.forget()  # the first step reads the books as start-up left them
        self.faults.written(len(faults))
        # Commands queued while no loop ran (limits, kill switch, pauses) apply now; those
        # that trade wait for the first step's bars.
        self.apply_commands(now)
        self.check_calendar()
        if next_bar is not None:
            self.protect(next_bar)
        return found.differences

    def _check_code(self) -> None:
        """Alert on every config whose code changed since validation; refuse those whose policy says so."""
        from engine.research.provenance import code_drift

        refused = []
        for config in self.configs:
            drift = code_drift(config)
            if drift is None:
                continue
            if drift.unknown:  # validated before code was recorded: worth a line, not an alert
                log.warning("%s", drift.text)
                continue
            self.notifier.send(
                Alert("code_changed", drift.text, {"config_id": config.config_id, **drift.details})
            )
            if drift.refuse:
                refused.append(drift)
        if refused:
            error = InputError(
                "; ".join(drift.text for drift in refused),
                hint="validate it again (wb validate) on the current code, approve the new "
                "evidence, then start the loop",
            )
            self._refuse(error.message)
            raise error

    def _refuse(self, why: str, events: list[journal.Event] = (), **details) -> None:
        """Records ``loop.refused``: why this loop will not trade (``events`` say what it found).

        At start-up this is all a refused loop writes: it never ran, so no heartbeat says it did.
        Inside a step's one transaction, which the refusal's error rolls back, it is written
        once the step has rolled back, on its own.
        """
        refused = ("loop.refused", self.book, {"reason": why, "loop_id": self.loop_id, **details})

        def write():
            self.store.transaction(
                lambda con: ledger.append_events(con, self.actor, [*events, refused])
            )

        if self.store.in_step:
            self.store.on_rollback(write)
        else:
            write()

    def stepped(self, row: BookRow | None) -> date | BarClose | None:
        """The last bar the book ``row`` says was stepped (at this loop's bar size)."""
        if row is None:
            return None
        if self.bar_size == DAILY:
            return row.bar_date
        if row.bar_at is None:
            return None
        return bar_after(pd.Timestamp(row.bar_at) - pd.Timedelta(microseconds=1), self.bar_size)

    def _clock_at(self, bar: date | BarClose) -> datetime:
        """The clock moved to ``bar``'s step (a replay's; the wall clock only reads)."""
        return self.clock.at_bar(bar) if isinstance(bar, BarClose) else self.clock.at(bar)

    def release(self) -> None:
        """Lets go of the book (another loop may take it); :meth:`stop` does it too."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # -- one step ----------------------------------------------------------------------

    def step(self, bar: date | BarClose) -> StepReport:
        """Act on the close of ``bar``, a session (daily bars) or an intraday bar (see the
        module docstring); gives what it did."""
        with self.holding() as held:
            self._held = held is not None
            try:
                return self._step(bar)
            finally:
                self._held = False

    def holding(self):
        """The store file held open (:meth:`Store.hold`) on a simulated broker, whose steps
        never wait on a network: a step's few milliseconds that other processes wait out,
        instead of opening the file for each of its statements. A real broker's step may
        wait on its answers: the file stays free then (the context gives None). A replay's
        hold is unsynced (:class:`~engine.store.db.Hold`): its steps can be stepped again."""
        hold = getattr(self.store, "hold", None)
        if not hold or not self.broker.capabilities.simulated:
            return nullcontext()
        return hold(synced=self.options.mode != "replay")

    def _step(self, bar: date | BarClose) -> StepReport:
        with self.faults.watching():
            # What others wrote, the commands waiting among it, in one read.
            shared = self.kept.shared(self._registry_ids())
            # Commands queued since the last close apply before the session: a kill switch
            # cancels entries still waiting for the open; a close fills at that open.
            if self.apply_commands(self.clock.now(), pending=parsed(shared.commands)):
                shared = None  # they wrote controls, orders: read again
            # Then the stops: a position must not go into the next session unprotected
            # because its stop expired or vanished, whatever else this step finds.
            self.protect(bar)
            self.check_calendar()
            if not self.broker.capabilities.simulated:
                shared = None  # the broker's answers took time: read what others wrote since
        if not self._held:
            # A remote broker's answers take their time: each write commits on its own.
            return self._trade(bar, shared)
        # Holding the file, the broker's writes (the bar, cancels, submits) and the record
        # commit as one transaction: a crash or a failure anywhere leaves neither, and the
        # step, run again, finds the store as it was before it.
        try:
            with self.store.step():
                return self._trade(bar, shared)
        except StaleStep:
            log.info("the paper account moved since it was kept: step %s runs again", bar)
        with self.store.step():
            return self._trade(bar, shared)

    def _trade(self, bar: date | BarClose, shared: ledger.Shared | None) -> StepReport:
        """The step after the commands: the bar, reconciling, decisions, orders, the record."""
        day = ids.session_of(bar)
        with self.faults.watching():
            now = self._clock_at(bar)
            records = self._records(now, self._registry_ids(), shared=shared)
            bars = self.feed.window(bar)
            going_flat = self._going_flat(bar)
            late = not ends_at(bars, bar)
            if late and not any(p.config_id in going_flat for p in records.positions.values()):
                return self._stale(bar, bars, records)
            # Decisions read the adjusted history; money (fills, marks, stops, the gate's
            # prices) the bars as traded.
            traded = traded_window(self.feed, bar, bars)
            # The bar has traded: orders placed before it filled at its prices. (A bar
            # that has not come moves no simulated market: its prices are not known.)
            if not late and self.market is not None:
                self.market.advance(day, traded)
            elif not late:
                self.broker.process_bar(label_of(bar), traded)
            view = self._cancel_stale_entries(self._view(records), records, bar)
        found = self._reconcile(records, view, bar)
        self._handle_differences(found, at_start=False)
        positions = found.positions
        if not late:
            high = _by_symbol(traded.high, traded.high.to_numpy(dtype=float)[-1])
            positions = {s: p.after_bar(high.get(s, float("nan"))) for s, p in positions.items()}
        controls = records.controls
        paused = self._paused(records)
        # Without the bar nothing is decided, but a flat-by-close book sells out on time.
        plans = [] if late else self._plans(bars, traded, records, found, positions, paused)
        plans = flat_plans(plans, positions, going_flat, bar)
        rules = self._rules(controls, view.account.buying_power)
        # A repeated step finds some of its orders at the broker already: keep, never resend.
        at_broker = {o.client_order_id: o for o in view.open_orders}
        pending, placed = [], []
        for item in orders_for(plans, view.open_orders, bar, now, rules):
            order = at_broker.get(item.client_order_id)
            if order is None:
                pending.append(item)
            else:
                placed.append(replace(item.record, qty=order.qty, broker_order_id=order.id))
        state = account_state(
            view,
            records,
            positions,
            traded,
            paused=paused,
            state=controls.state,
            reason=controls.reason,
        )
        with self.faults.watching():
            # Held, the controls read this step are still the trader's: none could write.
            routed = self.router.send(
                pending, self._judge_step(controls, state, now, bar),
                hold=lambda item: approvals.needs_approval(
                    item, controls.limits, self._settings(item.record.config_id)),
                held_controls=controls if self._held else None,
            )  # fmt: skip
        report = StepReport(
            bar=bar,
            fills=len(found.fills),
            equity=view.account.equity,
            submitted=routed.submitted,
            denied=routed.denied,
            rejected=routed.rejected,
        )
        events = [*routed.events, *journal.orders(self.book, placed)]
        if late:
            report.skipped = self._late_flat(bar, bars, going_flat, routed)
            events.append(("loop.stale_data", str(bar), {"newest": str(_newest(bars)),
                                                         "flat": sorted(going_flat)}))  # fmt: skip
        proposals = self._proposals(routed.held, bar, now, controls, view.account.equity)
        self._record_step(
            bar, now, traded, view, records, found, positions, [*placed, *routed.sent], events,
            routed.state_change, denied=len(routed.denied), proposals=proposals,
        )  # fmt: skip

        def recorded():
            for alert in approvals.alerts(proposals):
                self.notifier.send(alert)
            self.last_bar = bar

        self.store.after_commit(recorded)
        return report

    def _going_flat(self, bar: date | BarClose) -> frozenset[str]:
        """The flat-by-close configs that are to be flat at ``bar``'s close (intraday bars:
        the session's flat bar or a later one, :func:`~engine.live.clock.flat_due`)."""
        if not isinstance(bar, BarClose) or bar.bar_size == DAILY:
            return frozenset()
        return frozenset(
            c.config_id
            for c in self.configs
            if c.settings.flat_by_close and flat_due(bar, c.settings.flat_minutes_before_close)
        )

    def _late_flat(self, bar: BarClose, bars: Bars, going_flat, routed: Routed) -> str:
        """Why a step whose bar is late decided nothing, having sold the flat books out;
        alerts it."""
        why = f"no bar for {bar} yet (newest: {_newest(bars) or 'none'})"
        text = (f"the data feed is stale: {why}; flat by the close, {', '.join(sorted(going_flat))} "
                f"sold out on time without it ({len(routed.submitted)} orders sent)")  # fmt: skip
        self.notifier.send(Alert("stale_data", text, {"day": str(bar)}))
        return why

    def _settings(self, config_id: str | None):
        config = self.by_id.get(config_id)
        return config.settings if config else None

    def _proposals(self, held, bar, now: datetime, controls: Controls, equity: float):
        """The step's entries held for a trader, each with its reasons and expiry."""
        if not held:
            return []  # most steps: no calendar arithmetic for an expiry nobody needs
        expiry = approvals.expires_at(bar, controls.limits.approval_expires)
        return [
            (item, {"bar": str(bar), "why": why, "expires_at": expiry,
                    "reasons": approvals.reasons(
                        item, self.by_id[item.record.config_id].strategy, equity, bar)})
            for item, why in held
        ]  # fmt: skip

    def _rules(self, controls: Controls, buying_power: float | None = None) -> OrderRules:
        """How this loop's orders are shaped: the broker's capabilities, the account's money."""
        capabilities = self.broker.capabilities
        if self.options.stop_tick:
            capabilities = replace(
                capabilities, tick_size=self.options.stop_tick, sub_dollar_tick_size=None
            )
        return OrderRules(self.actor, self._fractional(controls), capabilities, buying_power)

    # -- protection and the broker's calendar ------------------------------------------

    def protect(self, day: date | BarClose) -> Routed | None:
        """Puts back the protective stop of every held position that lost it; gives what it sent.

        A stop that expired with its session, was canceled at the broker, or no longer
        covers the position's shares (a split re-based them) goes back at the level the
        loop keeps (divided by the split's ratio after a split), through the one order
        path, recorded at once. Runs first in every step and at start-up, so a stale feed
        or a refused decision cannot leave a position unprotected. A simulated market's
        orders change only through the loop: nothing there can go missing.
        """
        if self.broker.capabilities.simulated:
            return None
        now = self.clock.now()
        with self.faults.watching():
            records = self._records(now)
            view = self._view(records)
            found = self._reconcile(records, view, day)
            controls = records.controls
            rules = self._rules(controls)
            pending = protective_stops(found.positions.values(), view.open_orders, day, now, rules)
            if not pending:
                return None
            state = account_state(
                view,
                records,
                found.positions,
                self._traded(self.last_bar or day),
                paused=self._paused(records),
                state=controls.state,
                reason=controls.reason,
            )
            routed = self.router.send(pending, self._judge(controls, state, now))
        faults = self.faults.events()
        summary = {"book": self.book, "orders": [o.client_order_id for o in routed.sent],
                   "denied": routed.denied}  # fmt: skip

        def write(con):
            events = [*routed.events, *faults, ("loop.protected", str(day), summary)]
            ledger.append_events(con, self.actor, events)
            return Written(orders=ledger.save_orders(con, self.book, routed.sent, now))

        self.kept.take(self.store.transaction(write))
        self.faults.written(len(faults))
        return routed

    def check_calendar(self) -> list[str]:
        """Compares the broker's calendar and clock with the NYSE calendar, once a New York
        day; gives the disagreements (each an alert and an event).

        The broker's sessions then time the loop's steps (a paper or live clock follows
        them): the broker is the one that fills the orders.
        """
        now = self.clock.now()
        today = new_york_date(now)
        if self.calendar_checked == today:
            return []
        with self.faults.watching():
            sessions = self.broker.sessions(today, today + calendar_check.HORIZON)
            if sessions is None:
                self.calendar_checked = today
                return []
            clock = self.broker.clock()
        found = [
            *calendar_check.session_differences(sessions, today, today + calendar_check.HORIZON),
            *calendar_check.clock_differences(clock),
        ]
        self.clock.follow(sessions)
        self.calendar_checked = today
        if found:
            text = f"{self.broker.name}'s calendar differs from the NYSE calendar: " + "; ".join(
                found
            )
            self.notifier.send(Alert("calendar", text, {"differences": found}))
            event = ("calendar.disagreement", self.book,
                     {"broker": self.broker.name, "differences": found,
                      "rule": "the broker's sessions time the orders"})  # fmt: skip
            self.store.transaction(lambda con: ledger.append_events(con, self.actor, [event]))
        return found

    def _cancel_stale_entries(self, view: BrokerView, records, bar) -> BrokerView:
        """``view`` after canceling the loop's entries still open after the bar they were for.

        An entry decided at a close is meant for the next bar's open (a daily loop's: the
        next session's); one still open after that bar traded (a GTC entry that did not
        fill) would fill later, on a bar its strategy never decided on. The broker's
        answers go into the view for reconciling.
        """
        now_key = ids.bar_key(bar)
        stale = []
        for order in view.open_orders:
            decided = ids.parse_decision_id(order.client_order_id)
            if (
                decided is not None
                and decided.action == "buy"
                and decided.config_id in self.by_id
                and decided.key < now_key
            ):
                stale.append(order)
        if not stale:
            return view
        log.info("canceling %d entries still open after their session", len(stale))
        answers = self.broker.cancel_many([o.id for o in stale])
        gone = {o.id for o in answers if not o.is_open}
        return replace(
            view,
            open_orders=[o for o in view.open_orders if o.id not in gone],
            looked_up={**view.looked_up, **{o.id: o for o in answers}},
        )

    def _judge_step(self, controls: Controls, state, now: datetime, bar) -> Judge:
        """:meth:`_judge` for a step's orders, with an intraday entry judged by the session
        it would execute in first (:func:`~engine.live.clock.entry_refusal`): one that could
        only fill at a later session's open is denied, with the reason, unless its config
        sends last-bar entries to the next open."""
        judge = self._judge(controls, state, now)
        if not isinstance(bar, BarClose):
            return judge

        def judged(intents: list[OrderIntent]) -> list[Decision]:
            refusals = [
                entry_refusal(bar, now, self.by_id[i.config_id].settings.last_bar_entries)
                if i.purpose == "entry" and i.config_id in self.by_id
                else None
                for i in intents
            ]
            allowed = iter(judge([i for i, why in zip(intents, refusals, strict=True) if not why]))
            return [
                Decision(False, 0.0, "session", why, i) if why else next(allowed)
                for i, why in zip(intents, refusals, strict=True)
            ]

        return judged

    def _judge(self, controls: Controls, state, now: datetime) -> Judge:
        """The risk gate, under the limits in force, against ``state`` at ``now``."""
        gate = RiskGate(controls.limits, self.gate.rules)
        state = with_earnings(self.store, state, controls.limits, now)
        return lambda intents: gate.check_all(intents, state, now)

    # -- the trader's commands ---------------------------------------------------------

    def apply_commands(self, now: datetime, day: date | None = None, *, pending=None) -> int:
        """Applies the pending commands (``pending``: as just read; else read now), oldest
        first, each written with its effects in one transaction; gives how many were applied.

        Commands that trade wait for the first step (no bar seen yet, no price to gate by).
        """
        day = day or self.last_bar
        applied = 0
        for command_id, actor, command in pending_commands(self.store) if pending is None else pending:
            if isinstance(command, overrides.TRADING) and day is None:
                continue
            if not still_pending(self.store, command_id):
                continue  # canceled by the trader since the list was read
            context = overrides.CommandContext(
                now=now,
                config_ids=frozenset(self.by_id),
                records=lambda: self._records(now),
                router=self.router,
                judge=lambda intents: self._judge_commands(intents, now, day),
            )
            resolution = overrides.apply(context, command_id, actor, command)
            self.store.transaction(
                lambda con, done=resolution, cid=command_id, by=actor: overrides.write(
                    con, done, command_id=cid, actor=by, book=self.book, by=self.actor, now=now
                )
            )
            for alert in resolution.alerts:
                self.notifier.send(alert)
            applied += 1
        return applied

    def _judge_commands(self, intents, now: datetime, day: date):
        """The gate's decisions on a command's orders, against the books and broker now."""
        records = self._records(now)
        controls = records.controls
        state = account_state(
            self.broker.snapshot(),
            records,
            records.positions,
            self._traded(day),
            paused=controls.paused,
            state=controls.state,
            reason=controls.reason,
        )
        return self._judge(controls, state, now)(intents)

    def _traded(self, bar: date | BarClose) -> Bars:
        """The feed's bars up to ``bar`` as traded (the gate's prices for orders sent between steps)."""
        return traded_window(self.feed, bar)

    def _stale(self, bar: date | BarClose, bars: Bars, records) -> StepReport:
        newest = _newest(bars)
        why = f"no bar for {bar} yet (newest: {newest or 'none'})"
        self.notifier.send(Alert("stale_data", f"the data feed is stale: {why}", {"day": str(bar)}))

        def write(con):
            ledger.append_events(
                con, self.actor, [("loop.stale_data", str(bar), {"newest": str(newest)})]
            )
            self._beat(con, records.controls.state, bar=self.pace.unsaid)

        self.store.transaction(write)
        self.store.after_commit(lambda: self._beaten(records.controls.state))
        return StepReport(bar=bar, skipped=why)

    # -- reconciliation ----------------------------------------------------------------

    def _records(self, now: datetime, config_ids: list[str] | None = None, *,
                 shared: ledger.Shared | None = None) -> ledger.Records:  # fmt: skip
        """The loop's books at ``now`` (equity marks only for a gate that reads them;
        ``shared``: what others wrote, read for these configs this step)."""
        ids = list(self.by_id) if config_ids is None else config_ids
        return self.kept.records(ids, now, marks=self.gate.needs_marks, shared=shared)

    def _view(self, records) -> BrokerView:
        """The broker now, with the orders that closed since the last step (while the loop
        was down included) that the loop has not recorded yet."""
        since = records.book.updated_at if records.book else None
        tracked = [o.broker_order_id for o in records.tracked.values() if o.broker_order_id]
        view = self.broker.snapshot(tracked, closed_since=since)
        news = [o for o in view.recent_closed if o.client_order_id not in records.tracked]
        known = ledger.known_orders(self.store, self.book, [o.client_order_id for o in news])
        return replace(view, recent_closed=[o for o in news if o.client_order_id not in known])

    def _actions(self, records, bar) -> list[CorporateAction]:
        """The recorded splits and dividends of the symbols the book holds that went ex
        after its last stepped bar, up to ``bar``'s session (today's, without one)."""
        held = sorted(records.positions)
        if not held or records.book is None or records.book.bar_date is None:
            return []
        through = pd.Timestamp(ids.session_of(bar)).date() if bar is not None else new_york_date(self.clock.now())
        if through <= records.book.bar_date:
            return []  # the session already stepped (an intraday bar after its first): none new
        return self.kept.actions(held, records.book.bar_date, through, among=self.symbols)

    def _reconcile(self, records, view: BrokerView, bar, *, expected_cash=None) -> Reconciled:
        return reconcile(
            records.tracked,
            records.positions,
            view,
            config_ids=set(self.by_id),
            trails=self.trails,
            laddered=self.laddered,
            fee=self.broker.fee,
            now=self.clock.now(),
            bar=bar,
            expected_cash=expected_cash,
            cash_tolerance=max(0.01, 1e-9 * abs(view.account.equity)),
            actions=self._actions(records, bar),
            recorded_actions=records.adjusted,
            recent_dividends=records.dividends,
            leave=records.in_flight,
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

        listing = "; ".join(f"{d.what} ({d.why})" for d in unexplained)
        error = OperatorError(
            f"the broker and the store disagree on {len(unexplained)} thing(s) nothing explains: {listing}",
            hint="check the account at the broker; to take the broker's view as the truth, "
            "start the loop again with --adopt-broker-state (each difference is recorded)",
        )
        self._refuse(
            error.message,
            journal.differences(self.book, found.differences),
            differences=[d.payload() for d in unexplained],
        )
        raise error

    # -- decisions ---------------------------------------------------------------------

    def _registry_ids(self) -> list[str]:
        return list(self.by_id) if self.options.check_registry else []

    def _paused(self, records) -> frozenset[str]:
        paused = set(records.controls.paused)
        if self.options.check_registry:
            paused |= {c for c in self.by_id if records.statuses.get(c) != "approved"}
        return frozenset(paused)

    def _plans(self, bars, traded, records, found, positions, paused) -> list[tuple[str, Plan]]:
        flows = dict(records.flows)
        for fill in found.fills:
            flows[fill.order.config_id] = flows.get(fill.order.config_id, 0.0) + fill.cash_flow
        # Dividends and cash in lieu count in the step that takes them in, as they do once
        # recorded (a restarted step may find them taken in at start-up).
        for taken in found.adjustments:
            flows[taken.config_id] = flows.get(taken.config_id, 0.0) + taken.cash
        plans = []
        for config_id, config in self.by_id.items():  # an id is a hash of the config: once
            signals = bar_signals(config, bars, traded)
            if signals is None:
                continue  # still warming up: its backtest had no signal on these bars either
            mine = {s: p.holding() for s, p in positions.items() if p.config_id == config_id}
            others = {s for s, p in positions.items() if p.config_id != config_id}
            if config_id in paused:
                others |= set(config.universe)  # a paused config only exits
            cash = config.settings.init_cash + flows.get(config_id, 0.0)
            plans.append(
                (config_id, plan_config(config, signals, cash, mine, unavailable=frozenset(others),
                                        config_id=config_id))  # fmt: skip
            )
        return plans

    def _fractional(self, controls: Controls) -> bool:
        if self.options.fractional_shares is not None:
            return self.options.fractional_shares
        return controls.limits.fractional_shares and self.broker.capabilities.fractional_shares

    # -- recording ---------------------------------------------------------------------

    def _record_step(
        self, bar, now, bars, view, records, found, positions, sent, events, change, *, denied,
        proposals=(),
    ):  # fmt: skip
        day = ids.session_of(bar)
        closed = bar.due(timedelta(0)) if isinstance(bar, BarClose) else None
        marks = _by_symbol(bars.close, arrays.last_valid(bars.close.to_numpy(dtype=float)))
        held = [
            (p, marks[s] if s in marks and marks[s] == marks[s] else _broker_mark(view, s))
            for s, p in sorted(positions.items())
        ]
        controls = records.controls
        state = change[0] if change else controls.state
        step_payload = {
            "book": self.book,
            "fills": len(found.fills),
            "orders": [o.client_order_id for o in sent],
            "denied": denied,
            "proposed": [item.client_order_id for item, _ in proposals],
            "equity": view.account.equity,
        }

        faults = self.faults.events()
        beat = self.pace.due(TradingState(state).value)

        def write(con):
            written = Written(
                orders=ledger.save_orders(con, self.book, [*found.changed, *sent], now,
                                          stored=records.tracked),
                adjustments=ledger.save_adjustments(con, self.book, found.adjustments, now),
            )
            written.positions, written.closed = ledger.save_positions(
                con, self.book, positions.values(), found.closed, now, before=records.positions
            )
            approvals.record_step(con, self.book, self.options.mode, proposals, now, self.actor,
                                  expire=records.proposals_due(now))  # fmt: skip
            ledger.append_events(
                con,
                self.actor,
                [
                    *journal.fills(self.book, found.fills),
                    *journal.adjustments(self.book, found.adjustments),
                    *journal.differences(self.book, [d for d in found.differences if d.explained]),
                    *events,
                    *faults,
                    ("loop.step", str(bar), step_payload),
                ],
            )
            if change is not None and change[0] != controls.state:
                ledger.set_control(
                    con,
                    "state",
                    {"state": change[0].value, "reason": change[1]},
                    self.actor,
                    reason=change[1],
                )
            written.mark = ledger.snapshot(
                con, self.loop_id, day, now, cash=view.account.cash, equity=view.account.equity,
                positions=held, again=self.marked_session == day,
            )  # fmt: skip
            written.book = ledger.save_book(
                con, self.book, mode=self.options.mode, broker=self.broker.name,
                configs=self.starting_cash(), cash=view.account.cash, equity=view.account.equity,
                bar=day, now=now, buying_power=view.account.buying_power, bar_at=closed,
                before=records.book,
            )  # fmt: skip
            if beat:
                self._beat(con, state, bar=day)
            return written

        # What others write, as this step read it, is still true after it unless it wrote
        # some of it: a proposal, an expiry, a new trading state.
        if not (proposals or records.proposals_due(now)
                or (change is not None and change[0] != controls.state)):  # fmt: skip
            self.kept.keep_shared(self._registry_ids())

        # The memory changes only once the transaction committed (the step's, when the step
        # has one: a failed one leaves it as it was).
        self.kept.take(self.store.transaction(write))

        def recorded():
            self.marked_session = day
            if beat:
                self._beaten(state)
            else:
                self.pace.skipped(day)
            self.faults.written(len(faults))
            if change is not None and change[0] != controls.state:
                self.notifier.send(Alert("halt", f"trading is {change[0].value}: {change[1]}"))

        self.store.after_commit(recorded)

    def _beat(self, con, state, *, bar=None, stopped=False) -> None:
        ledger.beat(
            con, self.loop_id, mode=self.options.mode, broker=self.broker.name, book=self.book,
            pid=self.pid, started_at=self.started_at, bar=bar, state=TradingState(state).value,
            configs=list(self.by_id), stopped=stopped,
        )  # fmt: skip

    def _beaten(self, state) -> None:
        """Tells the pace that a beat saying ``state`` committed."""
        self.pace.beaten(TradingState(state).value)

    def heartbeat(self) -> None:
        """Beat between steps (a paper or live loop waiting for the next close)."""
        state = ledger.read_controls(self.store).state
        self.store.transaction(lambda con: self._beat(con, state, bar=self.pace.unsaid))
        self._beaten(state)

    def stop(self, reason: str = "finished") -> None:
        """Mark the loop stopped cleanly (the control room then says so, not 'stale')."""

        state = ledger.read_controls(self.store).state

        def write(con):
            self._beat(con, state, bar=self.pace.unsaid, stopped=True)
            ledger.append_events(
                con, self.actor, [("loop.stopped", self.loop_id, {"reason": reason})]
            )

        self.store.transaction(write)
        self._beaten(state)
        self.release()


def _newest(bars: Bars):
    """The newest bar of ``bars``: a session date (daily), a bar's start, or None."""
    if not len(bars):
        return None
    return bars.index[-1] if bars.is_intraday else bars.index[-1].date()


def flat_plans(plans: list[tuple[str, Plan]], positions: dict[str, LivePosition],
               going_flat: frozenset[str], bar) -> list[tuple[str, Plan]]:  # fmt: skip
    """``plans`` with each config of ``going_flat`` selling every position it holds (a
    config with no plan, its bar late or still warming up, gets one).

    Its entries would fill after the flat bar, which the backtest never does, and are
    dropped; but one decided on the session's last bar fills at the next session's open,
    as the backtest's may (the config's ``last_bar_entries`` then says whether it goes).
    A ladder's leg for a position being sold never goes.
    """
    if not going_flat:
        return plans
    kept = [(cid, plan) for cid, plan in plans if cid not in going_flat]
    decided = dict(plans)
    flat = []
    for config_id in sorted(going_flat):
        exits = [PlannedExit(s, p.qty, "flat") for s, p in sorted(positions.items())
                 if p.config_id == config_id and p.qty > 0]  # fmt: skip
        entries = decided[config_id].entries if config_id in decided and bar.last else []
        # A ladder's next leg adds to a position this plan sells out: it never goes.
        entries = [entry for entry in entries if entry.leg == 1]
        flat.append((config_id, Plan(config_id, ids.session_of(bar), exits=exits,
                                     entries=entries)))  # fmt: skip
    return [*kept, *flat]


def _by_symbol(frame: pd.DataFrame, row: np.ndarray) -> dict[str, float]:
    """``row`` (one value per column of ``frame``) by symbol, as Python floats: a Series'
    lookups cost a few microseconds each, a step makes one per held symbol."""
    return dict(zip(frame.columns.tolist(), row.tolist(), strict=True))


def _broker_mark(view: BrokerView, symbol: str) -> float:
    position = view.positions.get(symbol)
    return float(position.market_price or position.avg_entry_price) if position else float("nan")
