"""The books as the control room, the daily report and the CLI read them, every broker alike.

A book is one broker account: ``paper:<account>``, ``alpaca:paper`` or ``alpaca:live``. The
live loop records what it does to a book (:mod:`engine.live.ledger`): its orders, its
positions and cash, and at every bar a mark of its equity and positions. For any book:

- :func:`known_books`, and :func:`book_to_show`: the book asked for, else the running
  loop's, else the one traded last by the wall clock (never the one with the newest bars:
  a replay of 2009 started after the demo's 2013 is the book to show);
- :func:`held` (positions, cash and equity as last marked), :func:`orders`, :func:`fills`,
  :func:`equity_curve`, :func:`marked_stops`, :func:`day_trades`, :func:`marker`,
  :func:`traded_symbols`, :func:`adjustments` (splits and dividends taken in).
- for one config (``wb drift``): :func:`traded_configs`, :func:`config_trading` (its book,
  sessions and starting cash), :func:`denials` and :func:`loop_decisions`.

A paper book's orders and fills are the paper broker's own record
(:mod:`engine.brokers.paper_records`: time in force, its statuses, one row per fill) with
the loop's purpose, config and decision price beside them; other brokers keep their record
away from the store, so the loop's record (one row per order) is the book. A book no loop
has marked yet is read from the paper broker where it is one, else from the loop's
start-up record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from engine.brokers import paper_records
from engine.data import calendar
from engine.errors import NotFoundError
from engine.live.heartbeat import LoopStatus, loop_status
from engine.live.ids import parse_decision_id
from engine.risk.limits import PDT_WINDOW_SESSIONS
from engine.store.reading import conditions, on_one_connection

PAGE_ROWS = 500
HELD_COLUMNS = ["symbol", "qty", "avg_price", "price", "stop_price", "config_id"]
ORDER_COLUMNS = [
    "submitted_at", "decision_bar", "symbol", "side", "qty", "type", "limit_price", "stop_price",
    "time_in_force", "status", "filled_qty", "filled_avg_price", "purpose", "config_id", "reason",
    "client_order_id", "updated_at", "id",
]  # fmt: skip
FILL_COLUMNS = [
    "filled_at", "bar_date", "symbol", "side", "qty", "price", "fee", "type", "purpose",
    "decision_bar", "decision_price", "config_id", "client_order_id", "order_id",
]  # fmt: skip
#: What the loop knows of an order that the paper broker does not.
_LOOP_RECORD = [
    "client_order_id", "purpose", "config_id", "reason", "decision_bar", "decision_price",
]  # fmt: skip
#: Snapshots of the loops that traded a book (a restarted loop carries on its book).
_MARKS_OF = "equity_snapshots s JOIN heartbeats h USING (loop_id) WHERE h.book = ?"


@dataclass(frozen=True)
class BookInfo:
    """A book that exists in the store."""

    name: str
    broker: str
    mode: str | None  # of the newest loop that traded it; None when no loop has
    traded_at: datetime | None  # wall clock (UTC) of its newest loop beat, else broker activity
    bar_date: date | None  # the newest bar it was traded or marked on


@dataclass(frozen=True)
class Held:
    """A book's open positions (HELD_COLUMNS) and money as last known, and where they come from."""

    book: str | None
    positions: pd.DataFrame
    equity: float | None
    cash: float | None
    as_of: date | None
    source: str  # said beside the figures: which book, marked by whom, when
    marked: bool = False  # marked by the loop: prices are its marks, stops are known
    #: What the broker would let the book spend now, as the loop last read its account;
    #: None where no loop has reported it (a broker's own figure, not computed here).
    buying_power: float | None = None


# -- which book ------------------------------------------------------------------------------


@on_one_connection
def known_books(store) -> list[BookInfo]:
    """Every book in the store, the one traded last (wall clock) first."""
    rows = store.query(
        "SELECT book, arg_max(broker, beat_at) AS broker, arg_max(mode, beat_at) AS mode,"
        " max(beat_at) AS traded_at, max(bar_date) AS bar_date FROM heartbeats"
        " WHERE book IS NOT NULL GROUP BY book"
    )
    found = {
        r.book: BookInfo(r.book, r.broker, r.mode, _time(r.traded_at), _day(r.bar_date))
        for r in rows.itertuples()
    }
    unlooped = [a for a in paper_records.accounts(store) if paper_book(a.name) not in found]
    traded = paper_records.last_traded(store, [a.name for a in unlooped])
    for account in unlooped:
        name = paper_book(account.name)
        found[name] = BookInfo(name, "paper", None, traded.get(account.name), account.last_bar)
    return sorted(found.values(), key=lambda b: (b.traded_at or datetime.min, b.name), reverse=True)


@on_one_connection
def book_to_show(store, wanted: str | None = None, *, loop: LoopStatus | None = None) -> str | None:
    """``wanted`` (it must exist), else the running loop's book, else the one traded last; None: none."""
    known = known_books(store)
    if wanted:
        if any(b.name == wanted for b in known):
            return wanted
        raise NotFoundError(
            f"no book {wanted!r} in this data dir",
            hint=f"books: {', '.join(b.name for b in known)}"
            if known
            else "no book has traded yet",
        )
    if len(known) < 2:  # nothing to choose between (a running loop's book is a known one)
        return known[0].name if known else None
    loop = loop or loop_status(store)
    if loop.running and loop.book:
        return loop.book
    return known[0].name


def paper_book(account: str) -> str:
    """The name of a paper account's book."""
    return f"paper:{account}"


def paper_account(book: str) -> str | None:
    """The paper account a book is, or None for another broker's."""
    kind, _, account = book.partition(":")
    return account if kind == "paper" and account else None


# -- what it holds ---------------------------------------------------------------------------


@on_one_connection
def held(store, book: str | None) -> Held:
    """The book's positions and money as the loop last marked them (else as its broker has them)."""
    if book is None:
        return Held(None, _frame(HELD_COLUMNS), None, None, None,
                    "no live loop has marked a book, and no paper account exists")  # fmt: skip
    mark = store.query(
        f"SELECT s.loop_id, s.bar_date, s.equity, s.cash, s.ts FROM {_MARKS_OF}"
        " ORDER BY s.ts DESC LIMIT 1",
        [book],
    )
    if not mark.empty:
        loop_id, bar, equity, cash, marked_at = mark.iloc[0]
        positions = store.query(
            f"SELECT {', '.join(HELD_COLUMNS)} FROM position_snapshots"
            " WHERE loop_id = ? AND bar_date = ? AND qty <> 0 ORDER BY symbol",
            [loop_id, bar],
        )
        as_of = _day(bar)
        # An intraday book is marked at every bar close: say which (New York time).
        on = as_of
        if bar_size(store, book) != "1d":
            on = f"the close of {bar_times(pd.Series([marked_at]), intraday=True).iat[0]} (New York)"
        return Held(book, positions, float(equity), float(cash), as_of,
                    f"{book} as the live loop {loop_id} marked it on {on}", marked=True,
                    buying_power=_buying_power(store, book))  # fmt: skip
    account = paper_account(book)
    paper = paper_records.account_book(store, account) if account else None
    if paper is not None:
        positions = pd.DataFrame(
            [(p.symbol, p.qty, p.avg_entry_price, p.market_price or p.avg_entry_price, np.nan, None)
             for p in paper.positions], columns=HELD_COLUMNS,
        )  # fmt: skip
        return Held(book, positions, paper.equity, paper.cash, paper.account.last_bar,
                    f"{book} from the paper account {account!r} (no live loop has marked it, "
                    "so stops are unknown)")  # fmt: skip
    return _started(store, book)


def _started(store, book: str) -> Held:
    """A book a loop started on but never marked: its start-up record, without prices."""
    positions = store.query(
        "SELECT symbol, qty, avg_price, NULL::DOUBLE AS price, NULL::DOUBLE AS stop_price, config_id"
        " FROM live_positions WHERE book = ? ORDER BY symbol",
        [book],
    )
    row = store.query(
        "SELECT cash, equity, bar_date, buying_power FROM live_books WHERE book = ?", [book]
    )
    cash, equity, bar, power = row.iloc[0] if len(row) else (None, None, None, None)
    return Held(book, positions, _number(equity), _number(cash), _day(bar),
                f"{book} as the live loop found it at start-up (not marked yet: no prices)",
                buying_power=_number(power))  # fmt: skip


def _buying_power(store, book: str) -> float | None:
    """The book's buying power as the loop last read it from its broker (None: not reported)."""
    return _number(store.scalar("SELECT buying_power FROM live_books WHERE book = ?", [book]))


@on_one_connection
def equity_curve(store, book: str | None) -> pd.DataFrame:
    """Equity, cash and positions' value per bar (the last mark of each), oldest first.

    Marks of every loop that traded the book are joined, so a restarted loop continues its
    curve; a later mark of the same bar wins.
    """
    return store.query(
        "SELECT s.bar_date, arg_max(s.equity, s.ts) AS equity, arg_max(s.cash, s.ts) AS cash,"
        " arg_max(s.positions_value, s.ts) AS positions_value, max(s.ts) AS ts"
        f" FROM {_MARKS_OF} GROUP BY s.bar_date ORDER BY s.bar_date",
        [book],
    )


@on_one_connection
def marked_stops(store, book: str | None, symbol: str) -> pd.DataFrame:
    """The stop the loop kept on ``symbol``'s position at each bar it marked (bar_date,
    stop_price), oldest first; a later mark of the same bar wins."""
    return store.query(
        "SELECT p.bar_date, arg_max(p.stop_price, s.ts) AS stop_price"
        " FROM equity_snapshots s JOIN heartbeats h USING (loop_id)"
        " JOIN position_snapshots p ON p.loop_id = s.loop_id AND p.bar_date = s.bar_date"
        " WHERE h.book = ? AND p.symbol = ? AND p.qty <> 0"
        " GROUP BY p.bar_date ORDER BY p.bar_date",
        [book, symbol],
    )


def held_symbols(store) -> list[str]:
    """Every symbol a book holds now, as the loops recorded them (any book)."""
    rows = store.query("SELECT DISTINCT symbol FROM live_positions ORDER BY symbol")
    return rows["symbol"].tolist()


def newest_mark(store, symbol: str) -> tuple[float, date] | None:
    """The newest price any loop marked ``symbol`` at, and its bar."""
    row = store.query(
        "SELECT price, bar_date FROM position_snapshots WHERE symbol = ?"
        " ORDER BY bar_date DESC LIMIT 1",
        [symbol],
    )
    return None if row.empty else (float(row.iat[0, 0]), _day(row.iat[0, 1]))


# -- what it traded --------------------------------------------------------------------------


@on_one_connection
def orders(store, book: str | None, *, symbols: list[str] | None = None, side: str | None = None,
           status: str | None = None, since: date | None = None,
           limit: int | None = PAGE_ROWS) -> pd.DataFrame:  # fmt: skip
    """The book's newest orders (ORDER_COLUMNS), filtered; ``status`` "open": any that can still fill.

    Orders carry the loop's purpose, config and reason where the loop sent them.
    """
    if book is None:
        return _frame(ORDER_COLUMNS)
    account = paper_account(book)
    if account is None:
        return _loop_orders(store, book, symbols, side, status, since, limit)[ORDER_COLUMNS]
    found = paper_records.orders(store, account, symbols=symbols, side=side, status=status,
                                 since=since, limit=limit)  # fmt: skip
    why = _loop_record(store, book, found["client_order_id"])[["purpose", "config_id", "reason"]]
    return found.join(why, on="client_order_id").reindex(columns=ORDER_COLUMNS)


def denied(store, book: str | None, *, symbols: list[str] | None = None, side: str | None = None,
           since: date | datetime | None = None, limit: int | None = PAGE_ROWS) -> pd.DataFrame:  # fmt: skip
    """Orders the risk gate denied for the book, newest first, as order rows (ORDER_COLUMNS,
    status ``denied``, the rule and reason in ``reason``).

    They never reached the broker, so they are read from the loop's ``order.denied`` events.
    """
    if book is None:
        return _frame(ORDER_COLUMNS)
    where, params = conditions([
        ("json_extract_string(payload, '$.symbol') IN (SELECT unnest(?))", symbols),
        ("json_extract_string(payload, '$.side') = ?", side), ("ts >= ?", since),
    ])  # fmt: skip
    rows = store.query(
        "SELECT ts, payload FROM events WHERE kind = 'order.denied'"
        " AND json_extract_string(payload, '$.book') = ?"
        + "".join(f" AND {w}" for w in where)
        + " ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else ""),
        [book, *params],
    )
    payloads = [{"rule": "", "reason": "", "requested_qty": None, **json.loads(p)} for p in rows["payload"]]
    if not payloads:
        return _frame(ORDER_COLUMNS)
    found = pd.DataFrame(payloads).rename(columns={"bar": "decision_bar", "order_type": "type"})
    found["submitted_at"] = rows["ts"].to_numpy()
    found["qty"] = found["requested_qty"]
    found["reason"] = found["rule"].fillna("").astype(str) + ": " + found["reason"].fillna("").astype(str)
    found["status"] = "denied"
    return found.reindex(columns=ORDER_COLUMNS)


@on_one_connection
def fills(store, book: str | None, *, symbols: list[str] | None = None, side: str | None = None,
          since: date | None = None, limit: int | None = PAGE_ROWS) -> pd.DataFrame:  # fmt: skip
    """The book's newest fills (FILL_COLUMNS), each with the price it was decided at.

    The decision price is the close the loop sized the order at, else the stored close of
    the bar the order was decided on (the newest bar when it was submitted). ``bar_date`` is
    the session that filled it. A book the loop alone records has one fill per filled
    order, at its average price.
    """
    if book is None:
        return _frame(FILL_COLUMNS)
    account = paper_account(book)
    if account is None:
        done = _loop_orders(store, book, symbols, side, None, since, limit, filled=True)
        found = pd.DataFrame({
            "filled_at": done["filled_at"], "bar_date": _session_day(done["filled_at"]),
            "symbol": done["symbol"], "side": done["side"], "qty": done["filled_qty"],
            "price": done["filled_avg_price"], "fee": done["fees"], "type": done["type"],
            "purpose": done["purpose"], "decision_bar": done["decision_bar"],
            "decision_price": done["decision_price"], "config_id": done["config_id"],
            "client_order_id": done["client_order_id"], "order_id": done["id"],
        })  # fmt: skip
        return found.reindex(columns=FILL_COLUMNS).reset_index(drop=True)
    found = paper_records.fills(
        store, account, symbols=symbols, side=side, since=since, limit=limit
    )
    loop = _loop_record(store, book, found["client_order_id"])
    found = found.join(loop.rename(columns={"decision_bar": "loop_bar"}), on="client_order_id")
    found["decision_bar"] = found["loop_bar"].combine_first(found["decision_bar"])
    closes = _closes_on(store, found["symbol"], found["decision_bar"])
    found["decision_price"] = found["decision_price"].combine_first(closes)
    return found.reindex(columns=FILL_COLUMNS)


@on_one_connection
def day_trades(store, book: str | None, as_of: date | None) -> int:
    """Day trades in the five sessions up to ``as_of``: a buy and a sell of one symbol in one session."""
    if book is None or as_of is None:
        return 0
    window = calendar.sessions(pd.Timestamp(as_of) - pd.Timedelta(days=14), as_of)
    if not len(window):
        return 0
    start = window[-PDT_WINDOW_SESSIONS:][0].date()
    account = paper_account(book)
    if account is not None:
        done = paper_records.fill_sides(store, account, since=start)
    else:
        done = _loop_orders(store, book, None, None, None, start, None, filled=True)
        done = done.assign(bar_date=_session_day(done["filled_at"]))
    done = done[pd.to_datetime(done["bar_date"]) <= pd.Timestamp(as_of)]
    sides = done.groupby(["bar_date", "symbol"])["side"].nunique()
    return int((sides == 2).sum())


@on_one_connection
def bar_size(store, book: str | None) -> str:
    """The bar size ``book`` is traded at: its configs' (one per loop), "1d" when unknown."""
    if book is None:
        return "1d"
    found = store.scalar(
        "SELECT any_value(json_extract_string(c.config, '$.bar_size')) FROM live_books b,"
        " configs c WHERE b.book = ? AND json_exists(b.configs, '$.\"' || c.config_id || '\"')",
        [book],
    )
    return found or "1d"


def bar_times(times: pd.Series, intraday: bool) -> pd.Series:
    """Each UTC wall time (naive) as the bar a person reads: its New York session date
    (daily books), or its New York date and time to the minute (intraday books)."""
    stamps = pd.to_datetime(times)
    if not intraday:
        return _session_day(times)
    return stamps.dt.tz_localize("UTC").dt.tz_convert(calendar.TZ).dt.strftime("%Y-%m-%d %H:%M")


def decision_bars(client_order_ids: pd.Series, days: pd.Series) -> pd.Series:
    """The bar each order was decided at, as :func:`bar_times` reads it for an intraday book:
    its New York close, from the order's id (``days``, its session, where the id names
    none: a trader's order)."""
    decided = client_order_ids.map(lambda c: parse_decision_id(c) if isinstance(c, str) else None)
    closes = pd.Series(
        [d.decided_at if d is not None and d.at else pd.NaT for d in decided],
        index=client_order_ids.index, dtype="datetime64[us]",
    )  # fmt: skip
    shown = bar_times(closes, intraday=True)
    return shown.where(closes.notna(), pd.to_datetime(days).dt.strftime("%Y-%m-%d"))


@on_one_connection
def marker(store, book: str | None) -> tuple[str, str, str]:
    """A cheap fingerprint of the book: it changes whenever a mark or a fill of it does."""
    if book is None:
        return "", "", ""
    marked = store.scalar(f"SELECT max(s.ts) FROM {_MARKS_OF}", [book])
    account = paper_account(book)
    if account is not None:
        filled = paper_records.newest_fill(store, account)
    else:
        filled = store.scalar(
            "SELECT count(*) || '@' || max(updated_at) FROM live_orders"
            " WHERE book = ? AND filled_qty > 0",
            [book],
        )
    return book, str(marked), str(filled)


@on_one_connection
def traded_symbols(store, book: str | None) -> list[str]:
    """Symbols the book has ever had an order in, for the filter menu."""
    if book is None:
        return []
    looped = store.query("SELECT DISTINCT symbol FROM live_orders WHERE book = ?", [book])
    account = paper_account(book)
    paper = paper_records.traded_symbols(store, account) if account else []
    return sorted(set(looped["symbol"]) | set(paper))


@on_one_connection
def starting_cash(store, book: str) -> float | None:
    """The book's cash before its first fill: a paper account's own starting cash; else its
    cash as last recorded less what its recorded fills did to it."""
    account = paper_account(book)
    if account is not None:
        found = [a.starting_cash for a in paper_records.accounts(store) if a.name == account]
        if found:
            return found[0]
    now = held(store, book).cash
    if now is None:
        return None
    flows = store.scalar(
        "SELECT coalesce(sum(CASE WHEN side = 'sell' THEN filled_qty * filled_avg_price"
        " ELSE -filled_qty * filled_avg_price END - fees), 0) FROM live_orders"
        " WHERE book = ? AND filled_qty > 0",
        [book],
    )
    return now - float(flows)


# -- one config's trading (drift) ------------------------------------------------------------


@dataclass(frozen=True)
class ConfigTrading:
    """Where and when the live loop traded one config: its book, sessions and starting cash."""

    book: str
    first_bar: date
    last_bar: date
    starting_cash: float
    stepped: tuple[date, ...]  # the sessions a loop stepped it
    stale: tuple[date, ...]  # the sessions a loop skipped for want of a bar


#: The marks of the loops that traded a config (their ``configs`` JSON lists it).
_CONFIG_MARKS = (
    "equity_snapshots s JOIN heartbeats h USING (loop_id) WHERE h.book IS NOT NULL"
    " AND list_contains(from_json(h.configs, '[\"VARCHAR\"]'), ?)"
)


def traded_configs(store) -> pd.DataFrame:
    """Every config a live loop has traded: config_id, book, first and last bar, newest first."""
    return store.query(
        "SELECT c.config_id, h.book, min(s.bar_date) AS first_bar, max(s.bar_date) AS last_bar"
        " FROM equity_snapshots s JOIN heartbeats h USING (loop_id),"
        " unnest(from_json(h.configs, '[\"VARCHAR\"]')) AS c(config_id)"
        " WHERE h.book IS NOT NULL GROUP BY c.config_id, h.book ORDER BY max(h.beat_at) DESC"
    )


@on_one_connection
def config_trading(store, config_id: str, book: str | None = None) -> ConfigTrading:
    """Where ``config_id`` traded: in ``book``, else the book that traded it last (wall clock)."""
    books = store.query(
        f"SELECT h.book, max(h.beat_at) AS traded_at FROM {_CONFIG_MARKS}"
        " GROUP BY h.book ORDER BY traded_at DESC",
        [config_id],
    )["book"].tolist()
    if not books:
        raise NotFoundError(
            f"config {config_id} has not traded in any book in this data dir",
            hint=f"trade it first (wb live --config {config_id}); wb books lists the books",
        )
    if book is not None and book not in books:
        raise NotFoundError(
            f"config {config_id} has not traded in book {book!r}",
            hint=f"it traded in: {', '.join(books)}",
        )
    book = book or books[0]
    stepped = store.query(
        f"SELECT DISTINCT s.bar_date FROM {_CONFIG_MARKS} AND h.book = ? ORDER BY 1",
        [config_id, book],
    )["bar_date"]
    stale = store.query(
        "SELECT DISTINCT e.subject FROM events e JOIN heartbeats h"
        " ON ends_with(e.actor, ':' || h.loop_id) WHERE e.kind = 'loop.stale_data'"
        " AND h.book = ? AND list_contains(from_json(h.configs, '[\"VARCHAR\"]'), ?)",
        [book, config_id],
    )["subject"]
    row = store.query("SELECT configs FROM live_books WHERE book = ?", [book])
    cash = json.loads(row.iat[0, 0]).get(config_id) if len(row) else None
    days = [_day(d) for d in stepped]
    return ConfigTrading(book, days[0], days[-1], float(cash) if cash is not None else np.nan,
                         tuple(days), tuple(sorted(date.fromisoformat(d) for d in stale)))  # fmt: skip


def loop_decisions(store, book: str, client_order_ids: pd.Series) -> pd.DataFrame:
    """What the loop recorded of these orders (purpose, config, reason, decision bar and the
    close it decided at, None where it recorded none), by client order id."""
    return _loop_record(store, book, client_order_ids)


def denials(store, book: str, config_id: str) -> dict[tuple[str, str, date], str]:
    """The risk gate's denials of a config's orders in a book: (symbol, side, decision bar) -> why."""
    rows = store.query(
        "SELECT subject, payload FROM events WHERE kind = 'order.denied'"
        " AND json_extract_string(payload, '$.book') = ? ORDER BY id",
        [book],
    )
    found = {}
    for symbol, payload in zip(rows["subject"], rows["payload"], strict=True):
        data = json.loads(payload)
        # The gate names the intent; a recheck of the controls names only the order's id.
        decision = parse_decision_id(data.get("client_order_id") or "")
        owner = data.get("config_id") or (decision.config_id if decision else None)
        bar = data.get("bar") or (decision.bar.isoformat() if decision else None)
        side = data.get("side") or (decision and ("buy" if decision.action == "buy" else "sell"))
        if owner != config_id or not bar or not side:
            continue
        rule = f" ({data['rule']})" if data.get("rule") else ""
        found[(symbol, side, date.fromisoformat(str(bar)[:10]))] = f"{data.get('reason')}{rule}"
    return found


# -- helpers ---------------------------------------------------------------------------------


def _loop_orders(store, book, symbols, side, status, since, limit, *, filled=False) -> pd.DataFrame:
    """The loop's own record of a book's orders, newest first (with ``filled``: those that
    filled, newest fill first)."""
    when = "filled_at" if filled else "created_at"
    where, params = conditions([
        ("book = ?", book), ("symbol IN (SELECT unnest(?))", list(symbols or [])),
        ("side = ?", side), ("status = ?", status), (f"{when} >= ?", since),
    ])  # fmt: skip
    where.append("filled_qty > 0" if filled else "TRUE")
    found = store.query(
        "SELECT created_at AS submitted_at, *, broker_order_id AS id FROM live_orders WHERE "
        + " AND ".join(where) + f" ORDER BY {when} DESC, created_at DESC"
        + ("" if limit is None else f" LIMIT {int(limit)}"),
        params,
    )  # fmt: skip
    return found.reindex(columns=[*ORDER_COLUMNS, "decision_price", "fees", "filled_at"])


def _loop_record(store, book: str, client_order_ids: pd.Series) -> pd.DataFrame:
    """The loop's purpose, config, reason and decision of these orders, by client order id."""
    if client_order_ids.empty:
        return pd.DataFrame(columns=_LOOP_RECORD).set_index("client_order_id")
    return store.query(
        f"SELECT {', '.join(_LOOP_RECORD)} FROM live_orders"
        " WHERE book = ? AND client_order_id = ANY(?)",
        [book, client_order_ids.tolist()],
    ).set_index("client_order_id")


def _closes_on(store, symbols: pd.Series, days: pd.Series) -> pd.Series:
    """The stored close (as traded) of each symbol on each day, aligned with them."""
    wanted = pd.DataFrame({"symbol": symbols, "date": pd.to_datetime(days)})
    known = wanted.dropna()
    if known.empty:
        return pd.Series(np.nan, index=symbols.index)
    rows = store.query(
        "SELECT symbol, date, close FROM bars WHERE symbol = ANY(?) AND date BETWEEN ? AND ?",
        [sorted(known["symbol"].unique()), known["date"].min().date(), known["date"].max().date()],
    )
    rows["date"] = pd.to_datetime(rows["date"])
    return wanted.merge(rows, on=["symbol", "date"], how="left")["close"].set_axis(symbols.index)


def _session_day(times: pd.Series) -> pd.Series:
    """The New York session date of each UTC time (a fill's session)."""
    stamps = pd.to_datetime(times)
    if stamps.empty:
        return pd.Series([], dtype=object, index=times.index)
    return stamps.dt.tz_localize("UTC").dt.tz_convert(calendar.TZ).dt.date


def _frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=columns)


def _time(value) -> datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _day(value) -> date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def adjustments(store, book: str | None) -> pd.DataFrame:
    """The splits and dividends the book took in, oldest first: symbol, kind, ex-date, the
    config, ratio, dividend per share, shares before and after, cash (traded terms)."""
    if book is None:
        return pd.DataFrame(columns=["symbol", "kind", "ex_date", "config_id", "ratio", "amount",
                                     "qty_before", "qty_after", "cash", "recorded_at"])  # fmt: skip
    return store.query(
        "SELECT symbol, kind, ex_date, config_id, ratio, amount, qty_before, qty_after, cash,"
        " recorded_at FROM live_adjustments WHERE book = ? ORDER BY ex_date, symbol, kind DESC",
        [book],
    )
