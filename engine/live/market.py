"""How a step moves a broker's market to the bar it acts on, and reads the broker back.

A real broker's market moves by itself. The paper broker's moves when the loop hands it
the day's bar (:meth:`~engine.brokers.paper.PaperBroker.process_bar`): orders placed at
the last close fill at that bar's prices, before the loop looks at the book.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from engine.brokers.base import Broker
from engine.data.bars import Bars
from engine.errors import NotFoundError
from engine.live.model import LiveOrder
from engine.live.reconcile import BrokerView


class PaperMarket:
    """The paper broker's market: each step's bar goes through its books first."""

    def __init__(self, broker):
        self.broker = broker

    def advance(self, day: date, bars: Bars) -> None:
        self.broker.process_bar(day, bars)


class RealMarket:
    """A broker whose market moves on its own (Alpaca): nothing to hand over."""

    def advance(self, day: date, bars: Bars) -> None:
        return None


def market_for(broker: Broker):
    """The market driver a broker needs."""
    return PaperMarket(broker) if hasattr(broker, "process_bar") else RealMarket()


def broker_view(
    broker: Broker, tracked: dict[str, LiveOrder], *, closed_since: datetime | None = None
) -> BrokerView:
    """The broker's account, positions, open orders, and the news of the orders the loop tracks.

    The paper broker answers in one read; others in a few calls. ``closed_since`` also
    lists the orders that closed since then: an attached stop that filled in its entry's
    bar, or anything that happened while the loop was down.
    """
    ids = [o.broker_order_id for o in tracked.values() if o.broker_order_id]
    snapshot = getattr(broker, "snapshot", None)
    if snapshot is not None:
        account, positions, open_orders, named = snapshot(ids, closed_since)
        looked_up = {o.id: o for o in named if o.id in set(ids)}
        recent = [o for o in named if o.id not in looked_up]
    else:
        account = broker.account()
        positions = broker.positions()
        open_orders = broker.orders("open")
        still_open = {o.id for o in open_orders}
        looked_up = {}
        for order_id in ids:
            if order_id in still_open:
                continue
            try:
                looked_up[order_id] = broker.get_order(order_id)
            except NotFoundError:
                continue  # reconciliation reports the order the broker no longer knows
        recent = []
        if closed_since is not None:
            # Alpaca filters by submission time: look a day further back, keep the late closes.
            recent = [
                o
                for o in broker.orders("closed", after=closed_since - timedelta(days=1))
                if o.updated_at is None or o.updated_at > closed_since
            ]
    return BrokerView(
        account=account,
        positions={p.symbol: p for p in positions},
        open_orders=list(open_orders),
        looked_up=looked_up,
        recent_closed=list(recent),
    )
