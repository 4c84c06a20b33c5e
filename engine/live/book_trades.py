"""A book's round trips and its trading in one symbol, read through the broker-neutral queries.

The control room's Performance page and its price chart read here; the matching itself is
:mod:`engine.live.round_trips` and the figures :mod:`engine.live.performance`. A fill's
strategy is the config the loop recorded for its order, else the config its client order
id starts with (the loop names orders ``<config id>-...``), else ``manual``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine.config.models import ID_LENGTH
from engine.live import book_queries
from engine.live.performance import strategy_label
from engine.live.round_trips import round_trips
from engine.research.config_registry import list_configs
from engine.store.reading import on_one_connection


@dataclass(frozen=True)
class BookTrades:
    """A book's round trips with their strategy's name, and what the P&L is measured from."""

    book: str | None
    trips: pd.DataFrame  # ROUND_TRIP_COLUMNS + strategy (name · short id, or manual)
    starting_cash: float | None
    fills: int  # how many fills the trips were matched from


@on_one_connection
def book_trades(store, book: str | None) -> BookTrades:
    """Every round trip of ``book`` (FIFO over all its fills, at traded prices)."""
    if book is None:
        return BookTrades(None, round_trips(pd.DataFrame()), None, 0)
    # Oldest first, so fills of one instant keep the broker's order (an exit, then a re-entry).
    fills = book_queries.fills(store, book, limit=None).iloc[::-1].reset_index(drop=True)
    names = {record.config_id: record.strategy for record in list_configs(store)}
    fills = fills.assign(config_id=owners(fills, set(names)))
    trips = round_trips(fills)
    trips.insert(2, "strategy", trips["config_id"].map(lambda c: strategy_label(c, names)))
    return BookTrades(book, trips, book_queries.starting_cash(store, book), len(fills))


def owners(fills: pd.DataFrame, config_ids: set[str]) -> pd.Series:
    """The config each fill traded for: the loop's record, else its client order id's prefix."""
    recorded = fills["config_id"].notna() & (fills["config_id"] != "")
    ids = fills.loc[~recorded, "client_order_id"].astype(str)
    prefix = ids.str.slice(0, ID_LENGTH)  # a loop's order id: '<config id>-<symbol>-...'
    named = prefix.where(prefix.isin(config_ids) & (ids.str.slice(ID_LENGTH, ID_LENGTH + 1) == "-"))
    return fills["config_id"].where(recorded, named.reindex(fills.index))


@dataclass(frozen=True)
class SymbolTrading:
    """One symbol's fills and marked stops in a book, to draw on its price chart."""

    fills: pd.DataFrame  # book_queries.FILL_COLUMNS, oldest first
    stops: pd.DataFrame  # bar_date, stop_price: the stop the loop kept at each bar it marked


@on_one_connection
def symbol_trading(store, book: str | None, symbol: str) -> SymbolTrading:
    """``symbol``'s fills (all of them, oldest first) and stops in ``book``."""
    fills = book_queries.fills(store, book, symbols=[symbol], limit=None).iloc[::-1]
    stops = book_queries.marked_stops(store, book, symbol)
    return SymbolTrading(fills.reset_index(drop=True), stops)
