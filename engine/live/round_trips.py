"""Closed trades (round trips) from a book's fills, matched first in, first out.

A round trip is a position in one symbol from flat back to flat: its entry fills (one, or
several scale-ins, each possibly a partial fill) and its exit fills. Each exit share is
matched to the oldest entry share still open (FIFO), so a partial exit realises the P&L of
the first shares bought, and a fill that crosses zero (sell more than held) closes the trip
and opens one the other way with the rest. Prices are the fills' traded prices; a fill's fee
is spread over its shares, so a trip's realised P&L is net of the fees of the shares it
closed.

What the numbers add up to, whatever the fills (tested as a property): the round trips'
realised P&L plus the open shares' P&L at a mark equals the book's cash flows plus the
open position at that mark; for a book that ends flat, the trips' P&L is its cash flow.

>>> import pandas as pd
>>> fills = pd.DataFrame({
...     "filled_at": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-05"]),
...     "symbol": "AAPL", "side": ["buy", "buy", "sell"], "qty": [10.0, 10.0, 20.0],
...     "price": [100.0, 110.0, 120.0], "fee": 0.0, "config_id": "abc"})
>>> trip = round_trips(fills).iloc[0]
>>> float(trip.entry_price), float(trip.exit_price), float(trip.realised_pnl), trip.held.days
(105.0, 120.0, 300.0, 3)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ROUND_TRIP_COLUMNS = [
    "symbol", "direction", "config_id", "opened_at", "closed_at", "held", "qty", "entry_price",
    "exit_price", "realised_pnl", "return_pct", "fees", "entries", "exits", "open_qty",
]  # fmt: skip
#: Shares below this are rounding left by fractional fills, not a position.
FLAT = 1e-9


@dataclass
class _Lot:
    """Entry shares still open: how many, at what price, their fee per share, when."""

    qty: float
    price: float
    fee_per_share: float


@dataclass
class _Trip:
    symbol: str
    direction: int  # +1 long, -1 short
    config_id: str | None
    opened_at: int  # nanoseconds since the epoch, UTC
    lots: deque = field(default_factory=deque)
    entered: float = 0.0  # shares bought (long) or sold short, over all entry fills
    open_qty: float = 0.0  # of those, the shares not closed yet
    entry_cost: float = 0.0  # their price x qty
    exited: float = 0.0
    exit_value: float = 0.0
    realised: float = 0.0  # net of the fees of the shares closed
    fees: float = 0.0  # realised fees
    cost_closed: float = 0.0  # entry price x qty of the shares closed (the return's base)
    entries: int = 0
    exits: int = 0
    closed_at: int | None = None

    def enter(self, qty: float, price: float, fee: float) -> None:
        self.lots.append(_Lot(qty, price, fee / qty))
        self.entered += qty
        self.open_qty += qty
        self.entry_cost += qty * price
        self.entries += 1

    def exit(self, qty: float, price: float, fee: float, at: int) -> None:
        """Closes ``qty`` shares at ``price``, oldest lots first."""
        exit_fee_per_share = fee / qty
        left = qty
        while left > FLAT and self.lots:
            lot = self.lots[0]
            matched = min(lot.qty, left)
            fees = (lot.fee_per_share + exit_fee_per_share) * matched
            self.realised += self.direction * (price - lot.price) * matched - fees
            self.fees += fees
            self.cost_closed += lot.price * matched
            lot.qty -= matched
            left -= matched
            if lot.qty <= FLAT:
                self.lots.popleft()
        self.exited += qty
        self.exit_value += qty * price
        self.exits += 1
        self.open_qty = max(self.open_qty - qty, 0.0)
        if not self.lots:
            self.open_qty = 0.0
            self.closed_at = at

    def row(self) -> dict:
        return {
            "symbol": self.symbol, "direction": "long" if self.direction > 0 else "short",
            "config_id": self.config_id, "opened_at": self.opened_at, "closed_at": self.closed_at,
            "held": (self.closed_at - self.opened_at) if self.closed_at is not None else None,
            "qty": self.entered, "entry_price": self.entry_cost / self.entered,
            "exit_price": self.exit_value / self.exited if self.exited else np.nan,
            "realised_pnl": self.realised,
            "return_pct": self.realised / self.cost_closed if self.cost_closed else np.nan,
            "fees": self.fees, "entries": self.entries, "exits": self.exits,
            "open_qty": self.open_qty,
        }  # fmt: skip


def round_trips(fills: pd.DataFrame) -> pd.DataFrame:
    """Every round trip in ``fills`` (ROUND_TRIP_COLUMNS), in the order they opened.

    ``fills`` has ``filled_at, symbol, side, qty, price, fee`` and optionally
    ``config_id`` (the strategy of the trip is its first entry fill's). A trip still open
    has no ``closed_at`` and carries ``open_qty`` shares; its ``realised_pnl`` is what its
    partial exits realised so far. ``held`` is first entry to last exit; ``return_pct`` is
    the realised P&L over the entry cost of the shares closed.
    """
    if fills.empty:
        return pd.DataFrame(columns=ROUND_TRIP_COLUMNS)
    # A stable sort: fills of one instant keep the order they were given in.
    ordered = fills.sort_values("filled_at", kind="stable")
    owners = (
        ordered["config_id"] if "config_id" in ordered else pd.Series(None, index=ordered.index)
    )
    columns = zip(
        # Times as integer nanoseconds in the loop (Timestamps per fill cost more than the matching).
        pd.to_datetime(ordered["filled_at"]).to_numpy("datetime64[ns]").astype("int64").tolist(),
        ordered["symbol"].tolist(),
        ordered["side"].tolist(), ordered["qty"].astype(float).tolist(),
        ordered["price"].astype(float).tolist(),
        ordered["fee"].astype(float).fillna(0.0).tolist(), owners.tolist(),
        strict=True,
    )  # fmt: skip
    trips: list[_Trip] = []
    current: dict[str, _Trip] = {}
    for at, symbol, side, qty, price, fee, owner in columns:
        if qty <= FLAT:
            continue
        sign = 1 if side == "buy" else -1
        config_id = owner if isinstance(owner, str) and owner else None
        trip = current.get(symbol)
        if trip is not None and trip.direction != sign:
            closing = min(qty, trip.open_qty)
            trip.exit(closing, price, fee * closing / qty, at)
            if trip.closed_at is not None:
                del current[symbol]
            fee, qty = fee * (qty - closing) / qty, qty - closing
            if qty <= FLAT:
                continue
            trip = None  # the rest of a fill that crossed zero opens the other way
        if trip is None:
            trip = _Trip(symbol, sign, config_id, at)
            current[symbol] = trip
            trips.append(trip)
        elif trip.config_id is None:
            trip.config_id = config_id
        trip.enter(qty, price, fee)
    found = pd.DataFrame([t.row() for t in trips], columns=ROUND_TRIP_COLUMNS)
    for column in ("opened_at", "closed_at"):
        found[column] = pd.to_datetime(found[column], unit="ns")
    found["held"] = pd.to_timedelta(found["held"], unit="ns")
    return found


def closed(trips: pd.DataFrame) -> pd.DataFrame:
    """The round trips that are back to flat, newest close first."""
    done = trips[trips["closed_at"].notna()]
    return done.sort_values("closed_at", ascending=False, ignore_index=True)


def realised_pnl(trips: pd.DataFrame) -> float:
    """The book's realised P&L: every trip's, closed or still open (its partial exits)."""
    return float(trips["realised_pnl"].sum()) if len(trips) else 0.0
