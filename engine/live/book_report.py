"""The book for one trading date, as the daily report notebook shows it.

A book's fills are the record (read through :mod:`engine.live.book_queries`, whatever the
broker): positions and cash are derived from them and marked at each session's close from
the bar store, so any date can be reported, not only today. For the date:

- equity, the day's P&L, and the equity curve up to it;
- the day's P&L by symbol and by strategy: a symbol's P&L is the change in its marked
  value less what its fills of the day cost, fees included; its strategy is the config
  that placed its latest order (the live loop's client order ids start with the config
  id), or ``manual``;
- the day's fills against the price they were decided at (the close of the bar the order
  was decided on, as the control room measures slippage), positive when it cost money;
- the risk limits in force against their use at the day's close;
- the positions open at the close, with stops from open stop orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from engine.brokers.paper_rules import positions_from_fills
from engine.data import calendar
from engine.live import book_queries
from engine.live.book_queries import paper_book
from engine.live.controls import read_controls
from engine.research.config_registry import list_configs
from engine.risk.limits import RiskLimits
from engine.store.reading import on_one_connection

MANUAL = "manual"
POSITION_COLUMNS = [
    "symbol", "strategy", "qty", "avg_price", "price", "market_value", "weight",
    "unrealised_pnl", "stop_price", "risk_to_stop",
]  # fmt: skip
FILL_COLUMNS = [
    "symbol", "strategy", "side", "qty", "price", "fee", "expected_price", "slippage_bps",
    "slippage_cost", "decision_bar", "client_order_id",
]  # fmt: skip


@dataclass(frozen=True)
class DailyBook:
    """The book at one date's close (see the module docs); empty frames before any trading."""

    day: date | None
    book: str | None  # 'paper:<account>', 'alpaca:paper', ...
    starting_cash: float | None
    curve: pd.DataFrame  # date, cash, positions_value, equity: each session up to the day
    positions: pd.DataFrame  # POSITION_COLUMNS
    pnl_by_symbol: pd.DataFrame  # symbol, strategy, pnl
    fills: pd.DataFrame  # FILL_COLUMNS, the day's
    risk_usage: pd.DataFrame  # limit, in_force, in_use, used (fraction of the limit)
    notes: tuple[str, ...] = ()

    @property
    def traded(self) -> bool:
        """True once the book has any fill on or before the day."""
        return not self.curve.empty

    @property
    def equity(self) -> float | None:
        return float(self.curve["equity"].iloc[-1]) if self.traded else None

    @property
    def day_pnl(self) -> float | None:
        """Equity at the close less equity at the previous session's close (or the start)."""
        if not self.traded:
            return None
        before = self.curve["equity"].iloc[-2] if len(self.curve) > 1 else self.starting_cash
        return float(self.curve["equity"].iloc[-1] - before)

    def pnl_by_strategy(self) -> pd.DataFrame:
        """The day's P&L summed per strategy, largest loss first."""
        frame = self.pnl_by_symbol.groupby("strategy", as_index=False)["pnl"].sum()
        return frame.sort_values("pnl", ignore_index=True)

    def headline(self) -> str:
        """One line: the day's equity and P&L, or why there is nothing to report."""
        if not self.traded:
            return "No trading yet: " + (self.notes[0] if self.notes else "nothing to report.")
        pnl, equity = self.day_pnl, self.equity
        share = pnl / (equity - pnl) if equity != pnl else 0.0
        return (
            f"{self.day}: equity ${equity:,.2f}, {'+' if pnl >= 0 else '-'}${abs(pnl):,.2f} "
            f"({share:+.2%}) on the day, book {self.book!r}"
        )


@on_one_connection
def daily_book(
    store, day: date | str | None = None, *, book: str | None = None, account: str | None = None
) -> DailyBook:
    """The ``book`` (default: the running loop's, else the one traded last) at the close of ``day``.

    ``account`` names a paper account's book (``paper:<account>``). ``day`` defaults to
    the newest session the book has traded or been marked on; a day the market was shut
    reports the session before it.
    """
    name = book_queries.book_to_show(store, book or (paper_book(account) if account else None))
    if name is None:
        return _empty(day, None, None, "no book has traded in this data dir, so there is nothing to report.")
    starting = book_queries.starting_cash(store, name)
    fills = book_queries.fills(store, name, limit=None).iloc[::-1].reset_index(drop=True)
    if fills.empty or starting is None:
        return _empty(day, name, starting, f"no order has been filled in book {name!r} yet.")
    fills["bar_date"] = pd.to_datetime(fills["bar_date"])
    fills["signed"] = np.where(fills["side"] == "buy", fills["qty"], -fills["qty"])
    fills["strategy"] = _strategies(store, fills["client_order_id"])

    marked = next(b.bar_date for b in book_queries.known_books(store) if b.name == name)
    newest = max(fills["bar_date"].max(), pd.Timestamp(marked) if marked else pd.NaT)
    asked = pd.Timestamp(day) if day is not None else newest
    sessions = calendar.sessions(fills["bar_date"].min(), asked)
    if not len(sessions):
        return _empty(asked.date(), name, starting, f"no fills on or before {asked.date()}.")
    notes = []
    if sessions[-1] != asked.normalize():
        notes.append(
            f"{asked.date()} was not a trading day: the book is at the close of {sessions[-1].date()}."
        )
    fills = fills[fills["bar_date"] <= sessions[-1]]
    closes, stale = _closes(store, fills, sessions)
    notes += stale

    held = fills.pivot_table(index="bar_date", columns="symbol", values="signed", aggfunc="sum")
    held = held.reindex(index=sessions, columns=closes.columns, fill_value=0.0).fillna(0.0).cumsum()
    paid = (
        (fills["signed"] * fills["price"] + fills["fee"])
        .to_frame("paid")
        .assign(bar_date=fills["bar_date"], symbol=fills["symbol"])
    )
    paid = paid.pivot_table(index="bar_date", columns="symbol", values="paid", aggfunc="sum")
    paid = paid.reindex(index=sessions, columns=closes.columns).fillna(0.0)
    value = held * closes
    curve = pd.DataFrame(
        {"cash": starting - paid.sum(axis=1).cumsum(), "positions_value": value.sum(axis=1)}
    )
    curve["equity"] = curve["cash"] + curve["positions_value"]
    curve = curve.rename_axis("date").reset_index()

    last_strategy = fills.groupby("symbol")["strategy"].last()
    day_pnl = (value.diff().fillna(value) - paid).iloc[-1]
    touched = (
        (held.iloc[-1] != 0)
        | (held.iloc[-2] != 0 if len(held) > 1 else False)
        | (paid.iloc[-1] != 0)
    )
    pnl = pd.DataFrame({"symbol": day_pnl.index, "pnl": day_pnl.to_numpy()})[touched.to_numpy()]
    pnl.insert(1, "strategy", pnl["symbol"].map(last_strategy))
    positions = _positions(
        store, name, fills, closes.iloc[-1], float(curve["equity"].iloc[-1]), last_strategy
    )
    today = _fills_of(fills[fills["bar_date"] == sessions[-1]])
    limits = _limits(store, notes)
    usage = risk_usage(limits, positions, curve, starting) if limits else _empty_usage()
    return DailyBook(
        sessions[-1].date(),
        name,
        starting,
        curve,
        positions,
        pnl.sort_values("pnl", ignore_index=True),
        today,
        usage,
        tuple(notes),
    )


def risk_usage(
    limits, positions: pd.DataFrame, curve: pd.DataFrame, starting: float
) -> pd.DataFrame:
    """Each limit beside its use at the close; ``used`` is the fraction of the limit taken."""
    equity = float(curve["equity"].iloc[-1])
    before = float(curve["equity"].iloc[-2]) if len(curve) > 1 else starting
    cash_share = float(curve["cash"].iloc[-1]) / equity if equity else float("nan")
    largest = float(positions["weight"].max()) if len(positions) else 0.0
    gross = float(positions["market_value"].sum()) / equity if equity else 0.0
    loss = max(0.0, 1 - equity / before) if before else 0.0
    rows = [
        ("open positions", f"{limits.max_positions}", f"{len(positions)}", len(positions) / limits.max_positions),
        ("largest position", f"{limits.max_position_pct:.0%} of equity", f"{largest:.1%}", largest / limits.max_position_pct),
        ("gross exposure", f"{1 - limits.cash_buffer:.0%} of equity", f"{gross:.1%}", gross / (1 - limits.cash_buffer)),
        ("cash buffer", f"at least {limits.cash_buffer:.0%}", f"{cash_share:.1%}",
         limits.cash_buffer / cash_share if cash_share > 0 else 1.0),
        ("day's loss", f"{limits.daily_loss_limit:.1%}", f"{loss:.2%}", loss / limits.daily_loss_limit),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["limit", "in_force", "in_use", "used"])


# -- reading --------------------------------------------------------------------------


def _empty(day, book, starting, note: str) -> DailyBook:
    day = pd.Timestamp(day).date() if day is not None else None
    return DailyBook(
        day, book, starting,
        pd.DataFrame(columns=["date", "cash", "positions_value", "equity"]),
        pd.DataFrame(columns=POSITION_COLUMNS),
        pd.DataFrame(columns=["symbol", "strategy", "pnl"]),
        pd.DataFrame(columns=FILL_COLUMNS),
        _empty_usage(),
        (note,),
    )  # fmt: skip


def _empty_usage() -> pd.DataFrame:
    return pd.DataFrame(columns=["limit", "in_force", "in_use", "used"])


def _strategies(store, client_order_ids: pd.Series) -> pd.Series:
    """``<strategy> <config id>`` for ids that start with a registered config's id, else manual."""
    names = {record.config_id: record.strategy for record in list_configs(store)}
    prefix = client_order_ids.str.split("-", n=1).str[0]
    return prefix.map(lambda p: f"{names[p]} {p}" if p in names else MANUAL)


def _closes(
    store, fills: pd.DataFrame, sessions: pd.DatetimeIndex
) -> tuple[pd.DataFrame, list[str]]:
    """Each traded symbol's close (as traded) per session, carried forward over gaps."""
    symbols = sorted(fills["symbol"].unique())
    rows = store.query(
        "SELECT date, symbol, close FROM bars WHERE symbol IN (SELECT unnest(?)) AND date BETWEEN ? AND ?",
        [symbols, sessions[0].date(), sessions[-1].date()],
    )
    rows["date"] = pd.to_datetime(rows["date"])
    closes = rows.pivot(index="date", columns="symbol", values="close").reindex(
        index=sessions, columns=symbols
    )
    notes = []
    for symbol in symbols:
        known = closes[symbol].last_valid_index()
        if known is None or known < sessions[-1]:
            # No bar for the day yet: mark at the last close known, else the last fill's price.
            fallback = fills[fills["symbol"] == symbol]["price"].iloc[-1]
            since = (
                f"its last close of {known.date()}" if known is not None else "its last fill price"
            )
            notes.append(
                f"{symbol} has no bar for {sessions[-1].date()} in the store: marked at {since}."
            )
            closes[symbol] = closes[symbol].ffill().fillna(fallback)
        else:
            closes[symbol] = (
                closes[symbol].ffill().fillna(fills[fills["symbol"] == symbol]["price"].iloc[0])
            )
    return closes, notes


def _positions(
    store, book, fills, prices: pd.Series, equity: float, strategy: pd.Series
) -> pd.DataFrame:
    held = positions_from_fills(
        fills[["symbol", "signed", "price"]].itertuples(index=False, name=None)
    )
    waiting = book_queries.orders(store, book, status="open", side="sell", limit=None)
    stops = waiting[waiting["type"] == "stop"].groupby("symbol")["stop_price"].max()
    rows = []
    for symbol, (qty, avg) in sorted(held.items()):
        price = float(prices[symbol])
        stop = stops.get(symbol, np.nan)
        rows.append({
            "symbol": symbol, "strategy": strategy.get(symbol, MANUAL), "qty": qty, "avg_price": avg,
            "price": price, "market_value": qty * price, "weight": qty * price / equity if equity else np.nan,
            "unrealised_pnl": (price - avg) * qty, "stop_price": stop, "risk_to_stop": (price - stop) * qty,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=POSITION_COLUMNS)


def _fills_of(fills: pd.DataFrame) -> pd.DataFrame:
    """The fills against the price each was decided at (the book's decision price), with slippage."""
    if fills.empty:
        return pd.DataFrame(columns=FILL_COLUMNS)
    frame = fills.assign(expected_price=fills["decision_price"].astype(float))
    sign = np.where(frame["side"] == "buy", 1.0, -1.0)
    frame["slippage_bps"] = sign * (frame["price"] / frame["expected_price"] - 1) * 1e4
    frame["slippage_cost"] = sign * (frame["price"] - frame["expected_price"]) * frame["qty"]
    return frame.reindex(columns=FILL_COLUMNS).reset_index(drop=True)


def _limits(store, notes: list[str]) -> RiskLimits | None:
    """The risk limits in force (as the loop reads them); None, with a note, when they are invalid."""
    controls = read_controls(store)
    if controls.limits_error is not None:
        notes.append(f"no risk limits to measure against: {controls.limits_error}")
        return None
    return controls.limits
