"""Brokers: one interface (:class:`Broker`), a paper broker in the store, and Alpaca.

Every broker takes an :class:`OrderRequest` and answers in :class:`Order`,
:class:`Position`, :class:`Account` and :class:`Clock` records (naive UTC times)::

    broker = open_broker("paper", store=store)          # or "alpaca" (APCA_* keys)
    broker.submit(OrderRequest(symbol="AAPL", side="buy", qty=10,
                               client_order_id="cfg1-AAPL-buy-2024-05-01"))
    broker.orders("open"); broker.positions(); broker.account(); broker.clock()

How the live loop is meant to drive one, step by step:

1. ``broker.process_bar(day, bars)`` with the new bar first: a simulated market (the
   paper broker, ``broker.capabilities.simulated``) fills orders placed in earlier steps
   at this bar's prices; a real one has moved by itself. Repeating a day is harmless.
2. Compute signals, size, gate; then ``broker.submit_many(requests)`` (one store
   transaction for the paper broker). Client order ids must be deterministic, e.g.
   ``f"{config_id}-{symbol}-{side}-{bar_date}"``: a repeated step then gets the orders
   it already placed, never a second set.
3. Reconcile from ``broker.snapshot(...)``: account, positions, open orders and the news
   of the orders it tracks (one read where the broker can).

Refusals raise :class:`OrderRejected` (``.reason`` is the broker's words; the client
order id is not used up); an unreachable broker raises :class:`BrokerUnavailable`
(retry later; resubmitting is safe). Both are :mod:`engine.errors` classes.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from engine.brokers import base
from engine.brokers.base import *  # noqa: F403 (the interface and its records: base.__all__)
from engine.brokers.paper_rules import Costs
from engine.errors import InputError

#: Every broker by name: ``module:Class`` of its :class:`Broker` (imported only when asked
#: for, so alpaca-py loads only for Alpaca). A new broker is its module, its stand-in,
#: its tests and one line here.
BROKERS = {
    "paper": "engine.brokers.paper:PaperBroker",
    "alpaca": "engine.brokers.alpaca:AlpacaBroker",
}
_SETTINGS = {f.name for f in dataclasses.fields(base.BrokerSettings)}


def open_broker(
    name: str, *, store=None, live: bool | None = False, **options: Any
) -> base.Broker:
    """The broker called ``name`` (one of :data:`BROKERS`), built from its settings.

    ``store`` is where the paper broker keeps its books; ``live=True`` trades real money
    and only ever comes from an explicit live flag. Options named like a
    :class:`BrokerSettings` field (``account``, ``actor``, ``now``, ``opening_cash``,
    ``fees``, ``slippage``, ``existing_only``) go to every broker, which takes those that
    apply to it; the rest are that broker's own keywords.
    """
    common = {key: options.pop(key) for key in list(options) if key in _SETTINGS}
    settings = base.BrokerSettings(store=store, live=live, **common)
    return broker_class(name).from_settings(settings, **options)


def broker_class(name: str) -> type[base.Broker]:
    """The :class:`Broker` called ``name``, to read its capabilities before building one."""
    where = BROKERS.get(str(name).lower())
    if where is None:
        raise InputError(f"unknown broker {name!r}", hint=f"choose one of: {', '.join(BROKERS)}")
    module, _, cls = where.partition(":")
    return getattr(importlib.import_module(module), cls)


def open_book(store, book: str, *, actor: str) -> base.Broker:
    """The broker account of an existing ``book`` (``paper:<account>``, ``alpaca:live``, ...).

    What the control room flattens through when no loop runs. An account that was never
    opened is a NotFoundError: there is nothing in it.
    """
    name, _, account = str(book).lower().partition(":")
    return open_broker(
        name, store=store, live=None, account=account or None, actor=actor, existing_only=True
    )


__all__ = [  # noqa: F405 (PaperBroker comes from __getattr__, below)
    *base.__all__, "BROKERS", "Costs", "PaperBroker", "broker_class", "open_book", "open_broker",
]


def __getattr__(name: str):
    # The paper broker loads on first use: it imports pandas and the NYSE calendar, which
    # `wb --help` (the CLI reads BROKERS for its choices) should not pay for.
    if name == "PaperBroker":
        from engine.brokers.paper import PaperBroker

        return PaperBroker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
