"""One column of a book at one bar: its exit, its entry and its bracket, and their fills.

The order loop of every backtest (:func:`engine.backtest._simulate.simulate`) and the fast
sweep's kernel (:mod:`engine.backtest.fast._kernel`) trade each column with these
functions, so a rule of fills or stops is written once, here or in
:mod:`engine.backtest.rules` (which decides sizes and stops and fills an order); the loops
only say in which order the columns of a book go and what they record. Plain Python,
run as such for a small backtest and compiled with the loops otherwise
(:mod:`engine.backtest._compile`).

A column's state is its ``position`` (shares), its stop (``stop_frac``, ``stop_anchor``:
NaN for none), its profit target (``target``, a price: NaN for none) and the book's
``cash``. The stop and the target rest together as one bracket (one cancels the other),
judged by :func:`engine.backtest.rules.bracket_exit`. The decisions (:func:`exit_order`,
:func:`bracket_order`) are small, so that the compiled loops inline them on every bar; the
fills (:func:`sell`, :func:`buy`) give the state back with the :class:`Fill`.
``terms`` are the settings (:class:`engine.backtest.rules.Terms`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from engine.backtest.rules import (
    HIT_STOP,
    HIT_TARGET,
    bracket_exit,
    entry_size,
    fill_order,
    stop_fraction,
    stop_level,
    target_level,
    trailed_anchor,
)

#: Why an order was placed, one code per order record.
REASON_ENTRY = 0
REASON_SIGNAL = 1
REASON_STOP = 2
REASON_END = 3  # closed at the last bar's close because the window ended
REASON_CLOSE = 4  # sold at the close the book is flat by (flat_by_close)
REASON_TARGET = 5  # the profit target filled


class Fill(NamedTuple):
    """What one order did: shares filled, at what price (slippage in), the fee, and whether it filled."""

    size: float
    price: float
    fees: float
    filled: bool


#: No order: nothing filled (a position's fill before it was bought).
NO_FILL = Fill(np.nan, np.nan, np.nan, False)


def fill(cash, position, size, price, fees, slippage):
    """(cash, position, :class:`Fill`) after one long-only order (size < 0 sells)."""
    cash, position, shares, fill_price, paid, done = fill_order(
        cash, position, size, price, fees, slippage
    )
    return cash, position, Fill(shares, fill_price, paid, done)


def sell(terms, cash, position, stop_frac, stop_anchor, target, price, reason):
    """(cash, position, stop_frac, stop_anchor, target, result): the whole position sold at
    ``price`` for ``reason`` (a REASON_* code).

    A target is a resting limit: it fills at its price, without slippage; every other sale
    is a market order and slips. Flat after it, the position has no stop and no target.
    """
    slippage = 0.0 if reason == REASON_TARGET else terms.slippage
    cash, position, result = fill(cash, position, -position, price, terms.fees, slippage)
    if position == 0:
        stop_frac = stop_anchor = target = np.nan
    return cash, position, stop_frac, stop_anchor, target, result


def exit_order(
    terms, planned, exit_signal, position, stop_frac, stop_anchor, target, open_, high, low,
    close,
):  # fmt: skip
    """(the price a column's position sells at this bar, NaN for none; why; its stop's anchor).

    First a stop or a target the open gapped through (sold at the open). At the open
    (``next_open``), then the exit ``planned`` at the close before; at the close, the
    bracket on the bar's range (:func:`~engine.backtest.rules.bracket_exit`: a stop the low
    reached sells at its level, a target the high reached at its price, the stop first when
    the bar reached both), else the ``exit_signal`` (at the close), and a stop not reached
    trails up to the bar's high. Nothing sells where nothing is held or the symbol has no
    bar.
    """
    price = np.nan
    reason = REASON_SIGNAL
    if position <= 0 or np.isnan(close):
        return price, reason, stop_anchor
    if not (np.isnan(stop_frac) and np.isnan(target)):
        # At the open only the gaps count: the rest of the bar is bracket_order's.
        reach_high = open_ if terms.at_open else high
        reach_low = open_ if terms.at_open else low
        price, hit = bracket_exit(
            open_, reach_high, reach_low, stop_level(stop_anchor, stop_frac), target
        )
        if hit == HIT_STOP:
            reason = REASON_STOP
        elif hit == HIT_TARGET:
            reason = REASON_TARGET
        elif not terms.at_open and terms.trailing and not np.isnan(stop_frac):
            stop_anchor = trailed_anchor(stop_anchor, high)
    if np.isnan(price):
        if terms.at_open:
            if planned:
                price = open_
                # Planned without an exit signal: the stop rose to the close.
                reason = REASON_SIGNAL if exit_signal else REASON_STOP
        elif exit_signal:
            price = close
    return price, reason, stop_anchor


def bracket_order(terms, position, stop_frac, stop_anchor, target, open_, high, low, close):
    """(the price the stop or the target sells at inside this bar, after the open, NaN for
    none; why; the stop's anchor).

    :func:`~engine.backtest.rules.bracket_exit` on the whole bar: a low at or below the
    stop's level sells there, or at the open when an entry's level (set at the decision's
    close) was above it; a high at or above the target sells at the target, or at the open
    when the open was beyond it; the stop first when the bar reached both. A stop not
    reached trails up to the bar's high.
    """
    if position <= 0 or np.isnan(close) or (np.isnan(stop_frac) and np.isnan(target)):
        return np.nan, REASON_STOP, stop_anchor
    price, hit = bracket_exit(open_, high, low, stop_level(stop_anchor, stop_frac), target)
    if hit == HIT_STOP:
        return price, REASON_STOP, stop_anchor
    if hit == HIT_TARGET:
        return price, REASON_TARGET, stop_anchor
    if terms.trailing and not np.isnan(stop_frac):
        stop_anchor = trailed_anchor(stop_anchor, high)
    return np.nan, REASON_STOP, stop_anchor


def size_at_close(terms, equity, cash, price, stop_distance):
    """Shares an entry filled at its own bar's close buys (``execution="close"``); 0.0 for none."""
    return entry_size(
        terms.size_mode,
        equity,
        cash,
        price,
        stop_distance,
        terms.fraction,
        terms.risk_per_trade,
        terms.fees,
        terms.slippage,
    )


def buy(terms, cash, size, price, decision, stop_distance, target_distance):
    """(cash, position, stop_frac, stop_anchor, target, result): ``size`` shares bought at
    ``price``.

    The stop and the target of a filled entry are set from the ``decision`` price it was
    sized at (levels ``decision - stop_distance`` and ``decision + target_distance``) and
    are live from the fill.
    """
    cash, position, result = fill(cash, 0.0, size, price, terms.fees, terms.slippage)
    stop_frac = stop_anchor = target = np.nan
    if result.filled:
        stop_frac = stop_fraction(decision, stop_distance)
        if not np.isnan(stop_frac):
            stop_anchor = decision
        target = target_level(decision, target_distance)
    return cash, position, stop_frac, stop_anchor, target, result
