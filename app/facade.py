"""The one place the control room touches the store: page-sized reads and the few writes.

Each page asks one function here for what it shows (``overview``, ``book``,
``orders_and_fills``, ``risk``, ``strategies``, ``research_runs``, ``audit``,
``trading_status``); each opens the store once and runs a handful of short queries,
timed by ``benchmarks/control_room.py``. What the rows mean is decided in
:mod:`app.figures`. Writes are only trader commands (:func:`submit`), registry
transitions (:func:`act_on_config`) and, when no live loop is running, a flatten
straight through the broker (:func:`flatten_direct`); each names the person, and a
viewer is refused here as well as never shown the controls.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from app.figures import (
    NO_LOOP,
    Alert,
    Book,
    LoopStatus,
    TradingStatus,
    alerts,
    day_trade_count,
    judge_heartbeat,
    limit_usage,
    mark_times,
    position_figures,
    slippage_bps,
    trading_status_from,
)
from engine.errors import InputError
from engine.live.commands import (
    FlattenAll,
    KillSwitch,
    PauseStrategy,
    ResumeStrategy,
    recent_commands,
    resolve_command,
    submit_command,
)
from engine.live.overrides import flatten_directly
from engine.store.events import utcnow

#: A heartbeat older than this (seconds) means the loop is not running: it beats every step.
HEARTBEAT_STALE_S = float(os.environ.get("WB_HEARTBEAT_STALE_S", "120"))
#: Bars of history behind VaR and correlations (about two trading years).
RISK_LOOKBACK_BARS = 504
PAGE_ROWS = 500
OPEN_ORDER_STATUSES = ("new", "accepted", "partially_filled", "pending_cancel")


# -- reading -------------------------------------------------------------------------------


class _Reader:
    """The store seen through one open connection, so that a page's reads open the file once.

    Opening DuckDB costs tens of milliseconds and a query a few, so a page that asked the
    store ten times would spend most of its time opening it. Engine functions that read
    through ``store.query`` accept this in place of the store.
    """

    def __init__(self, store, con):
        self.con, self.path, self.data_dir = con, store.path, store.data_dir

    def query(self, sql: str, params: Any = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    def scalar(self, sql: str, params: Any = None) -> Any:
        frame = self.query(sql, params)
        return None if frame.empty else frame.iat[0, 0]


def _one_connection(read):
    """Run ``read(store, ...)`` on one connection held for its duration; nested reads share it."""

    @functools.wraps(read)
    def wrapper(store, *args, **kwargs):
        if isinstance(store, _Reader):
            return read(store, *args, **kwargs)
        with store.connect() as con:
            return read(_Reader(store, con), *args, **kwargs)

    return wrapper


def _newest(store, sql: str, params: list, *, table: str, key: str, limit: int,
            below: int | None = None) -> pd.DataFrame:  # fmt: skip
    """The newest ``limit`` rows of ``sql`` by ``key``, reading only the newest part of ``table``.

    ``key`` grows with every insert (a sequence) and DuckDB skips the row groups a bound
    on it rules out, so this asks for rows above ``newest - limit`` first and widens the
    window until enough rows match or the table is covered: a page of 500 fills among
    100,000 reads a few row groups. ``sql`` has ``{newest}`` where the bound
    goes; ``below`` keeps only keys under it (paging back).
    """
    bounds = store.query(f"SELECT min({key}) AS low, max({key}) AS high FROM {table}").iloc[0]
    if pd.isna(bounds["high"]):
        return store.query(sql.format(newest="TRUE"), params)
    low, high = int(bounds["low"]), int(bounds["high"])
    if below is not None:
        high = min(high, int(below) - 1)
    window = max(int(limit), 1)
    while True:
        floor = high - window
        rows = store.query(sql.format(newest=f"{key} > {floor} AND {key} <= {high}"), params)
        if len(rows) >= limit or floor < low:
            return rows
        # Grow by what the filter let through so far, so a selective filter needs two or three tries.
        window *= min(64, max(2, math.ceil(1.5 * limit / max(len(rows), 1))))


# -- the loop, the trading state, the book --------------------------------------------------


@_one_connection
def loop_status(store, now: datetime | None = None) -> LoopStatus:
    """The newest heartbeat judged: running, stale, stopped, or never seen."""
    rows = store.query("SELECT * FROM heartbeats ORDER BY beat_at DESC LIMIT 1")
    if rows.empty:
        return NO_LOOP
    beat = _plain(rows.iloc[0].to_dict())
    beat["configs"] = json.loads(beat["configs"] or "[]")
    beat["bar_date"] = _date(beat["bar_date"])
    alive = _process_alive(int(beat["pid"]), beat["started_at"])
    return judge_heartbeat(beat, now or utcnow(), stale_after_s=HEARTBEAT_STALE_S, alive=alive)


@_one_connection
def trading_status(store) -> TradingStatus:
    """The trading state, kill switch, paused configs and risk limits in force."""
    rows = store.query(
        "SELECT key, value, updated_at, updated_by FROM trading_state ORDER BY updated_at"
    )
    values = {r.key: json.loads(r.value) for r in rows.itertuples()}
    newest = _plain(rows.iloc[-1].to_dict()) if len(rows) else {}
    return trading_status_from(values, newest.get("updated_at"), newest.get("updated_by"))


@_one_connection
def status(store) -> tuple[LoopStatus, TradingStatus]:
    """The loop's status and the trading state, for the strip at the top of every page."""
    return loop_status(store), trading_status(store)


@_one_connection
def equity_curve(store) -> pd.DataFrame:
    """Equity, cash and positions' value per bar (the last mark of each), oldest first.

    Marks of every loop that traded the newest loop's book (its mode, for loops that
    name no book) are joined, so a restarted loop continues its curve; a later mark of
    the same bar wins.
    """
    return store.query(
        "SELECT s.bar_date, arg_max(s.equity, s.ts) AS equity, arg_max(s.cash, s.ts) AS cash,"
        " arg_max(s.positions_value, s.ts) AS positions_value, max(s.ts) AS ts"
        " FROM equity_snapshots s JOIN heartbeats h USING (loop_id)"
        " WHERE coalesce(h.book, h.mode) = (SELECT coalesce(h2.book, h2.mode) FROM equity_snapshots s2"
        "       JOIN heartbeats h2 USING (loop_id) ORDER BY s2.ts DESC LIMIT 1)"
        " GROUP BY s.bar_date ORDER BY s.bar_date"
    )


@_one_connection
def book(store) -> Book:
    """The open positions the live loop last marked; the paper broker's, when no loop ever did."""
    mark = store.query(
        "SELECT loop_id, bar_date, equity, cash FROM equity_snapshots ORDER BY ts DESC LIMIT 1"
    )
    if mark.empty:
        return _paper_book(store)
    mark = _plain(mark.iloc[0].to_dict())
    held = store.query(
        "SELECT symbol, qty, avg_price, price, stop_price, config_id FROM position_snapshots"
        " WHERE loop_id = ? AND bar_date = ? AND qty <> 0 ORDER BY symbol",
        [mark["loop_id"], mark["bar_date"]],
    )
    as_of = _date(mark["bar_date"])
    return Book(position_figures(held, mark["equity"]), mark["equity"], mark["cash"], as_of,
                f"as the live loop {mark['loop_id']} marked them on {as_of}")  # fmt: skip


def _paper_book(store) -> Book:
    from engine.brokers.paper_rules import positions_from_fills

    account = store.query(
        "SELECT account, starting_cash, last_bar_date FROM paper_accounts ORDER BY created_at LIMIT 1"
    )
    if account.empty:
        return Book(position_figures(pd.DataFrame(columns=["symbol", "qty", "avg_price", "price", "stop_price",
                                                           "config_id"]), None),
                    None, None, None, "no live loop has marked a book, and no paper account exists")  # fmt: skip
    account = _plain(account.iloc[0].to_dict())
    fills = store.query(
        "SELECT symbol, CASE WHEN side = 'buy' THEN qty ELSE -qty END AS signed, price, fee"
        " FROM paper_fills WHERE account = ? ORDER BY seq",
        [account["account"]],
    )
    held = positions_from_fills(
        fills[["symbol", "signed", "price"]].itertuples(index=False, name=None)
    )
    marks = dict(store.query("SELECT symbol, price FROM paper_marks WHERE account = ?",
                             [account["account"]]).itertuples(index=False, name=None))  # fmt: skip
    frame = pd.DataFrame(
        [(s, q, a, marks.get(s, a), float("nan"), None) for s, (q, a) in sorted(held.items())],
        columns=["symbol", "qty", "avg_price", "price", "stop_price", "config_id"],
    )
    cash = account["starting_cash"] - float(
        (fills["signed"] * fills["price"]).sum() + fills["fee"].sum()
    )
    equity = cash + float((frame["qty"] * frame["price"]).sum())
    source = (f"from the paper account {account['account']!r} (no live loop has marked a book, "
              "so stops are unknown)")  # fmt: skip
    return Book(
        position_figures(frame, equity), equity, cash, _date(account["last_bar_date"]), source
    )


# -- pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    loop: LoopStatus
    trading: TradingStatus
    book: Book
    curve: pd.DataFrame
    todays_pnl: float | None
    todays_pnl_pct: float | None
    commands: pd.DataFrame
    alerts: list[Alert]


@_one_connection
def overview(store, now: datetime | None = None) -> Overview:
    """Everything the Overview page shows: loop, state, equity curve, P&L, risk, alerts."""
    now = now or utcnow()
    loop, trading, held, curve = (
        loop_status(store, now),
        trading_status(store),
        book(store),
        equity_curve(store),
    )
    pnl = pnl_pct = None
    if len(curve) >= 2:
        pnl = float(curve["equity"].iloc[-1] - curve["equity"].iloc[-2])
        pnl_pct = pnl / float(curve["equity"].iloc[-2])
    commands = recent_commands(store, limit=20)
    return Overview(loop, trading, held, curve, pnl, pnl_pct, commands,
                    alerts(loop, trading, held, curve, commands, now))  # fmt: skip


@dataclass(frozen=True)
class OrdersAndFills:
    orders: pd.DataFrame
    fills: pd.DataFrame


@_one_connection
def orders_and_fills(store, *, symbols: list[str] | None = None, side: str | None = None,
                     status: str | None = None, since: date | None = None,
                     limit: int = PAGE_ROWS) -> OrdersAndFills:  # fmt: skip
    """The newest orders and fills, filtered; each fill with its slippage vs the decision price.

    The decision price is the close the live loop sized the order at (its ``live_orders``
    record), else the stored close of the bar the order was decided on (the newest bar
    when it was submitted); slippage is in basis points, positive when it cost money (a
    buy above it, a sell below it), so it includes the gap to the next open. Orders carry
    the loop's purpose, config and reason where the loop sent them.
    """
    where, params = [], []
    if symbols:
        where.append("symbol IN (SELECT unnest(?))")
        params.append(list(symbols))
    if side:
        where.append("side = ?")
        params.append(side)
    order_where, order_params = list(where), list(params)
    if status == "open":
        order_where.append(f"status IN {OPEN_ORDER_STATUSES}")
    elif status:
        order_where.append("status = ?")
        order_params.append(status)
    if since:
        order_where.append("submitted_at >= ?")
        order_params.append(since)
    if not store.scalar("SELECT count(*) FROM paper_orders") and store.scalar(
        "SELECT count(*) FROM live_orders"
    ):
        return _loop_orders(store, where, params, status, since, limit)  # a remote broker's book
    orders = _newest(
        store,
        "WITH o AS (SELECT * FROM paper_orders WHERE " + " AND ".join(["{newest}", *order_where])
        + f" ORDER BY seq DESC LIMIT {int(limit)})"
        " SELECT o.submitted_at, o.after_bar AS decision_bar, o.symbol, o.side, o.qty, o.type,"
        " o.limit_price, o.stop_price, o.time_in_force, o.status, o.filled_qty, o.filled_avg_price,"
        " lo.purpose, lo.config_id, lo.reason, o.client_order_id, o.updated_at, o.id FROM o"
        f" {_LOOP_ORDER} ORDER BY o.seq DESC",
        order_params, table="paper_orders", key="seq", limit=limit,
    )  # fmt: skip
    if since:
        where.append("bar_date >= ?")
        params.append(since)
    fills = _newest(
        store,
        "WITH f AS (SELECT * FROM paper_fills WHERE " + " AND ".join(["{newest}", *where])
        + f" ORDER BY seq DESC LIMIT {int(limit)})"
        " SELECT f.filled_at, f.bar_date, f.symbol, f.side, f.qty, f.price, f.fee, o.type, lo.purpose,"
        " coalesce(lo.decision_bar, o.after_bar) AS decision_bar,"
        " coalesce(lo.decision_price, b.close) AS decision_price, lo.config_id, f.client_order_id,"
        " f.order_id FROM f JOIN paper_orders o ON o.id = f.order_id"
        f" {_LOOP_ORDER} LEFT JOIN bars b ON b.symbol = f.symbol AND b.date = o.after_bar"
        " ORDER BY f.seq DESC",
        params, table="paper_fills", key="seq", limit=limit,
    )  # fmt: skip
    fills["slippage_bps"] = slippage_bps(fills["side"], fills["price"], fills["decision_price"])
    fills["notional"] = fills["qty"] * fills["price"]
    return OrdersAndFills(orders, fills)


#: The loop's record of a paper order: why it was sent, for which config, at what decision price.
_LOOP_ORDER = ("LEFT JOIN live_orders lo ON lo.client_order_id = o.client_order_id"
               " AND lo.book = 'paper:' || o.account")  # fmt: skip


def _loop_orders(store, where, params, status, since, limit) -> OrdersAndFills:
    """Orders and fills as the live loop recorded them: the book of a broker not in the store.

    The loop keeps one row per order, so each filled order is one fill at its average price.
    """
    if status:
        where, params = [*where, "status = ?"], [*params, status]
    if since:
        where, params = [*where, "created_at >= ?"], [*params, since]
    orders = store.query(
        "SELECT created_at AS submitted_at, decision_bar, symbol, side, qty, type, limit_price,"
        " stop_price, status, filled_qty, filled_avg_price, purpose, config_id, reason,"
        " client_order_id, updated_at, broker_order_id AS id, decision_price, fees, filled_at"
        " FROM live_orders" + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY created_at DESC LIMIT {int(limit)}",
        params,
    )  # fmt: skip
    filled = orders[orders["filled_qty"] > 0]
    fills = pd.DataFrame({
        "filled_at": filled["filled_at"], "symbol": filled["symbol"], "side": filled["side"],
        "qty": filled["filled_qty"], "price": filled["filled_avg_price"], "fee": filled["fees"],
        "type": filled["type"], "purpose": filled["purpose"], "decision_bar": filled["decision_bar"],
        "decision_price": filled["decision_price"], "config_id": filled["config_id"],
        "client_order_id": filled["client_order_id"],
    })  # fmt: skip
    fills["slippage_bps"] = slippage_bps(fills["side"], fills["price"], fills["decision_price"])
    fills["notional"] = fills["qty"] * fills["price"]
    return OrdersAndFills(orders.drop(columns=["decision_price", "fees", "filled_at"]), fills)


@_one_connection
def traded_symbols(store) -> list[str]:
    """Symbols that have ever had an order, for the filter menu."""
    rows = store.query(
        "SELECT symbol FROM paper_orders UNION SELECT symbol FROM live_orders ORDER BY symbol"
    )
    return rows["symbol"].tolist()


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


def risk(store) -> RiskPicture:
    """Limits against their use, VaR and CVaR of the book, correlations and drawdowns.

    Reads on one connection, then computes with it closed.
    """
    from engine.risk import analytics

    trading, held, curve, day_trades, returns = _risk_rows(store)
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


@_one_connection
def stress(store, book: str | None = None):
    """The book (default: the newest marked) under the stress shocks, or why there is none.

    A :class:`engine.risk.stress.StressReport`, or a sentence when no loop has marked a book.
    """
    from engine.errors import NotFoundError
    from engine.live.book_stress import stress_book

    try:
        return stress_book(store, book)
    except NotFoundError as exc:
        return exc.message


@_one_connection
def _risk_rows(store):
    from engine.data import calendar

    trading, held, curve = trading_status(store), book(store), equity_curve(store)
    day_trades = 0
    if held.as_of is not None:
        window = calendar.sessions(pd.Timestamp(held.as_of) - pd.Timedelta(days=14), held.as_of)[
            -5:
        ]
        fills = store.query("SELECT bar_date, symbol, side FROM paper_fills WHERE bar_date >= ? AND bar_date <= ?",
                            [window[0].date(), held.as_of]) if len(window) else pd.DataFrame()  # fmt: skip
        day_trades = day_trade_count(fills)
    symbols = held.positions["symbol"].tolist() or _approved_universe(store)
    return trading, held, curve, day_trades, _returns(store, symbols, held.as_of)


def _returns(store, symbols: list[str], as_of: date | None) -> pd.DataFrame:
    """Daily returns of the symbols' adjusted closes over the risk lookback, up to ``as_of``."""
    from engine.data.repository import load_bars

    stored = set(store.query("SELECT DISTINCT symbol FROM bars WHERE symbol IN (SELECT unnest(?))",
                             [symbols])["symbol"]) if symbols else set()  # fmt: skip
    wanted = [s for s in symbols if s in stored]
    if not wanted:
        return pd.DataFrame()
    end = as_of or store.scalar("SELECT max(date) FROM bars")
    start = pd.Timestamp(end) - pd.Timedelta(days=int(RISK_LOOKBACK_BARS * 1.5))
    close = load_bars(store, wanted, start=start, end=end).close
    return close.pct_change(fill_method=None).iloc[1:].tail(RISK_LOOKBACK_BARS)


def _approved_universe(store) -> list[str]:
    rows = store.query("SELECT config FROM configs WHERE status = 'approved'")
    return sorted({s for raw in rows["config"] for s in json.loads(raw).get("universe", [])})


@_one_connection
def book_marker(store) -> tuple[str, str, str]:
    """A cheap fingerprint of the book: it changes whenever a mark, a fill or the trading state does."""
    row = store.query(
        "SELECT (SELECT max(ts) FROM equity_snapshots) AS marked, (SELECT max(seq) FROM paper_fills)"
        " AS filled, (SELECT max(updated_at) FROM trading_state) AS state"
    ).iloc[0]
    return str(row["marked"]), str(row["filled"]), str(row["state"])


@_one_connection
def strategies(store) -> list:
    """Every config in the registry with its evidence, most recently changed first."""
    from engine.research.registry import list_configs

    return list_configs(store)


def code_drift(config):
    """How the code that would trade ``config`` differs from what validated it (None: it does not)."""
    from engine.research.provenance import code_drift as drift

    return drift(config) if config.evidence is not None else None


@_one_connection
def config_events(store, config_id: str, limit: int = 50) -> pd.DataFrame:
    """The lifecycle history of one config: who moved it where, and why."""
    return store.query(
        "SELECT ts, actor, kind, payload FROM events WHERE subject = ? AND starts_with(kind, 'config.')"
        f" ORDER BY id DESC LIMIT {int(limit)}",
        [config_id],
    )


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
    from engine.data.repository import load_bars
    from engine.research.registry import get_config

    with store.connect() as con:  # closed before the backtest runs: it takes seconds
        reader = _Reader(store, con)
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


@_one_connection
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


@_one_connection
def audit(store, wanted: AuditFilter = AuditFilter()) -> pd.DataFrame:
    """Events newest first, filtered by kind prefix, actor, subject and time, a page at a time."""
    conditions = [
        ("actor = ?", wanted.actor),
        ("subject = ?", wanted.subject),
        ("starts_with(kind, ?)", wanted.kind),
        ("ts >= ?", wanted.since),
        ("ts < ?", wanted.until),
    ]
    where = [sql for sql, value in conditions if value]
    params = [value for _, value in conditions if value]
    return _newest(
        store,
        "SELECT id, ts, actor, kind, subject, payload FROM events WHERE "
        + " AND ".join(["{newest}", *where]) + f" ORDER BY id DESC LIMIT {int(wanted.limit)}",
        params, table="events", key="id", limit=wanted.limit, below=wanted.before_id,
    )  # fmt: skip


@_one_connection
def audit_choices(store) -> tuple[list[str], list[str]]:
    """(event kinds, actors) present in the audit trail, for the filter menus."""
    kinds = store.query("SELECT DISTINCT kind FROM events ORDER BY kind")["kind"].tolist()
    actors = store.query("SELECT DISTINCT actor FROM events ORDER BY actor")["actor"].tolist()
    return kinds, actors


@_one_connection
def universe(store) -> list[str]:
    """Symbols a manual order may name: approved configs' universes and symbols with stored bars."""
    stored = store.query("SELECT DISTINCT symbol FROM bars")["symbol"].tolist()
    return sorted(set(stored) | set(_approved_universe(store)))


@_one_connection
def last_price(store, symbol: str) -> tuple[float, date] | None:
    """The newest price of ``symbol`` and its date: the loop's mark, else the last stored close."""
    candidates = [
        store.query("SELECT price, bar_date AS day FROM position_snapshots WHERE symbol = ?"
                    " ORDER BY bar_date DESC LIMIT 1", [symbol]),
        store.query("SELECT close AS price, date AS day FROM bars WHERE symbol = ?"
                    " ORDER BY date DESC LIMIT 1", [symbol]),
    ]  # fmt: skip
    found = [frame.iloc[0] for frame in candidates if not frame.empty]
    if not found:
        return None
    newest = max(found, key=lambda row: pd.Timestamp(row["day"]))
    return float(newest["price"]), _date(newest["day"])


@_one_connection
def paper_accounts(store) -> list[str]:
    """The paper broker's accounts in this store."""
    return store.query("SELECT account FROM paper_accounts ORDER BY account")["account"].tolist()


@_one_connection
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
    """Queue ``command`` for the live loop in the trader's name; returns the command id."""
    return submit_command(store, command, actor=_require_trader(visitor))


def act_on_config(
    store, config_id: str, action: str, visitor, reason: str
) -> tuple[Any, int | None]:
    """(record, command id) after a trader approves, pauses, resumes or retires a config.

    Pause and resume also go to the running loop as commands, so that it stops (or
    restarts) new entries at its next step rather than at its next registry read.
    """
    from engine.research.registry import act

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
    return DirectFlatten(command_id, sent, routed.canceled, routed.refusals)


# -- helpers ---------------------------------------------------------------------------------


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row with pandas timestamps as datetimes and missing values as None."""
    plain = {}
    for key, value in row.items():
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        elif not isinstance(value, str | list | dict | tuple) and pd.isna(value):
            value = None
        plain[key] = value
    return plain


def _date(value) -> date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def _process_alive(pid: int, started_at: datetime) -> bool:
    from engine.jobs.locks import process_alive

    return process_alive(pid, started_at)
