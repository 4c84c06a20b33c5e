"""The paper broker's books as others read them: the only reads of its tables outside the broker.

The control room, the daily report and the CLI read a book through
:mod:`engine.live.book_queries`; for a ``paper:<account>`` book it asks here for the
account's own record, which is richer than the loop's (time in force, the broker's
statuses, attached stops, one row per fill): its orders, its fills with the bar each was
decided on, its positions and cash as :class:`~engine.brokers.paper.PaperBroker` computes
them, and when it last traded by the wall clock (its events').
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from engine.brokers import _paper_books as books
from engine.brokers.base import Position
from engine.store.reading import conditions, newest_rows, on_one_connection

#: Statuses of an order that can still fill, as the control room's "open" filter means them.
OPEN_STATUSES = ("new", "accepted", "partially_filled", "pending_cancel")
#: Events that say the account traded (their time is the wall clock, even in a replay).
_TRADING_EVENTS = ["paper.account.opened", "paper.order.submitted", "paper.order.filled"]
_ORDER_COLUMNS = (
    "submitted_at, after_bar AS decision_bar, symbol, side, qty, type, limit_price, stop_price,"
    " time_in_force, status, filled_qty, filled_avg_price, client_order_id, updated_at, id"
)


@dataclass(frozen=True)
class PaperAccount:
    name: str
    starting_cash: float
    last_bar: date | None  # the newest bar it processed


@dataclass(frozen=True)
class PaperBook:
    """A paper account now: its cash, its positions marked at their last close, its equity."""

    account: PaperAccount
    cash: float
    positions: list[Position]

    @property
    def equity(self) -> float:
        return self.cash + float(sum(p.market_value for p in self.positions))


def accounts(store) -> list[PaperAccount]:
    """Every paper account in the store, oldest first."""
    rows = store.query(
        "SELECT account, starting_cash, last_bar_date FROM paper_accounts ORDER BY created_at"
    )
    return [
        PaperAccount(str(name), float(cash), None if pd.isna(last) else pd.Timestamp(last).date())
        for name, cash, last in rows.itertuples(index=False, name=None)
    ]


def last_traded(store, names: list[str]) -> dict[str, datetime]:
    """When each of these accounts last traded (opened, took or filled an order), wall clock UTC."""
    if not names:
        return {}
    # An account's opening names it as the event's subject; its orders name it in the payload.
    rows = store.query(
        "SELECT coalesce(json_extract_string(payload, '$.account'), subject) AS account,"
        " max(ts) AS at FROM events WHERE kind IN (SELECT unnest(?)) GROUP BY ALL",
        [_TRADING_EVENTS],
    )
    return {
        str(account): pd.Timestamp(at).to_pydatetime()
        for account, at in rows.itertuples(index=False, name=None)
        if account in names
    }


@on_one_connection
def account_book(store, account: str) -> PaperBook | None:
    """The account's cash and positions as the paper broker computes them; None if there is none."""
    found = [a for a in accounts(store) if a.name == account]
    if not found:
        return None
    con = store.con
    return PaperBook(
        found[0], books.cash(con, account, found[0].starting_cash), books.positions(con, account)
    )


def orders(store, account: str, *, symbols: list[str] | None = None, side: str | None = None,
           status: str | None = None, since: date | None = None,
           limit: int | None = None) -> pd.DataFrame:  # fmt: skip
    """The account's orders, newest first; ``status`` "open" means any that can still fill."""
    where, params = conditions([
        *_filters(account, symbols, side),
        ("status IN (SELECT unnest(?))", list(OPEN_STATUSES) if status == "open" else None),
        ("status = ?", status if status != "open" else None),
        ("submitted_at >= ?", since),
    ])  # fmt: skip
    return newest_rows(
        store,
        f"SELECT {_ORDER_COLUMNS} FROM paper_orders WHERE " + " AND ".join(["{newest}", *where])
        + f" ORDER BY seq DESC{_limit(limit)}",
        params, table="paper_orders", key="seq", limit=limit,
    )  # fmt: skip


def fills(store, account: str, *, symbols: list[str] | None = None, side: str | None = None,
          since: date | None = None, limit: int | None = None) -> pd.DataFrame:  # fmt: skip
    """The account's fills, newest first, each with its order's type and the bar it was decided on."""
    where, params = conditions([*_filters(account, symbols, side), ("bar_date >= ?", since)])
    return newest_rows(
        store,
        "WITH f AS (SELECT * FROM paper_fills WHERE " + " AND ".join(["{newest}", *where])
        + f" ORDER BY seq DESC{_limit(limit)})"
        " SELECT f.filled_at, f.bar_date, f.symbol, f.side, f.qty, f.price, f.fee, o.type,"
        " o.after_bar AS decision_bar, f.client_order_id, f.order_id"
        " FROM f JOIN paper_orders o ON o.id = f.order_id ORDER BY f.seq DESC",
        params, table="paper_fills", key="seq", limit=limit,
    )  # fmt: skip


def fill_sides(store, account: str, *, since: date) -> pd.DataFrame:
    """(bar_date, symbol, side) of the account's fills on or after ``since``: what day trades are."""
    return store.query(
        "SELECT bar_date, symbol, side FROM paper_fills WHERE account = ? AND bar_date >= ?",
        [account, since],
    )


def newest_fill(store, account: str) -> int | None:
    """A number that grows with every fill of the account (None before the first)."""
    seq = store.scalar("SELECT max(seq) FROM paper_fills WHERE account = ?", [account])
    return None if seq is None or pd.isna(seq) else int(seq)


def traded_symbols(store, account: str) -> list[str]:
    """Symbols the account has ever had an order in."""
    rows = store.query(
        "SELECT DISTINCT symbol FROM paper_orders WHERE account = ? ORDER BY symbol", [account]
    )
    return rows["symbol"].tolist()


def _filters(account: str, symbols, side) -> list[tuple[str, object]]:
    return [("account = ?", account), ("symbol IN (SELECT unnest(?))", list(symbols or [])),
            ("side = ?", side)]  # fmt: skip


def _limit(limit: int | None) -> str:
    return "" if limit is None else f" LIMIT {int(limit)}"
