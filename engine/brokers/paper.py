"""The paper broker: simulated fills on real bars, with its whole state in the store.

Orders wait for the next bar: the loop calls :meth:`PaperBroker.process_bar` with each
new bar, and orders submitted before that bar fill at its prices (see
:func:`engine.brokers.paper_rules.fill_price`), in the order a session trades: at the open
sells then buys, then what the bar reaches later (the rules the backtest shares, see
:mod:`engine.backtest.rules`). A buy fills only what the cash then pays for; a sell only
the shares held (unless shorting is on); a position sold down to nothing takes its
waiting sell orders (its stop) with it; a buy with ``stop_loss_price`` gets its protective
stop the moment it fills. Everything (accounts, orders, fills, the
last close per symbol) lives in the store, and every change writes an event in the same
transaction, so a new ``PaperBroker`` on the same store, in this process or another,
carries on exactly where the last one stopped. The broker keeps a copy of the account in
memory and checks it against the store once per call: a read of its generation, or, in a
write, the statement that writes the account row (:mod:`engine.brokers._paper_memory` says
why that copy is safe).

Events (``subject`` is the symbol; the payload names the account, order and client
order id): ``paper.account.opened``, ``paper.order.submitted``,
``paper.order.rejected`` (with the reason), ``paper.order.filled`` (qty, price, fee,
bar date: enough to rebuild positions from the log), ``paper.order.canceled``,
``paper.order.expired``, ``paper.corporate_action`` (a split or cash dividend applied
to a holding at the open of its ex-date: shares, cash, and the resting orders re-based;
see :mod:`engine.brokers.corporate_actions`).

>>> broker = PaperBroker(store, cash=100_000, fees=0.0005, slippage=0.0005)   # doctest: +SKIP
>>> broker.submit(OrderRequest(symbol="AAPL", side="buy", qty=10,
...                            client_order_id="demo-AAPL-buy-2010-01-04"))   # doctest: +SKIP
>>> broker.process_bar("2010-01-05", bars)   # fills at 2010-01-05's open + 5 bps  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd

from engine.brokers import _paper_books as books
from engine.brokers import _paper_memory as memory
from engine.brokers._paper_memory import Kept, Standing
from engine.brokers._paper_session import trade_session
from engine.brokers.base import (
    Account,
    Broker,
    BrokerSettings,
    BrokerView,
    Capabilities,
    Clock,
    Fill,
    Order,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
    check_cancel_target,
    check_order_query,
    existing_or_conflict,
)
from engine.brokers.corporate_actions import (
    QTY_EPSILON,
    SUB_DOLLAR_TICK,
    US_EQUITY_TICK,
    dividend_cash,
    split_shares,
)
from engine.brokers.paper_rules import (
    Costs,
    rejection_reason,
    reserve_for,
    sale_proceeds,
)
from engine.data import calendar
from engine.data.bar_sizes import MINUTES
from engine.data.bars import Bars
from engine.data.corporate_actions import SPLIT, STAMP_SQL, KnownActions
from engine.errors import InputError, NotFoundError
from engine.store import Store, append_event
from engine.store.db import StaleStep
from engine.store.events import append_events, utcnow
from engine.store.writing import insert_rows

DEFAULT_CASH = 100_000.0
PAPER_TIFS = (TimeInForce.DAY, TimeInForce.GTC)

# (placed or existing order, refusal reason): exactly one of the two is set.
_Outcome = tuple[Order | None, str | None]


class PaperBroker(Broker):
    """A simulated broker whose books live in ``store`` under the name ``account``.

    - ``cash``: starting cash when the account is first opened (default 100,000); an
      existing account keeps its own, and a different figure here is an error.
    - ``fees``, ``fixed_fees``, ``slippage``: see :class:`~engine.brokers.paper_rules.Costs`.
    - ``allow_short``: let sells exceed the shares held (off: such sells are refused).
    - ``actor``: who the events name as acting (e.g. ``"loop"`` or a trader).
    - ``now``: the clock, naive UTC; replay passes its simulated one.
    """

    name = "paper"
    capabilities = Capabilities(fractional_shares=True, simulated=True, brackets=True)

    def __init__(
        self,
        store: Store,
        *,
        fees: float = 0.0,
        fixed_fees: float = 0.0,
        slippage: float = 0.0,
        cash: float | None = None,
        account: str = "paper",
        allow_short: bool = False,
        actor: str = "paper",
        now: Callable[[], datetime] = utcnow,
    ):
        if not account or not str(account).strip():
            raise InputError("a paper account needs a name", hint="e.g. account='paper'")
        self.store = store
        self.costs = Costs(fees=fees, fixed_fees=fixed_fees, slippage=slippage)
        self.account_name = str(account)
        self.allow_short = allow_short
        self.actor = actor
        self.now = now
        self._lock = books.store_lock(store.path)
        #: The account as last read or written (None: not read yet); see _paper_memory.
        self._kept: Kept | None = None
        #: The splits and dividends this account has looked up, and the store's stamp of
        #: them when it last did (a write that uses them checks the stamp at its end).
        self._actions, self._actions_stamp = KnownActions(), None
        #: The store's writes mark once the last step in which this broker checked the
        #: stamp committed (None: unknown): while the store's mark stays on it, nobody else
        #: wrote, and the stamp is still right (Store.writes_mark; marks only move on, so
        #: an old one never matches again).
        self._quiet_mark: int | None = None
        self.starting_cash = books.writing(self.store, self._lock, self._open_account, cash)

    def __repr__(self) -> str:
        return f"PaperBroker(account={self.account_name!r}, store={str(self.store.path)!r})"

    @property
    def book(self) -> str:
        """``paper:<account>``: each paper account is a book of its own."""
        return f"paper:{self.account_name}"

    @classmethod
    def from_settings(cls, settings: BrokerSettings, **options: Any) -> PaperBroker:
        """The paper account ``settings`` name (default ``paper``) in ``settings.store``.

        A new account opens with ``settings.opening_cash`` (an existing one keeps its own);
        ``options`` are :class:`PaperBroker`'s other keywords (``cash`` given here is checked
        against an existing account's, as the constructor does).
        """
        if settings.live:
            raise InputError("live trading needs the Alpaca broker", hint="use --broker alpaca")
        if settings.store is None:
            raise InputError("the paper broker keeps its books in the store; pass store=")
        account = settings.account or "paper"
        exists = account_exists(settings.store, account)
        if settings.existing_only and not exists:
            raise NotFoundError(
                f"there is no paper account {account!r} in this store",
                hint="a paper account opens when a loop or a notebook first trades in it",
            )
        options.setdefault("cash", None if exists else settings.opening_cash)
        return cls(
            settings.store,
            account=account,
            actor=settings.actor,
            now=settings.now or utcnow,
            fees=settings.fees,
            slippage=settings.slippage,
            **options,
        )

    def fee(self, qty: float, price: float) -> float:
        """The account's costs for a fill (:class:`~engine.brokers.paper_rules.Costs`)."""
        return self.costs.fee(qty, price)

    def _write(self, work: Callable[..., Any], *args) -> Any:
        """``work(con, kept, *args)`` in one store transaction, ``kept`` a copy of the account
        it may change; gives what ``work`` gives.

        The copy becomes the kept account only once the transaction has committed (inside
        a store's step, whose later work builds on it: at once, and dropped if the step
        rolls back). The check that nobody else wrote the account since it was kept comes
        at the end, in the statement that writes the account row (see :meth:`_close_write`):
        a copy found stale rolls the transaction back, and the write runs again on the
        store's account; inside a step, which cannot undo only this write, the whole step
        runs again (:class:`~engine.store.db.StaleStep`).
        """
        try:
            return self._write_once(work, *args)
        except _Stale:
            # Another writer moved the account, or the corporate actions changed: read
            # both again (in the next transaction, which then cannot find them stale).
            self._forget()
            if self.store.in_step:
                raise StaleStep from None
            return self._write_once(work, *args)

    def _forget(self) -> None:
        """Drops what is kept of the account and the corporate actions: read again at next use."""
        self._kept, self._actions, self._actions_stamp = None, KnownActions(), None
        self._quiet_mark = None

    def _write_once(self, work: Callable[..., Any], *args) -> Any:
        step = self.store.current_step()  # a store's step: one try, in its transaction

        def attempt(con, *args):
            stands = memory.standing(step, self.account_name, self)
            if stands is Standing.BEHIND:
                self._kept = None  # another broker object wrote in this step: read again
            fresh = self._kept is None
            kept = (memory.load(con, self.account_name, self.starting_cash) if fresh
                    else self._kept).copy()  # fmt: skip
            try:
                result = work(con, kept, *args)
            except duckdb.Error:
                # Perhaps of a stale copy (a client order id another writer took since):
                # the retry reads the account again.
                self._kept = None
                raise
            except Exception as exc:
                if not fresh and self._behind(con, kept, stands):
                    raise _Stale from exc  # judged on a stale copy: judge again
                raise
            self._close_write(con, kept, fresh, stands)
            return result, kept, stands

        with self._lock:
            result, kept, stands = books.writing(self.store, self._lock, attempt, *args)
            # Committed, or inside a store's step: what the step goes on with, forgotten
            # should the step roll back (the copy shares the set of client ids it adds to).
            self._kept = kept.committed()
            self._note_in_step(step, bumped=stands is Standing.BUMPED or kept.touched)
            if kept.actions_stamp is not None:
                self._actions_stamp = kept.actions_stamp
        return result

    def _close_write(self, con, kept: Kept, fresh: bool, stands: Standing) -> None:
        """Ends a write: a write that changed the books (``kept.touched``) bumps the
        account's generation with the row's other fields in one statement, which also
        checks that the generation (and the corporate actions the write used) are the ones
        the copy was made from; raises :class:`_Stale` when they are not.

        Why that is enough: the account's generation moves with every write to its books
        by anyone (:mod:`engine.brokers._paper_memory`), and the corporate actions' stamp
        with every split or dividend stored (:data:`STAMP_SQL`); a write checked at its end
        was made on what the store held all along, since one writer at a time has the file.
        Inside a store's step, a copy checked there already needs no check, and a write
        after one that bumped the generation in the step only writes the row when its
        marks moved (``stands``, :func:`~engine.brokers._paper_memory.standing`). The stamp
        is left out while nothing can have written the store since a step of this broker
        checked it and committed (:meth:`Store.unwritten_since`).
        """
        if kept.touched:
            if stands is Standing.BUMPED and not kept.marks_moved:
                return  # the step's bump, committing with this write, tells others
            stamp, values = kept.actions_stamp, {}
            if stamp is not None and self.store.unwritten_since(self._quiet_mark):
                stamp = None  # nobody wrote the store since the stamp was last checked
            if stamp is not None:
                values["stamp"] = stamp
            if kept.marks_moved:  # every mark, as one JSON object (each float exact)
                values["marks"] = json.dumps(kept.marks)
            changed = con.execute(
                "UPDATE paper_accounts SET generation = generation + 1, last_bar_date = $bar,"
                " last_bar_at = $at"
                f"{', marks = $marks' if kept.marks_moved else ''}"
                " WHERE account = $account AND generation = $generation"
                f"{'' if stamp is None else f' AND ({STAMP_SQL}) = $stamp'}",
                {"bar": kept.last_bar, "at": kept.last_bar_at, "account": self.account_name,
                 "generation": kept.generation, **values},
            ).fetchone()[0]  # the rows it changed, one or none: a RETURNING costs 0.3 ms more
            if not changed:
                raise _Stale
            kept.generation += 1
            if kept.actions_stamp is not None:  # checked now, or trusted: right at the commit
                self.store.after_commit_mark(self._stamp_right_at)
        elif not fresh and self._behind(con, kept, stands):
            raise _Stale  # nothing written, but what it gave back came from a stale copy

    def _stamp_right_at(self, mark: int | None) -> None:
        self._quiet_mark = mark

    def _behind(self, con, kept: Kept, stands: Standing) -> bool:
        """True when ``kept`` fell behind the store: not checked in the open step, and the
        account's generation moved since it was read (one read of the store)."""
        return (stands not in memory.CHECKED
                and memory.generation(con, self.account_name) != kept.generation)  # fmt: skip

    def _note_in_step(self, step, *, bumped: bool) -> None:
        """Notes in the store's open ``step`` (None: none) that this broker's copy is the
        step's latest, to be dropped should the step roll back."""
        if step is not None:
            memory.note(step, self.account_name, self, bumped=bumped)
            self.store.on_rollback(self._forget)

    def _read(self):
        return books.reading(self.store, self._lock)

    def _current(self, con) -> Kept:
        """The account as kept (and kept from now on), read again from the store when
        another writer changed it since (its generation moved); inside a store's step,
        without a read once checked there (:func:`~engine.brokers._paper_memory.standing`)."""
        step = self.store.current_step()
        stands, kept = memory.standing(step, self.account_name, self), self._kept
        if kept is None or stands is Standing.BEHIND or self._behind(con, kept, stands):
            kept, stands = memory.load(con, self.account_name, self.starting_cash), None
        self._kept = kept
        self._note_in_step(step, bumped=stands is Standing.BUMPED)  # it may hold what the step saw
        return kept

    def _kept_now(self) -> Kept:
        """The account now (one read of the store: its generation)."""
        with self._read() as con:
            return self._current(con)

    # -- account -----------------------------------------------------------------------

    def _open_account(self, con: duckdb.DuckDBPyConnection, cash: float | None) -> float:
        rows = con.execute(
            "SELECT starting_cash FROM paper_accounts WHERE account = ?", [self.account_name]
        ).fetchall()
        row = rows[0] if rows else None
        if row is not None:
            if cash is not None and abs(float(cash) - row[0]) > 1e-9:
                raise InputError(
                    f"paper account {self.account_name!r} already exists with starting cash "
                    f"{row[0]:,.2f}, not {float(cash):,.2f}",
                    hint="omit cash to carry on with it, or name a new account",
                )
            return float(row[0])
        starting = DEFAULT_CASH if cash is None else float(cash)
        if not starting > 0:
            raise InputError(f"starting cash must be positive, got {cash!r}")
        con.execute(
            "INSERT INTO paper_accounts (account, starting_cash, created_at) VALUES (?, ?, ?)",
            [self.account_name, starting, self.now()],
        )
        append_event(
            con, "paper.account.opened", self.actor, self.account_name, {"starting_cash": starting}
        )
        return starting

    def account(self) -> Account:
        return self._account(self._kept_now())[0]

    def _account(self, kept: Kept) -> tuple[Account, list[Position]]:
        """(the account, its positions) as ``kept`` has them."""
        positions = books.marked_positions(kept.book, kept.marks)
        open_ = [r.order for r in kept.open.values()]
        reserved = books.reserved_cash(open_, kept.marks, self.costs)
        long_value = float(sum(p.market_value for p in positions if p.qty > 0))
        short_value = float(sum(p.market_value for p in positions if p.qty < 0))
        account = Account(
            equity=kept.cash + long_value + short_value,
            cash=kept.cash,
            buying_power=max(kept.cash - reserved, 0.0),
            long_market_value=long_value,
            short_market_value=short_value,
        )
        return account, positions

    def clock(self) -> Clock:
        now = pd.Timestamp(books.naive_utc(self.now())).tz_localize("UTC")
        sessions = calendar.schedule(
            now.tz_convert(calendar.TZ).date(), now + pd.Timedelta(days=14)
        )
        opens, closes = sessions["market_open"], sessions["market_close"]
        return Clock(
            timestamp=books.naive_utc(now),
            is_open=calendar.is_open(now),
            next_open=books.naive_utc(opens[opens > now].iloc[0]),
            next_close=books.naive_utc(closes[closes > now].iloc[0]),
        )

    def last_bar_date(self) -> date | None:
        """The newest bar this account has processed (None before the first)."""
        return self._kept_now().last_bar

    # -- orders ------------------------------------------------------------------------

    def submit(self, order: OrderRequest) -> Order:
        ((placed, refusal),) = self._submit_all([order])
        if refusal:
            raise OrderRejected(refusal, client_order_id=order.client_order_id, broker=self.name)
        return existing_or_conflict(order, placed)

    def submit_many(self, orders: list[OrderRequest]) -> list[Order | OrderRejected]:
        """Each order placed, as :meth:`Broker.submit_many`, all in one store transaction."""
        return [
            OrderRejected(refusal, client_order_id=req.client_order_id, broker=self.name)
            if refusal
            else existing_or_conflict(req, placed)
            for req, (placed, refusal) in zip(orders, self._submit_all(orders), strict=True)
        ]

    def _submit_all(self, orders: list[OrderRequest]) -> list[_Outcome]:
        for order in orders:
            if order.time_in_force not in PAPER_TIFS:
                raise InputError(
                    f"the paper broker takes day or gtc orders, not {order.time_in_force}",
                    hint="use time_in_force='day' or 'gtc'",
                )
        return self._write(self._place, orders) if orders else []

    def _place(self, con, kept: Kept, requests: list[OrderRequest]) -> list[_Outcome]:
        """Check and place each request in turn, each seeing the ones before it."""
        account = self.account_name
        known = self._orders_by_client_id(con, kept, [r.client_order_id for r in requests])
        held, prices, cash = kept.held, kept.marks, kept.cash
        waiting = [r.order for r in kept.open.values()]
        reserved = books.reserved_cash(waiting, prices, self.costs)
        pending_sells: dict[str, float] = defaultdict(float)
        # What open market sells of held shares bring at the next open: a buy may use it.
        proceeds, counted = 0.0, defaultdict(float)
        for o in waiting:
            if o.side == Side.SELL:
                pending_sells[o.symbol] += o.remaining_qty
                proceeds += self._pending_proceeds(o, held, prices, counted)
        after_bar, after_bar_at, now = kept.last_bar, kept.last_bar_at, self.now()

        outcomes: list[_Outcome] = []
        rows, events, placed = [], [], []
        for req in requests:
            if req.client_order_id in known:
                outcomes.append((known[req.client_order_id], None))
                continue
            price = req.limit_price or req.stop_price or prices.get(req.symbol)
            refusal = rejection_reason(
                req.side,
                req.qty,
                price=price,
                cash=cash,
                reserved_cash=reserved,
                held_qty=held.get(req.symbol, 0.0),
                pending_sell_qty=pending_sells[req.symbol],
                allow_short=self.allow_short,
                costs=self.costs,
                pending_proceeds=proceeds,
            )
            payload = {**_request_payload(req), "account": account}
            if refusal:
                events.append(("paper.order.rejected", req.symbol, {**payload, "reason": refusal}))
                outcomes.append((None, refusal))
                continue
            order = Order.accepted(req, now)
            known[req.client_order_id] = order  # a repeat later in this batch gets this one
            if req.side == Side.BUY:
                reserved += reserve_for(req.qty, price, self.costs)
            else:
                proceeds += self._pending_proceeds(order, held, prices, counted)
                pending_sells[req.symbol] += req.qty
            stored = {"after_bar": after_bar, "after_bar_at": after_bar_at,
                      "stop_loss_price": req.stop_loss_price}  # fmt: skip
            rows.append(books.order_row(order, account, **stored))
            placed.append((order, stored))
            events.append(("paper.order.submitted", req.symbol, {**payload, "order_id": order.id}))
            outcomes.append((order, None))
        books.insert_orders(con, rows)  # with the attached stops waiting in the step, first
        for order, stored in placed:
            kept.place(order, **stored)
        kept.touched = bool(placed)
        append_events(con, self.actor, events)
        return outcomes

    def _orders_by_client_id(self, con, kept: Kept, client_order_ids: list[str]) -> dict[str, Order]:
        """The account's orders among these client order ids: from memory, or from the store
        for one it took long ago (every client id the account took is kept, its order not)."""
        wanted = set(client_order_ids) & kept.client_ids
        if not wanted:
            return {}
        found = {r.order.client_order_id: r.order
                 for r in (*kept.open.values(), *kept.closed.values())
                 if r.order.client_order_id in wanted}  # fmt: skip
        if len(found) < len(wanted):
            found.update(books.orders_by_client_id(con, self.account_name, sorted(wanted - set(found))))
        return found

    def _pending_proceeds(self, order: Order, held, prices, counted) -> float:
        """What a waiting market sell brings at the next open at the last close (0: none).

        Only shares held and not already counted for another market sell count.
        """
        mark = prices.get(order.symbol)
        if order.type != OrderType.MARKET or mark is None:
            return 0.0
        qty = min(order.remaining_qty, max(held.get(order.symbol, 0.0) - counted[order.symbol], 0))
        counted[order.symbol] += qty
        return sale_proceeds(qty, mark, self.costs)

    def cancel(self, order_id: str | None = None, *, client_order_id: str | None = None) -> Order:
        check_cancel_target(order_id, client_order_id)
        key, value = (
            ("id", order_id) if order_id is not None else ("client_order_id", client_order_id)
        )
        return self._write(self._cancel, key, [value])[0]

    def cancel_many(self, order_ids: list[str]) -> list[Order]:
        """Each order after asking to cancel it (as :meth:`cancel`), in one store transaction."""
        if not order_ids:
            return []
        return self._write(self._cancel, "id", order_ids)

    def _cancel(self, con, kept: Kept, key: str, values: list[str]) -> list[Order]:
        """Each order whose ``key`` is one of ``values`` after canceling it (a closed one as
        it is), the open ones canceled in one statement (in a store's step, with its other
        status changes: :func:`~engine.brokers._paper_books.set_status`)."""
        now, answers, canceled = self.now(), [], []
        for value in values:
            order = self._known_order(con, kept, key, value)
            if order.is_open:
                order = kept.update(order.id, status=OrderStatus.CANCELED, updated_at=now)
                canceled.append(order)
            answers.append(order)
        if canceled:
            if not books.status_waits(con, [books.status_row(o) for o in canceled]):
                con.execute(
                    "UPDATE paper_orders SET status = 'canceled', updated_at = ?"
                    " WHERE id IN (SELECT unnest(?))",
                    [now, [o.id for o in canceled]],
                )
            append_events(con, self.actor, [
                ("paper.order.canceled", o.symbol, _order_payload(o, self)) for o in canceled
            ])  # fmt: skip
            kept.touched = True
        return answers

    def get_order(self, order_id: str) -> Order:
        with self._read() as con:
            return self._known_order(con, self._current(con), "id", order_id)

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        with self._read() as con:
            return self._known_order(con, self._current(con), "client_order_id", client_order_id)

    def _known_order(self, con, kept: Kept, key: str, value: str) -> Order:
        """The order whose ``key`` (id or client_order_id) is ``value``, from memory when kept;
        NotFoundError if none."""
        order = kept.find(key, value) or books.find_order(con, self.account_name, key, value)
        if order is None:
            raise _unknown_order(key, value)
        return order

    def orders(self, status: str = "open", *, after: datetime | None = None) -> list[Order]:
        status = check_order_query(status)
        if status == "open":
            open_ = [r.order for r in reversed(self._kept_now().open.values())]
            return [o for o in open_ if after is None or o.submitted_at > after]
        with self._read() as con:
            return books.orders(con, self.account_name, status, after=after)

    # -- positions and fills -----------------------------------------------------------

    def positions(self) -> list[Position]:
        kept = self._kept_now()
        return books.marked_positions(kept.book, kept.marks)

    def fills(self, *, order_id: str | None = None, after: datetime | None = None) -> list[Fill]:
        """Executions of this account in time order, optionally of one order or after a time."""
        with self._read() as con:
            return books.fills(con, self.account_name, order_id=order_id, after=after)

    # -- the market moves --------------------------------------------------------------

    def process_bar(self, day, bars: Bars | pd.DataFrame) -> list[Fill]:
        """The fills that the bar of ``day`` gives the orders waiting for it.

        ``bars`` is either :class:`~engine.data.bars.Bars` holding ``day`` or a frame
        indexed by symbol with ``open``, ``high``, ``low`` and ``close`` for that day.
        Orders submitted before this bar was first processed fill by the rules of
        :func:`~engine.brokers.paper_rules.fill_price`; a day order the bar does not fill
        expires (also when its symbol has no bar that day); the bar's closes become the
        marks for equity. Processing the same day again changes nothing (a restarted loop
        may repeat its last step); a day older than the newest processed is an error.
        """
        if isinstance(bars, Bars) and bars.is_intraday:
            return self._process_intraday(pd.Timestamp(day), bars)
        day = pd.Timestamp(day).normalize()
        bar = books.bar_prices(day, bars)
        return self._write(self._process_bar, day.date(), bar, books.session_open(day.date()))

    def _process_intraday(self, start: pd.Timestamp, bars: Bars) -> list[Fill]:
        """:meth:`process_bar` for the intraday bar that starts at ``start`` (exchange time).

        Orders placed before it fill at its prices (market orders at its open, at the bar's
        start); day orders expire only with the session's last bar.
        """
        bar = books.bar_prices(start, bars)
        local = start.tz_convert(calendar.TZ)
        session = local.date()
        times = calendar.session_times(session, session)
        minute = local.hour * 60 + local.minute
        last = times.empty or minute + MINUTES[bars.bar_size] >= int(times["close"].iloc[0])
        at = books.naive_utc(start)
        return self._write(self._process_bar, session, bar, at, at, last)

    def _process_bar(
        self, con, kept: Kept, day: date, bar: books.BarPrices, filled_at: datetime,
        at: datetime | None = None, last_of_session: bool = True,
    ) -> list[Fill]:  # fmt: skip
        account = self.account_name
        last, last_at = kept.last_bar, kept.last_bar_at if at is not None else None
        if (last is not None and day < last) or (last_at is not None and at < last_at):
            newest = last_at or last
            raise InputError(
                f"bar {at or day} is older than the newest bar this paper account has "
                f"processed ({newest})",
                hint="feed bars in time order; a replay over older dates needs a new account",
            )
        # A new session: what went ex at its open first (a split or dividend taken in
        # changes the shares and cash the bar's orders trade with).
        if last is not None and day > last:
            self._take_corporate_actions(con, kept, last, day, bar.symbols)
        waiting = [r for r in kept.open.values() if r.waits_for(day, at)]
        done = trade_session(
            [r.order for r in waiting],
            {r.order.id: (r.stop_loss_price, r.order.take_profit_price)
             for r in waiting if r.order.side == Side.BUY and r.stop_loss_price is not None},
            bar,
            cash=kept.cash,
            held=kept.held,
            costs=self.costs,
            allow_short=self.allow_short,
            now=self.now(),
            filled_at=filled_at,
            expire_day_orders=last_of_session,
        )  # fmt: skip
        # Attached stops first: the status updates may already close one of them. In a step,
        # their rows wait for the orders the step submits next (one insert).
        books.insert_orders(
            con, [books.order_row(child, account, None, parent_id=pid) for child, pid in done.placed],
            wait=True,
        )  # fmt: skip
        for child, _ in done.placed:
            kept.place(child)
        seqs = dict(insert_rows(
            con, "paper_fills", [books.fill_row(f, account, day) for f in done.fills],
            returning=["id", "seq"],
        ))  # fmt: skip
        for fill in sorted(done.fills, key=lambda f: seqs[f.id]):  # the store's order
            kept.take_fill(fill.symbol, fill.side, fill.qty, fill.price, fill.fee)
        books.set_status(con, done.updates)
        for update in done.updates:
            kept.update(update["id"], status=OrderStatus(update["status"]),
                        filled_qty=update["filled_qty"],
                        filled_avg_price=update["filled_avg_price"],
                        updated_at=update["updated_at"])  # fmt: skip
        append_events(
            con,
            self.actor,
            [
                (kind, subject, _session_payload(kind, payload, account, day))
                for kind, subject, payload in done.events
            ],
        )
        # The bar's closes become the marks (written with the account row, see _close_write).
        kept.marks_moved = True
        kept.marks.update(bar.closes())
        kept.last_bar, kept.last_bar_at, kept.touched = day, at, True
        return done.fills

    def _take_corporate_actions(
        self, con, kept: Kept, after: date, through: date, traded: Iterable[str]
    ) -> None:
        """Applies the splits and cash dividends that went ex after ``after`` up to ``through``
        to what the account holds (see :mod:`engine.brokers.corporate_actions`), each once:
        ``paper_adjustments`` keeps which, in the same transaction as the bar.

        ``traded``: the bar's symbols, whose actions are looked up with the held ones' (and
        then kept), so that a symbol bought later needs no read of its own."""
        account = self.account_name
        held = {s: q for s, q in kept.held.items() if abs(q) > QTY_EPSILON}
        actions = self._actions_between(con, kept, held, after, through, traded)
        if not actions:
            return
        prices = dict(kept.marks)
        rows, events = [], []
        for action in actions:
            qty = held.get(action.symbol, 0.0)
            if action.key in kept.applied or abs(qty) <= QTY_EPSILON:
                continue
            orders: list[dict] = []
            if action.kind == SPLIT:
                shares = split_shares(qty, action.ratio, prices.get(action.symbol))
                after_qty, cash, price = shares.qty, shares.cash_in_lieu, shares.price
                resting = [(r.order, r.stop_loss_price) for r in kept.open.values()
                           if r.order.symbol == action.symbol]  # fmt: skip
                orders = books.rebase_orders(con, resting, action.ratio, _tick)
                for change in orders:
                    kept.update(change["order_id"], **{
                        k: change.get(k) for k in ("qty", "limit_price", "stop_price",
                                                   "take_profit_price", "stop_loss_price")
                    })  # fmt: skip
                if action.symbol in kept.marks:  # in post-split terms until the ex-date's close
                    kept.marks[action.symbol] = kept.marks[action.symbol] / action.ratio
                    kept.marks_moved = True
                prices[action.symbol] = price
            else:
                after_qty, cash, price = qty, dividend_cash(qty, action.amount), None
            held[action.symbol] = after_qty
            rows.append({
                "account": account, "symbol": action.symbol, "kind": action.kind,
                "ex_date": action.ex_date, "ratio": action.ratio, "amount": action.amount,
                "qty_before": qty, "qty_after": after_qty, "cash": cash, "price": price,
                "applied_at": self.now(),
            })  # fmt: skip
            payload = {**rows[-1], "ex_date": action.ex_date.isoformat(), "what": action.describe(),
                       "orders": orders}  # fmt: skip
            payload.pop("applied_at")
            events.append(("paper.corporate_action", action.symbol, payload))
        for row in rows:  # one by one: each takes the next seq, in the actions' order
            insert_rows(con, "paper_adjustments", [row])
            kept.take_adjustment(row)
        append_events(con, self.actor, events)
        kept.touched = kept.touched or bool(rows)

    def _actions_between(self, con, kept: Kept, held, after: date, through: date, traded):
        """The actions of ``held`` symbols that went ex in (``after``, ``through``], among
        others of the ``traded`` ones, from memory when known: the write checks at its end
        that the store's stamp is still the one they were read under (``kept.actions_stamp``),
        instead of a read of the stamp or the actions every session."""
        if not held:
            return []
        stamp = self._actions_stamp
        if stamp is None:
            stamp = con.execute(STAMP_SQL).fetchall()[0][0]
        kept.actions_stamp = stamp
        return self._actions.between(con, stamp, {*held, *traded}, after, through)

    # -- the loop's one read -----------------------------------------------------------

    def snapshot(
        self, order_ids: list[str] | None = None, closed_since: datetime | None = None
    ) -> BrokerView:
        """As :meth:`Broker.snapshot`: from memory after one check of the store (the loop
        reads it every step), the store asked only for orders that closed before the broker
        last read the account."""
        named = set(order_ids or [])
        with self._read() as con:
            kept = self._current(con)
            missing = [i for i in named if i not in kept.open and i not in kept.closed]
            if missing or (closed_since is not None and closed_since < kept.horizon):
                # The orders asked for by id and those closed since, as the store has them.
                books.write_waiting_orders(con)
                rows = con.execute(
                    f"SELECT {memory.RESTING_COLUMNS} FROM paper_orders WHERE account = ?"
                    " AND status NOT IN (SELECT unnest(?)) AND (id IN (SELECT unnest(?))"
                    " OR updated_at > ?) ORDER BY seq",
                    [self.account_name, books.OPEN, sorted(missing), closed_since],
                ).fetchall()
                kept.learn_closed([memory.resting_from_row(row) for row in rows], closed_since)
            recent = [] if closed_since is None else kept.closed_since(closed_since)
            looked_up = {i: kept.find("id", i) for i in sorted(named)}
            looked_up = {i: o for i, o in looked_up.items() if o is not None}
            account, positions = self._account(kept)
            open_ = [r.order for r in kept.open.values()]
            if closed_since is not None:
                kept.forget_closed(closed_since)  # the loop has seen what closed by then
            self._kept = kept
        return BrokerView(
            account=account,
            positions={p.symbol: p for p in positions},
            open_orders=sorted(open_, key=_newest_first),
            looked_up=looked_up,
            recent_closed=[o for o in recent if o.id not in looked_up],
        )


class _Stale(Exception):
    """The account kept in memory (or the corporate actions) fell behind the store."""


def _tick(price: float) -> float:
    """The increment a re-based order's price goes on: a cent, 1/100 of a cent under $1."""
    return SUB_DOLLAR_TICK if price < 1 else US_EQUITY_TICK


def account_exists(store: Store, account: str) -> bool:
    """True when ``store`` has a paper account called ``account``."""
    with books.reading(store, books.store_lock(store.path)) as con:
        return books.has_account(con, account)


def _newest_first(order: Order):
    return -(order.submitted_at or datetime.min).timestamp()


def _session_payload(kind: str, payload: dict, account: str, day: date) -> dict:
    payload = {**payload, "account": account}
    if kind == "paper.order.filled":
        payload["bar_date"] = day.isoformat()
    return payload


# -- payloads --------------------------------------------------------------------------


def _request_payload(req: OrderRequest) -> dict[str, Any]:
    return {
        "client_order_id": req.client_order_id,
        "side": req.side.value,
        "qty": req.qty,
        "type": req.type.value,
        "time_in_force": req.time_in_force.value,
        "limit_price": req.limit_price,
        "take_profit_price": req.take_profit_price,
        "stop_price": req.stop_price,
    }


def _order_payload(order: Order, broker: PaperBroker) -> dict[str, Any]:
    return {
        "account": broker.account_name,
        "order_id": order.id,
        "client_order_id": order.client_order_id,
        "side": order.side.value,
        "qty": order.qty,
        "filled_qty": order.filled_qty,
    }


def _unknown_order(key: str, value: str) -> NotFoundError:
    what = "client order id" if key == "client_order_id" else "order id"
    return NotFoundError(
        f"the paper broker has no order with {what} {value!r}",
        hint="list orders with broker.orders('all')",
    )
