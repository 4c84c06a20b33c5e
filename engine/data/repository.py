"""Reading and writing bars in the store."""

from __future__ import annotations

import pandas as pd

from engine.data.bars import Bars
from engine.errors import InputError, NotFoundError


def load_bars(store, symbols: list[str], start=None, end=None, *, adjust: bool = True) -> Bars:
    """Stored daily bars for ``symbols`` from ``start`` to ``end`` (inclusive) as :class:`Bars`.

    Prices are split- and dividend-adjusted by default (see :meth:`Bars.from_long`).
    """
    if not symbols:
        raise InputError("the universe is empty", hint="name at least one symbol, e.g. --symbols AAPL")
    where, params = ["symbol IN (SELECT unnest(?))"], [list(symbols)]
    if start is not None:
        where.append("date >= ?")
        params.append(pd.Timestamp(start).date())
    if end is not None:
        where.append("date <= ?")
        params.append(pd.Timestamp(end).date())
    rows = store.query(
        "SELECT date, symbol, open, high, low, close, volume, adj_close FROM bars WHERE "
        + " AND ".join(where)
        + " ORDER BY symbol, date",
        params,
    )
    missing = sorted(set(symbols) - set(rows["symbol"].unique()))
    if missing:
        known = stored_symbols(store)
        window = f" between {start or 'the start'} and {end or 'the end'}" if (start or end) else ""
        raise NotFoundError(
            f"no stored bars for {', '.join(missing)}{window}",
            hint=(
                f"ingest them first (wb ingest --symbols {','.join(missing)}); "
                f"stored symbols: {', '.join(known) or 'none'}"
            ),
        )
    return Bars.from_long(rows, adjust=adjust).select(list(symbols))


def stored_symbols(store) -> list[str]:
    """Symbols with at least one stored bar, sorted."""
    return store.query("SELECT DISTINCT symbol FROM bars ORDER BY symbol")["symbol"].tolist()
