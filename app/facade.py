"""The one place the control room touches the store: page-sized reads and the few writes.

Each page asks one function here for what it shows (``overview``, ``book``,
``orders_and_fills``, ``risk``, ``performance``, ``price_bars``, ``strategies``,
``research_runs``, ``audit``, ``trading_status``); each opens the store once and runs a handful of short queries,
timed by ``benchmarks/control_room.py``. The books are read through the broker-neutral
queries of :mod:`engine.live.book_queries`, for one book at a time: the ``book`` asked for,
else the running loop's, else the one traded last (:func:`shown_book`). What the rows
mean is decided in :mod:`app.figures`. Writes are only trader commands (:func:`submit`), registry
transitions (:func:`act_on_config`) and, when no live loop is running, a flatten
straight through the broker (:func:`flatten_direct`, :func:`cancel_direct`); each names the person, and a
viewer is refused here as well as never shown the controls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from app.figures import (
    DENIAL_WINDOW,
    Alert,
    Book,
    LoopStatus,
    TradingStatus,
    alerts,
    config_label,
    limit_usage,
    mark_times,
    position_figures,
    slippage_bps,
    trading_status_from,
)
from engine.data.repository import last_stored, load_bars, stored_bar_sizes, stored_symbols
from engine.errors import InputError
from engine.live import approvals, book_queries, heartbeat
from engine.live.book_queries import PAGE_ROWS, BookInfo
from engine.live.book_trades import BookTrades, SymbolTrading, book_trades, symbol_trading
from engine.live.commands import (
    CancelOrder,
    FlattenAll,
    KillSwitch,
    PauseStrategy,
    ResumeStrategy,
    cancel_command,
    recent_commands,
    resolve_command,
    submit_command,
)
from engine.live.controls import controls_as_set
from engine.live.overrides import cancel_directly, flatten_directly
from engine.research.config_registry import approved_configs, get_config, list_configs
from engine.store.events import event_choices, read_events, utcnow
from engine.store.reading import Reader, on_one_connection

#: Bars of history behind VaR and correlations (about two trading years).
RISK_LOOKBACK_BARS = 504


# -- the loop, the trading state, the book --------------------------------------------------


@on_one_connection
def loop_status(store, now: datetime | None = None) -> LoopStatus:
    """The newest heartbeat judged: running, stale, stopped, gone or never seen."""
    return heartbeat.loop_status(store, now=now)


@on_one_connection
def trading_status(store) -> TradingStatus:
    """The trading state, kill switch, paused configs and risk limits in force (or why not)."""
    return trading_status_from(*controls_as_set(store))


@on_one_connection
def status(store) -> tuple[LoopStatus, TradingStatus]:
    """The loop's status and the trading state, for the strip at the top of every page."""
    return loop_status(store), trading_status(store)


@on_one_connection
def pending(store) -> pd.DataFrame:
    """Commands still waiting for the loop, oldest first (id, created_at, actor, kind, payload)."""
    return store.query(
        "SELECT id, created_at, actor, kind, payload FROM commands WHERE status = 'pending'"
        " ORDER BY id"
    )


@on_one_connection
def books(store) -> list[BookInfo]:
    """Every book in the data dir, the one traded last (wall clock) first."""
    return book_queries.known_books(store)


@on_one_connection
def shown_book(store, book: str | None = None, *, loop: LoopStatus | None = None) -> str | None:
    """The book a page shows: ``book`` if given, else the running loop's, else the one traded last."""
    return book_queries.book_to_show(store, book, loop=loop)


@on_one_connection
def equity_curve(store, book: str | None = None) -> pd.DataFrame:
    """The shown book's equity, cash and positions' value per bar, oldest first."""
    return book_queries.equity_curve(store, shown_book(store, book))


@on_one_connection
def book(store, book: str | None = None) -> Book:
    """The shown book's open positions with P&L and risk to stop, as last marked."""
    return _held(store, shown_book(store, book))


def _held(store, shown: str | None) -> Book:
    held = book_queries.held(store, shown)
    return Book(position_figures(held.positions, held.equity), held.equity, held.cash, held.as_of,
                held.source, held.book, held.marked, held.buying_power)  # fmt: skip


# -- pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    loop: LoopStatus
    trading: TradingStatus
    book: Book
    curve: pd.DataFrame
    todays_pnl: float | None
    todays_pnl_pct: float | None
    #: The bar "today's" P&L is for (the newest mark) and the one it is measured from.
    pnl_bar: str | None
    pnl_since: str | None
    commands: pd.DataFrame
    alerts: list[Alert]


@on_one_connection
def overview(store, now: datetime | None = None, book: str | None = None) -> Overview:
    """Everything the Overview page shows: loop, state, the shown book's curve, P&L, risk, alerts."""
    now = now or utcnow()
    loop = loop_status(store, now)
    shown = shown_book(store, book, loop=loop)
    trading, held, curve = trading_status(store), _held(store, shown), equity_curve(store, shown)
    pnl = pnl_pct = bar = since = None
    if len(curve) >= 2:
        pnl = float(curve["equity"].iloc[-1] - curve["equity"].iloc[-2])
        pnl_pct = pnl / float(curve["equity"].iloc[-2])
        bar, since = (str(pd.Timestamp(d).date()) for d in curve["bar_date"].iloc[[-1, -2]])
    commands = recent_commands(store, limit=20)
    denials = book_queries.denied(store, shown, since=now - DENIAL_WINDOW, limit=100)
    return Overview(loop, trading, held, curve, pnl, pnl_pct, bar, since, commands,
                    alerts(loop, trading, held, curve, commands, now, denials))  # fmt: skip


@dataclass(frozen=True)
class OrdersAndFills:
    orders: pd.DataFrame
    fills: pd.DataFrame
    #: The book trades intraday bars: ``decision_bar`` and the fills' ``bar_date`` are its
    #: bars' New York times to the minute (text), not session dates.
    intraday: bool = False


@on_one_connection
def orders_and_fills(store, *, book: str | None = None, symbols: list[str] | None = None,
                     side: str | None = None, status: str | None = None, since: date | None = None,
                     limit: int = PAGE_ROWS) -> OrdersAndFills:  # fmt: skip
    """The shown book's newest orders (those the risk gate denied among them) and fills,
    filtered; each fill with its slippage.

    Slippage is against the decision price (the traded close the live loop sized the order
    at, else the stored close as traded of the bar the order was decided on), in basis points, positive
    when it cost money (a buy above it, a sell below it), so it includes the gap to the
    next open. Orders carry the loop's purpose, config and reason where the loop sent them.
    """
    shown = shown_book(store, book)
    orders = pd.DataFrame(columns=book_queries.ORDER_COLUMNS)
    if status != "denied":
        orders = book_queries.orders(store, shown, symbols=symbols, side=side, status=status,
                                     since=since, limit=limit)  # fmt: skip
    if status in (None, "denied"):  # the gate's refusals are orders too, with their reasons
        refused = book_queries.denied(store, shown, symbols=symbols, side=side, since=since, limit=limit)
        if len(refused):
            orders = refused if orders.empty else pd.concat([orders, refused], ignore_index=True)
            orders = orders.sort_values("submitted_at", ascending=False).head(limit).reset_index(drop=True)
    fills = book_queries.fills(store, shown, symbols=symbols, side=side, since=since, limit=limit)
    fills["slippage_bps"] = slippage_bps(fills["side"], fills["price"], fills["decision_price"])
    fills["notional"] = fills["qty"] * fills["price"]
    intraday = book_queries.bar_size(store, shown) != "1d"
    if intraday:  # several bars a session: the bar's time, not only its date
        orders["decision_bar"] = book_queries.decision_bars(orders["client_order_id"],
                                                            orders["decision_bar"])  # fmt: skip
        fills["decision_bar"] = book_queries.decision_bars(fills["client_order_id"],
                                                           fills["decision_bar"])  # fmt: skip
        fills["bar_date"] = book_queries.bar_times(fills["filled_at"], intraday=True)
    return OrdersAndFills(orders, fills, intraday)


@on_one_connection
def traded_symbols(store, book: str | None = None) -> list[str]:
    """Symbols the shown book has ever had an order in, for the filter menu."""
    return book_queries.traded_symbols(store, shown_book(store, book))


@dataclass(frozen=True)
class RiskPicture:
    trading: TradingStatus
    book: Book
    usage: pd.DataFrame  # limit, in_force, in_use, used (fraction of the limit), note
    var: pd.DataFrame  # method, confidence, var, cvar, var_pct, bars: one-day losses
    correlation: pd.DataFrame
    drawdown: pd.Series  # fall from the peak per bar, a positive fraction
    day_trades: int
    notes: list[str] = field(default_factory=list)


def risk(store, book: str | None = None) -> RiskPicture:
    """Limits against their use, VaR and CVaR of the shown book, correlations and drawdowns.

    Reads on one connection, then computes with it closed. Without valid stored limits
    there is nothing to measure their use against: ``usage`` is empty and ``trading``
    says why.
    """
    from engine.risk import analytics

    trading, held, curve, day_trades, returns = _risk_rows(store, book)
    equity, notes = held.equity or 0.0, []
    daily = weekly = 0.0
    drawdown = pd.Series(dtype=float)
    if len(curve):
        marks = pd.Series(curve["equity"].to_numpy(), index=mark_times(curve["bar_date"]))
        report = analytics.drawdown_report(marks, marks.index[-1].to_pydatetime())
        daily, weekly = report.daily, report.weekly
        drawdown = pd.Series(
            analytics.drawdown_curve(marks).to_numpy(), index=pd.to_datetime(curve["bar_date"])
        )
    usage = pd.DataFrame(columns=["limit", "in_force", "in_use", "state", "used", "note"])
    if trading.limits is not None:
        usage = limit_usage(
            trading.limits, held.positions, equity, held.cash, daily, weekly, day_trades
        )
    var_rows = []
    if not len(held.positions):
        notes.append("The book is flat: no value at risk.")
    elif not returns.empty:
        holdings = dict(zip(held.positions["symbol"], held.positions["market_value"], strict=True))
        for method in ("historical", "parametric"):
            for confidence in (0.95, 0.99):
                try:
                    est = analytics.portfolio_var(holdings, returns, confidence, 1, method)
                except InputError as exc:
                    notes.append(f"{method} VaR: {exc.message}")
                    continue
                var_rows.append({"method": method, "confidence": confidence, "var": est.var, "cvar": est.cvar,
                                 "var_pct": est.var / equity if equity else float("nan"),
                                 "bars": est.observations})  # fmt: skip
    correlation = analytics.correlation_matrix(returns) if returns.shape[1] >= 2 else pd.DataFrame()
    return RiskPicture(
        trading, held, usage, pd.DataFrame(var_rows), correlation, drawdown, day_trades, notes
    )


@on_one_connection
def stress(store, book: str | None = None):
    """The shown book under the stress shocks, or why there is none.

    A :class:`engine.risk.stress.StressReport`, or a sentence when it cannot be stressed
    (no loop has marked the book, or the stored limits are invalid).
    """
    from engine.live.book_stress import stress_book

    try:
        return stress_book(store, shown_book(store, book))
    except InputError as exc:
        return exc.message


@on_one_connection
def _risk_rows(store, book: str | None):
    shown = shown_book(store, book)
    trading, held, curve = trading_status(store), _held(store, shown), equity_curve(store, shown)
    day_trades = book_queries.day_trades(store, shown, held.as_of)
    symbols = held.positions["symbol"].tolist() or _approved_universe(store)
    return trading, held, curve, day_trades, _returns(store, symbols, held.as_of)


def _returns(store, symbols: list[str], as_of: date | None) -> pd.DataFrame:
    """Daily returns of the symbols' adjusted closes over the risk lookback, up to ``as_of``."""
    stored = set(stored_symbols(store)) if symbols else set()
    wanted = [s for s in symbols if s in stored]
    if not wanted:
        return pd.DataFrame()
    end = as_of or store.scalar("SELECT max(date) FROM bars")
    start = pd.Timestamp(end) - pd.Timedelta(days=int(RISK_LOOKBACK_BARS * 1.5))
    close = load_bars(store, wanted, start=start, end=end).close
    return close.pct_change(fill_method=None).iloc[1:].tail(RISK_LOOKBACK_BARS)


def _approved_universe(store) -> list[str]:
    return sorted({symbol for config in approved_configs(store) for symbol in config.universe})


@on_one_connection
def book_marker(store, book: str | None = None) -> tuple[str, ...]:
    """A cheap fingerprint of the shown book: it changes whenever its marks, its fills or the
    trading state do (the Risk page recomputes only then)."""
    _, changed_at, _ = controls_as_set(store)
    return (*book_queries.marker(store, shown_book(store, book)), str(changed_at))


@on_one_connection
def config_names(store) -> dict[str, str]:
    """Each config's label as every page shows it: its strategy's name and a short id."""
    rows = store.query("SELECT config_id, strategy FROM configs")
    return {r.config_id: config_label(r.strategy, r.config_id) for r in rows.itertuples()}


@on_one_connection
def strategies(store) -> list:
    """Every config in the registry with its evidence, most recently changed first."""
    return list_configs(store)


def code_drift(config):
    """How the code that would trade ``config`` differs from what validated it (None: it does not)."""
    from engine.research.provenance import code_drift as drift

    return drift(config) if config.evidence is not None else None


@on_one_connection
def config_events(store, config_id: str, limit: int = 50) -> pd.DataFrame:
    """The lifecycle history of one config: who moved it where, and why."""
    found = read_events(store, kinds=["config."], subject=config_id, limit=limit)
    return found[["ts", "actor", "kind", "payload"]]


@dataclass(frozen=True)
class BacktestView:
    equity: pd.Series
    metrics: dict
    trades: pd.DataFrame
    #: What its annualised figures are annualised by.
    annualisation: str = ""


def config_backtest(store, config_id: str) -> BacktestView | str:
    """The config's backtest on the stored bars of its evidence window, or why it cannot run."""
    from engine.backtest import run_backtest

    with store.connect() as con:  # closed before the backtest runs: it takes seconds
        reader = Reader(store, con)
        config = get_config(reader, config_id).config
        evidence = config.evidence
        try:
            bars = load_bars(reader, config.universe, evidence.data_start if evidence else None,
                             evidence.data_end if evidence else None, bar_size=config.bar_size)  # fmt: skip
        except InputError as exc:
            return f"Cannot backtest {config_id}: {exc}"
    try:
        result = run_backtest(bars, config.strategy, config.params, config.settings)
    except InputError as exc:
        return f"Cannot backtest {config_id}: {exc}"
    return BacktestView(result.equity, dict(result.metrics), result.trades,
                        result.annualisation.describe())  # fmt: skip


@on_one_connection
def research_runs(store, limit: int = 100) -> list:
    """The newest research runs with status, parameters and the configs they proposed."""
    from engine.research.runs import list_runs

    return list_runs(store, limit=limit)


@dataclass(frozen=True)
class AuditFilter:
    kind: str | None = None  # a prefix: 'command.' or 'config.approved'
    actor: str | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None  # paging: only events older than this id
    limit: int = PAGE_ROWS


@on_one_connection
def audit(store, wanted: AuditFilter = AuditFilter()) -> pd.DataFrame:
    """Events newest first, filtered by kind prefix, actor, subject and time, a page at a time."""
    return read_events(
        store, kinds=[wanted.kind] if wanted.kind else None, actor=wanted.actor,
        subject=wanted.subject, since=wanted.since, until=wanted.until, before=wanted.before_id,
        limit=wanted.limit,
    )  # fmt: skip


@on_one_connection
def audit_choices(store) -> tuple[list[str], list[str]]:
    """(event kinds, actors) present in the audit trail, for the filter menus."""
    return event_choices(store)


@on_one_connection
def universe(store) -> list[str]:
    """Symbols a manual order may name: approved configs' universes and symbols with stored bars."""
    return sorted(set(stored_symbols(store)) | set(_approved_universe(store)))


@on_one_connection
def last_price(store, symbol: str) -> tuple[float, date] | None:
    """The newest price of ``symbol`` and its date: a loop's mark, else the last stored close."""
    stored = store.query(
        "SELECT close, date FROM bars WHERE symbol = ? ORDER BY date DESC LIMIT 1", [symbol]
    )
    candidates = [book_queries.newest_mark(store, symbol)]
    if not stored.empty:
        candidates.append((float(stored.iat[0, 0]), pd.Timestamp(stored.iat[0, 1]).date()))
    found = [c for c in candidates if c is not None]
    return max(found, key=lambda price_day: price_day[1]) if found else None


@on_one_connection
def command_status(store, command_ids: list[int]) -> pd.DataFrame:
    """The commands with these ids and where they stand (pending, applied, denied)."""
    return store.query(
        "SELECT id, created_at, actor, kind, payload, status, decided_at, decided_by, result"
        " FROM commands WHERE id IN (SELECT unnest(?)) ORDER BY id DESC",
        [[int(i) for i in command_ids]],
    )


# -- writes ----------------------------------------------------------------------------------


def _require_trader(visitor) -> str:
    if not getattr(visitor, "can_trade", False):
        raise InputError(
            f"{getattr(visitor, 'name', 'this user')} is a viewer and cannot change anything",
            hint="log in as a trader to override",
        )
    return visitor.name


def submit(store, command, visitor) -> int:
    """Queue ``command`` for the live loop in the trader's name; returns the command id.

    The same command already pending is refused (:class:`DuplicateCommand`), never queued twice.
    """
    return submit_command(store, command, actor=_require_trader(visitor), once=True)


def waiting_proposals(store, book: str | None) -> list[approvals.Proposal]:
    """The entries of ``book`` (None: the one shown) waiting for a trader's approval, newest first."""
    shown = book_queries.book_to_show(store, book)
    return approvals.listed(store, shown, waiting_only=True) if shown else []


def answer_proposal(store, proposal_id: int, visitor, *, approve: bool, reason: str = "") -> int:
    """Queue the trader's approval or rejection of a proposed entry; gives the command id.

    Refused at once (InputError) when the proposal is no longer waiting or already answered.
    """
    actor = _require_trader(visitor)
    return approvals.ask(store, proposal_id, actor, approve=approve, reason=reason)


def cancel(store, command_id: int, visitor) -> bool:
    """Withdraw a pending command in the trader's name; False when the loop already decided it."""
    return cancel_command(store, command_id, _require_trader(visitor))


def act_on_config(
    store, config_id: str, action: str, visitor, reason: str
) -> tuple[Any, int | None]:
    """(record, command id) after a trader approves, pauses, resumes or retires a config.

    Pause and resume also go to the running loop as commands, so that it stops (or
    restarts) new entries at its next step rather than at its next registry read.
    """
    from engine.research.config_registry import act

    actor = _require_trader(visitor)
    record = act(store, config_id, action, actor, reason)
    command = {"pause": PauseStrategy, "resume": ResumeStrategy}.get(action)
    command_id = (
        submit_command(store, command(config_id=record.config_id), actor) if command else None
    )
    return record, command_id


@dataclass(frozen=True)
class DirectFlatten:
    command_id: int
    orders: list[str]  # what was sent, one line each
    canceled: int
    problems: list[str]
    #: Positions the broker still holds after the flatten (an order not filled yet, or refused).
    still_open: list[str] = field(default_factory=list)

    def report(self, broker: str) -> str:
        """What the broker did, in one paragraph: sent, canceled, refused, and what stays open."""
        lines = "; ".join(self.orders) or "no positions were open"
        text = (f"Flattened directly through {broker} (command #{self.command_id}): {lines}; "
                f"{self.canceled} open orders canceled.")  # fmt: skip
        if self.problems:
            text += f" Problems: {'; '.join(self.problems)}."
        if self.still_open:
            text += (f" STILL OPEN at the broker: {', '.join(self.still_open)} (the closing orders "
                     "have not filled yet, or were refused): check Orders.")  # fmt: skip
        else:
            text += " The broker holds no positions now."
        return text


def flatten_direct(store, visitor, broker, *, kill_switch: bool = True) -> DirectFlatten:
    """Flatten through ``broker`` now, because no live loop is running to apply a command.

    Recorded as a FlattenAll command resolved ``direct``, so the audit trail reads as when
    a loop applies it; with ``kill_switch`` a kill switch is queued too, so that a loop
    started later does not buy the book straight back. The orders are the flatten
    command's own (:func:`engine.live.overrides.flatten_directly`): client order ids
    derived from the command, so a retried request sends nothing twice.
    """
    actor = _require_trader(visitor)
    if kill_switch:
        submit_command(store, KillSwitch(on=True), actor)
    command_id = submit_command(store, FlattenAll(), actor)
    try:
        routed = flatten_directly(store, broker, command_id, actor)
    except Exception as exc:  # the broker failed: record it on the command, then tell the trader
        resolve_command(store, command_id, applied=False, by="direct",
                        result=f"direct flatten failed: {exc}")  # fmt: skip
        raise
    sent = [
        f"{o.side} {o.qty:g} {o.symbol} at market ({routed.answers[o.client_order_id].status})"
        for o in routed.sent
        if o.client_order_id in routed.answers
    ]
    left = [f"{p.qty:g} {p.symbol}" for p in broker.positions() if p.qty]
    return DirectFlatten(command_id, sent, routed.canceled, routed.refusals, left)


# -- drift -----------------------------------------------------------------------------------


def traded_configs(store) -> pd.DataFrame:
    """Every config a live loop has traded, with the book and its first and last bar."""
    return book_queries.traded_configs(store)


def drift(store, config_id: str, book: str | None = None):
    """The config's live trading in ``book`` explained against its backtest (re-run now)."""
    from engine.live.drift import drift_report

    return drift_report(store, config_id, book)


# -- performance: closed trades, periods, a symbol's chart -----------------------------------


@dataclass(frozen=True)
class Performance:
    book: str | None
    curve: pd.DataFrame  # the shown book's equity marks (bar_date, equity, ...), oldest first
    trades: BookTrades  # its round trips, FIFO, at traded prices, with their strategy's name
    symbols: list[str]  # symbols it has traded, for the price chart


@on_one_connection
def performance(store, book: str | None = None) -> Performance:
    """The shown book's equity marks and round trips, for the Performance page."""
    shown = shown_book(store, book)
    return Performance(
        shown, book_queries.equity_curve(store, shown), book_trades(store, shown),
        book_queries.traded_symbols(store, shown),
    )  # fmt: skip


@dataclass(frozen=True)
class PriceBars:
    symbol: str
    bar_size: str
    bars: pd.DataFrame  # open, high, low, close by bar (as traded, never adjusted)
    trading: SymbolTrading  # the shown book's fills and marked stops in the symbol


@on_one_connection
def bar_sizes(store, symbol: str, book: str | None = None) -> list[str]:
    """The bar sizes stored for ``symbol``: the shown book's own first (the bars it traded
    on), then daily, then the rest."""
    stored = stored_bar_sizes(store, symbol)
    own = book_queries.bar_size(store, shown_book(store, book))
    return sorted(stored, key=lambda size: size != own)


@on_one_connection
def symbol_trading_of(store, symbol: str, book: str | None = None) -> SymbolTrading:
    """The shown book's fills and marked stops in ``symbol``."""
    return symbol_trading(store, shown_book(store, book), symbol)


@on_one_connection
def price_bars(store, symbol: str, start: date, end: date, *, bar_size: str = "1d",
               book: str | None = None) -> PriceBars:  # fmt: skip
    """``symbol``'s stored bars from ``start`` to ``end`` as traded, with the book's trading in it.

    Raises NotFoundError (with what to ingest) when no such bars are stored.
    """
    loaded = load_bars(store, [symbol], start, end, adjust=False, bar_size=bar_size)
    frame = pd.DataFrame(
        {field: getattr(loaded, field)[symbol] for field in ("open", "high", "low", "close")}
    ).dropna()
    return PriceBars(symbol, bar_size, frame, symbol_trading_of(store, symbol, book))


@dataclass(frozen=True)
class DirectCancel:
    command_id: int
    applied: bool
    result: str


def cancel_direct(store, visitor, broker, order_id: str, symbol: str) -> DirectCancel:
    """Cancel an order through ``broker`` now, because no live loop is running to apply it.

    Recorded as a CancelOrder command resolved ``direct`` with the broker's answer, as
    when a loop applies it (:func:`engine.live.overrides.cancel_directly`).
    """
    command = CancelOrder(order_id=order_id, symbol=symbol)
    command_id = submit_command(store, command, _require_trader(visitor))
    try:
        done = cancel_directly(store, broker, command_id, visitor.name, command)
    except Exception as exc:  # the broker failed: record it on the command, then tell the trader
        resolve_command(store, command_id, applied=False, by="direct",
                        result=f"direct cancel failed: {exc}")  # fmt: skip
        raise
    return DirectCancel(command_id, done.applied, done.result)


@on_one_connection
def newest_bar(store, symbol: str, bar_size: str = "1d") -> pd.Timestamp | None:
    """The newest stored bar of ``symbol`` at ``bar_size`` (None: none stored)."""
    return last_stored(store, [symbol], bar_size).get(symbol)
