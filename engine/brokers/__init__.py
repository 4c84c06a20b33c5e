"""Brokers: one interface (:class:`Broker`), a paper broker in the store, and Alpaca.

Every broker takes an :class:`OrderRequest` and answers in :class:`Order`,
:class:`Position`, :class:`Account` and :class:`Clock` records (naive UTC times)::

    broker = open_broker("paper", store=store)          # or "alpaca" (APCA_* keys)
    broker.submit(OrderRequest(symbol="AAPL", side="buy", qty=10,
                               client_order_id="cfg1-AAPL-buy-2024-05-01"))
    broker.orders("open"); broker.positions(); broker.account(); broker.clock()

How the live loop is meant to drive one, step by step:

1. Paper broker only: ``broker.process_bar(day, bars)`` with the new bar first. Orders
   placed in earlier steps fill at this bar's prices; repeating a day is harmless.
2. Compute signals, size, gate; then ``broker.submit_many(requests)`` (one store
   transaction for the paper broker). Client order ids must be deterministic, e.g.
   ``f"{config_id}-{symbol}-{side}-{bar_date}"``: a repeated step then gets the orders
   it already placed, never a second set.
3. Reconcile from ``orders("all", after=...)``, ``positions()`` and ``account()``.

Refusals raise :class:`OrderRejected` (``.reason`` is the broker's words; the client
order id is not used up); an unreachable broker raises :class:`BrokerUnavailable`
(retry later; resubmitting is safe). Both are :mod:`engine.errors` classes.
"""

from __future__ import annotations

from typing import Any

from engine.brokers.base import (
    Account,
    Broker,
    BrokerUnavailable,
    Clock,
    Fill,
    Order,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
    new_client_order_id,
)
from engine.brokers.paper import PaperBroker
from engine.brokers.paper_rules import Costs
from engine.errors import InputError

BROKERS = ("paper", "alpaca")


def open_broker(name: str, *, store=None, live: bool = False, **options: Any) -> Broker:
    """The broker called ``name`` ("paper" or "alpaca"), built with ``options``.

    ``store`` is required for the paper broker; ``live=True`` is only for Alpaca and
    only from an explicit live flag. Options are the constructors' keywords.
    """
    name = str(name).lower()
    if name == "paper":
        if live:
            raise InputError("live trading needs the Alpaca broker", hint="use --broker alpaca")
        if store is None:
            raise InputError("the paper broker keeps its books in the store; pass store=")
        return PaperBroker(store, **options)
    if name == "alpaca":
        from engine.brokers.alpaca import AlpacaBroker  # alpaca-py is only loaded when used

        return AlpacaBroker(live=live, **options)
    raise InputError(f"unknown broker {name!r}", hint=f"choose one of: {', '.join(BROKERS)}")


__all__ = [
    "BROKERS",
    "Account",
    "Broker",
    "BrokerUnavailable",
    "Clock",
    "Costs",
    "Fill",
    "Order",
    "OrderRejected",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "PaperBroker",
    "Position",
    "Side",
    "TimeInForce",
    "new_client_order_id",
    "open_broker",
]
