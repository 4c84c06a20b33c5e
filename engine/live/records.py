"""The live loop's records: its orders, positions and book row, what it found (controls: engine.live.controls).

Plain frozen values. :mod:`engine.live.ledger` reads and writes them in the store;
:mod:`engine.live.reconcile` and :mod:`engine.live.decisions` decide with them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from engine.live.controls import Controls  # noqa: F401 - the loop's records include its controls
from engine.live.decisions import Holding, Ladder

if TYPE_CHECKING:
    from engine.live.clock import BarClose

OPEN = "open"
FILLED = "filled"
CLOSED_STATUSES = ("filled", "canceled", "expired", "rejected")


@dataclass(frozen=True)
class LiveOrder:
    """An order the loop sent, as it last saw it at the broker."""

    client_order_id: str
    config_id: str | None
    symbol: str
    side: str  # buy | sell
    purpose: str  # entry | exit | stop | manual
    qty: float
    type: str = "market"
    limit_price: float | None = None
    stop_price: float | None = None
    stop_loss_price: float | None = None
    #: The profit target sent with it (an entry's attached one, a stop's OCO leg), on the
    #: broker's tick; None: none.
    take_profit_price: float | None = None
    decision_bar: date | None = None
    decision_price: float | None = None
    stop_fraction: float | None = None
    broker_order_id: str | None = None
    status: str = OPEN
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    fees: float = 0.0
    filled_at: datetime | None = None
    realised_pnl: float | None = None
    reason: str | None = None
    created_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status == OPEN

    @property
    def cash_flow(self) -> float:
        """What the order's fills did to cash so far: a sale brings, a buy costs; fees cost."""
        value = self.filled_qty * (self.filled_avg_price or 0.0)
        return (value if self.side == "sell" else -value) - self.fees


@dataclass(frozen=True)
class LivePosition:
    """An open position as the loop keeps it: its owner and its stop (quantities: the broker's)."""

    symbol: str
    config_id: str | None
    qty: float
    avg_price: float
    opened_at: datetime
    last_buy_at: datetime
    entry_bar: date | None = None
    stop_fraction: float = math.nan
    stop_anchor: float = math.nan
    manual_stop: float | None = None
    trails: bool = False
    #: The profit target resting with its stop (a price; it does not trail). None: none.
    target_price: float | None = None
    #: A scale-in ladder's legs, each with its stop (None: no ladder; the stop is the
    #: position's own).
    ladder: Ladder | None = None

    def holding(self) -> Holding:
        return Holding(
            self.symbol, self.qty, self.stop_fraction, self.stop_anchor, self.manual_stop,
            self.target_price, self.ladder,
        )  # fmt: skip

    def after_bar(self, high: float) -> LivePosition:
        """The position after a bar with this ``high``: a trailing stop moves up."""
        if not self.trails:
            return self
        return replace(self, stop_anchor=self.holding().trailed(high).stop_anchor)

    @property
    def stop_price(self) -> float | None:
        return self.holding().stop_price


@dataclass(frozen=True)
class BookRow:
    """What the loop last recorded of a book."""

    cash: float
    equity: float
    bar_date: date | None
    configs: dict[str, float]
    updated_at: datetime
    bar_at: datetime | None = None  # an intraday loop's last bar stepped: its close, UTC


@dataclass(frozen=True)
class Difference:
    """Something the store and the broker disagree on, and whether the loop can account for it."""

    kind: str  # position | order | cash
    subject: str  # the symbol, client order id or "cash"
    what: str  # in a trader's words, with both figures
    explained: bool
    why: str = ""  # how it is explained, or what a person should check

    def payload(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "explained": self.explained, "why": self.why}


@dataclass(frozen=True)
class LoopOptions:
    """How a loop runs. ``gate_rules`` None means every rule of the gate."""

    mode: str = "replay"
    adopt_broker_state: bool = False
    gate_rules: tuple | None = None
    check_registry: bool = True
    #: The price increment stops are sent in; None: the broker's declared tick size.
    stop_tick: float | None = None
    #: Whether entries may buy fractions of a share (None: as the risk limits say, where
    #: the broker takes fractions). The backtest buys fractions; an account that trades
    #: whole shares rounds entries down.
    fractional_shares: bool | None = None
    actor: str = "loop"


@dataclass
class StepReport:
    """What one step did, for the log, the job runner and tests."""

    bar: date | BarClose  # a session (daily bars), or an intraday bar
    fills: int = 0
    submitted: list[str] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    equity: float | None = None
    skipped: str = ""

    def summary(self) -> str:
        if self.skipped:
            return f"{self.bar}: no decisions ({self.skipped})"
        equity = f", equity {self.equity:,.2f}" if self.equity is not None else ""
        return (
            f"{self.bar}: {self.fills} fills, {len(self.submitted)} orders sent, "
            f"{len(self.denied)} denied, {len(self.rejected)} rejected{equity}"
        )
