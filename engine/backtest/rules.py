"""The trading rules a backtest and the live loop share: what is decided at a close, and how.

One source of truth. The backtest's order loop (:func:`engine.backtest._simulate.simulate`)
and the fast sweep's kernel, which compile these functions with numba (their cache is
keyed to this source, :mod:`engine.backtest._compile`), and the live loop
(:mod:`engine.live`, which calls them as plain Python) make every sizing and stop
decision here, so a replay of a config with the paper broker makes the trades its
backtest made.

With ``execution="next_open"`` everything is decided at the close of the signal bar t, from
what is known then, and filled at bar t+1's open:

- **What is known at the close.** The book's cash; its positions marked at their last
  close (``mark``); its equity, ``cash + sum(position * mark)``; each symbol's close (the
  decision price); the strategy's signals and stop distances of bar t.
- **Exits.** A held position exits at the next open when bar t signals an exit, or when its
  stop level is at or above its close (a trailing stop lifted by a high that the close fell
  back from: a sell stop cannot rest above the market, so it is a market exit instead).
- **Free slots** are ``max_positions`` minus the positions still held after those exits.
- **The cash budget** is the cash plus what the exits are expected to bring:
  ``qty * mark * (1 - slippage) * (1 - fees)`` each (:func:`sale_proceeds`).
- **Entries** go in column order (the universe's order: that is how ties are broken) while
  a slot is free and the budget lasts. A symbol qualifies when bar t signals an entry and
  no exit, and it is not held. Its shares (:func:`entry_size`) come from the sizing rule at
  the decision price -- ``fraction * equity / price``, ``equity * risk_per_trade /
  stop_distance`` or, for ``"all"``, the whole budget -- and are cut to what the remaining
  budget pays at ``price * (1 + slippage) * (1 + fees)`` a share (:func:`unit_cost`). The
  last entry may be cut short; one with no stop distance under risk sizing is skipped.
- **The stop** of an entry is set from the decision: ``fraction = stop_distance / price``
  and ``anchor = price``, so its level is ``anchor * (1 - fraction)`` (:func:`stop_level`),
  i.e. ``close_t - stop_distance_t``. It is live from the fill, on the fill bar too. A
  trailing stop moves its anchor up to each bar's high once the bar is over
  (:func:`trailed_anchor`), keeping the fraction.

At the fill bar (the paper broker and the backtest do the same, in this order):

1. At the open, sells: a stop the open has gapped through fills at the open; planned exits
   fill at the open. Then buys, in column order, at the open. **Cash shortfalls:** a buy
   whose cost at the actual open exceeds the cash then in hand fills only the shares that
   cash pays for (vectorbt's partial fill; the rest is canceled). A planned order whose
   symbol has no bar that day lapses (a day order expires).
2. Inside the bar, stops (those of this bar's entries included): a low at or below the
   level fills at the level, or at the open if the open was already below it. Slippage
   and fees apply to every fill, stops included.
3. At the close, trailing anchors move up to the bar's high; positions are marked to it.

**Profit targets** (``take_profit``): an entry's target is set from the decision like its
stop, ``level = price + target_distance`` (:func:`target_level`), and does not trail. It
rests beside the stop as one bracket (one cancels the other). A bar's resting stop and
target are judged by :func:`bracket_exit`, decided once and conservatively because a daily
bar does not say which of its high and low came first: **an open at or beyond the target
fills the target at the open; otherwise a low at or below the stop fills the stop (at its
level, or at the open if the open was below it) even when the high also reached the
target; otherwise a high at or above the target fills the target at its level.** At the
open of the fill bar (step 1) only the gaps count (the open beyond either), as for stops.
A target is a resting limit sell: no slippage (it never fills worse than its price); a
stop is a market order once triggered and slips. The target needs a stop beside it (the
two travel as one bracket, see :mod:`engine.live.orders`). With ``flat_by_close`` the
bracket rests until the flat sale: the range of the bar the book goes flat by is judged by
this rule first (a stop it touched is never escaped at a better close), and only what it
left sells at that bar's close.

**Scale-in ladders** (``ladder``): a held position that does not exit at a close adds its
next leg when its open legs' average gain at that close, against their share-weighted
fill prices (:func:`average_gain`), reaches the leg's ``at``; the leg buys ``size`` x the
first leg's shares, cut to the budget the close's new entries left (:func:`plan_ladder`),
fills as an entry does, and rests its own stop (:mod:`engine.backtest._simulate`).

**Last bar.** Decisions taken at the close of the last bar have no bar to fill on: the
backtest drops them, and a replay leaves them as open orders at the broker.

With ``execution="close"`` a signal fills at its own bar's close: decision and fill see the
same price, so the order loop sizes with :func:`entry_size` at that close (budget: the
cash in hand after that close's exits), and stops start on the next bar.

Everything here is arithmetic on floats and numpy arrays (and :class:`Terms`, a tuple of
them), written so that numba compiles it unchanged: no Python objects, no exceptions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from engine.backtest.settings import BacktestSettings

SIZE_FRACTION = 0
SIZE_RISK = 1
SIZE_ALL = 2

#: Sizing rule names (BacktestSettings.size) to their codes.
SIZE_MODES = {"fraction": SIZE_FRACTION, "risk": SIZE_RISK, "all": SIZE_ALL}


class Terms(NamedTuple):
    """The settings the rules trade by, in the form compiled code reads (one argument)."""

    at_open: bool  # execution="next_open": decided at a close, filled at the next open
    size_mode: int  # SIZE_*
    fraction: float
    risk_per_trade: float
    fees: float
    slippage: float
    trailing: bool
    max_positions: int

    @classmethod
    def of(cls, settings: BacktestSettings) -> Terms:
        """The terms of ``settings``."""
        return cls(
            settings.execution == "next_open", SIZE_MODES[settings.size], settings.fraction,
            settings.risk_per_trade, settings.fees, settings.slippage, settings.trailing_stop,
            settings.max_positions,
        )  # fmt: skip


#: A budget left below this share of equity is rounding residue, not cash to buy with.
BUDGET_RESIDUE = 1e-9


#: Two amounts this close (relative; absolute below 1e-12) are the same amount. vectorbt's
#: tolerances, so that a fill here is its fill to the last bit (a test holds them together).
SAME_REL, SAME_ABS = 1e-9, 1e-12


def same_amount(a: float, b: float) -> bool:
    """True when ``a`` and ``b`` differ by rounding noise only (never for NaN or infinity)."""
    if np.isnan(a) or np.isnan(b) or np.isinf(a) or np.isinf(b):
        return False
    if a == b:
        return True
    return abs(a - b) <= max(SAME_REL * max(abs(a), abs(b)), SAME_ABS)


def plus(a: float, b: float) -> float:
    """``a + b``, exactly 0.0 when the two cancel but for rounding noise (a position sold out)."""
    if np.sign(a) != np.sign(b):
        if same_amount(abs(a), abs(b)):
            return 0.0
    elif same_amount(a + b, 0.0):
        return 0.0
    return a + b


def fill_order(cash: float, position: float, size: float, price: float, fees: float, slippage: float):
    """(cash, position, shares filled, fill price, fees paid, filled?) after a market order.

    ``size`` shares are bought (negative: sold) at ``price``, long only: slippage moves the
    price against the trader, the fee is a fraction of the fill's value. A buy the cash
    cannot pay in full fills the shares the cash pays for, fee included; a sell sells at
    most the position. Nothing fills for a NaN size or price, an empty purse or position,
    or a size that is rounding noise. vectorbt's ``execute_order_nb`` for such an order,
    step for step (the backtest's fills were vectorbt's before this rule was written down).
    """
    if same_amount(cash, 0.0):
        cash = 0.0
    if same_amount(position, 0.0):
        position = 0.0
    if np.isnan(size) or np.isnan(price):
        return cash, position, np.nan, np.nan, np.nan, False
    if size > 0.0:
        fill_price = price * (1.0 + slippage)
        if cash == 0.0:
            return cash, position, np.nan, np.nan, np.nan, False
        value = size * fill_price
        paid = value * fees
        if same_amount(value + paid, cash) or value + paid < cash:
            shares, spent = size, value + paid
        else:  # a partial fill: what the cash pays for, the fee included
            affordable = cash / (1.0 + fees)
            if affordable <= 0.0:
                return cash, position, np.nan, np.nan, np.nan, False
            shares, paid, spent = affordable / fill_price, cash - affordable, cash
        if same_amount(size, 0.0):
            return cash, position, np.nan, np.nan, np.nan, False
        return plus(cash, -spent), plus(position, shares), shares, fill_price, paid, True
    fill_price = price * (1.0 - slippage)
    shares = min(position, -size)
    if position == 0.0 or same_amount(shares, 0.0):
        return cash, position, np.nan, np.nan, np.nan, False
    value = shares * fill_price
    paid = value * fees
    proceeds = plus(value, -paid)
    if proceeds < 0.0:
        return cash, position, np.nan, np.nan, np.nan, False
    return cash + proceeds, plus(position, -shares), shares, fill_price, paid, True


def unit_cost(price: float, fees: float, slippage: float) -> float:
    """Cash one share bought at ``price`` costs: slippage against the buyer, then the fee."""
    return price * (1.0 + slippage) * (1.0 + fees)


def sale_proceeds(qty: float, price: float, fees: float, slippage: float) -> float:
    """Cash ``qty`` shares sold at ``price`` bring: slippage against the seller, less the fee."""
    return qty * price * (1.0 - slippage) * (1.0 - fees)


def entry_size(
    size_mode: int,
    equity: float,
    budget: float,
    price: float,
    stop_distance: float,
    fraction: float,
    risk_per_trade: float,
    fees: float,
    slippage: float,
) -> float:
    """Shares an entry decided at ``price`` buys: the sizing rule's, cut to ``budget``; 0.0 for none.

    ``stop_distance`` is the price distance per share to the stop (NaN: none; risk sizing
    then skips the entry).
    """
    if not price > 0.0 or not budget > 0.0:
        return 0.0
    cost = unit_cost(price, fees, slippage)
    if size_mode == SIZE_ALL:
        qty = budget / cost
    elif size_mode == SIZE_FRACTION:
        qty = fraction * equity / price
    else:
        if not stop_distance > 0.0:
            return 0.0
        qty = equity * risk_per_trade / stop_distance
    if qty * cost > budget:
        qty = budget / cost
    if not qty > 0.0:
        return 0.0
    return qty


def stop_fraction(price: float, stop_distance: float) -> float:
    """The stop's distance as a fraction of the decision ``price`` (NaN: no stop)."""
    if stop_distance > 0.0 and price > 0.0:
        return stop_distance / price
    return np.nan


def stop_level(anchor: float, fraction: float) -> float:
    """The price at which a long position's stop sells: ``anchor * (1 - fraction)``."""
    return anchor * (1.0 - fraction)


#: What sold a position in :func:`bracket_exit`.
HIT_NONE = 0
HIT_STOP = 1
HIT_TARGET = 2


def target_level(price: float, target_distance: float) -> float:
    """The price at which a long position's profit target sells: ``price + target_distance``
    (NaN: no target)."""
    if target_distance > 0.0 and price > 0.0:
        return price + target_distance
    return np.nan


def bracket_exit(bar_open: float, high: float, low: float, stop: float, target: float):
    """(price, HIT_*) at which a bar sells a position resting a ``stop`` and a ``target``.

    NaN ``stop`` or ``target``: that leg is not there; ``price`` NaN: neither fills. A bar
    that reaches both sells at the stop unless its open is already at or beyond the
    target (the conservative reading of a bar whose path inside is unknown).
    """
    if not np.isnan(target) and bar_open >= target:
        return bar_open, HIT_TARGET
    if not np.isnan(stop) and low <= stop:
        return min(bar_open, stop), HIT_STOP
    if not np.isnan(target) and high >= target:
        return target, HIT_TARGET
    return np.nan, HIT_NONE


def trailed_anchor(anchor: float, high: float) -> float:
    """A trailing stop's anchor after a bar with this ``high``: the higher of the two."""
    if high > anchor:
        return high
    return anchor


def leaves_at_close(exit_signal, mark: float, stop_frac: float, stop_anchor: float) -> bool:
    """Whether a held position exits at the next open: its exit signal, or a stop at or above
    its close (``mark``)."""
    if exit_signal:
        return True
    return not np.isnan(stop_frac) and stop_level(stop_anchor, stop_frac) >= mark


def may_buy(slots: int, budget: float, equity: float) -> bool:
    """Whether the book can take another entry: a free slot and a budget above rounding residue."""
    return slots > 0 and not budget <= equity * BUDGET_RESIDUE


def wants_entry(entry_signal, exit_signal, position: float) -> bool:
    """Whether a column asks to enter: an entry signal, no exit signal, and nothing held."""
    return entry_signal and not exit_signal and position == 0.0


def plan_close(
    entries,
    exits,
    stop_distance,
    price_row,
    sym_of_col,
    position,
    mark,
    stop_frac,
    stop_anchor,
    cash: float,
    max_positions: int,
    size_mode: int,
    fraction: float,
    risk_per_trade: float,
    fees: float,
    slippage: float,
    exiting,
    qty,
) -> float:
    """Fill ``exiting`` (bool) and ``qty`` (shares to buy, 0.0 for none): the book's decisions.

    One book at the close of a bar, per column: ``entries``/``exits`` are that bar's
    signals, ``stop_distance`` its stop distances, ``position`` the shares held, ``mark``
    the last close of each held symbol, ``stop_frac``/``stop_anchor`` each position's stop
    (NaN: none). ``price_row[sym_of_col[k]]`` is column k's decision price. See the module
    docstring for the rules; ``exiting`` and ``qty`` are written for every column. Gives
    back the budget the entries left (what a ladder's legs may spend, :func:`plan_ladder`).
    """
    n = len(entries)
    equity = cash
    budget = cash
    held = 0
    for k in range(n):
        exiting[k] = False
        qty[k] = 0.0
        if position[k] > 0.0:
            equity += position[k] * mark[k]
            if leaves_at_close(exits[k], mark[k], stop_frac[k], stop_anchor[k]):
                exiting[k] = True
                budget += sale_proceeds(position[k], mark[k], fees, slippage)
            else:
                held += 1
    slots = max_positions - held
    for k in range(n):
        if not may_buy(slots, budget, equity):
            break
        if not wants_entry(entries[k], exits[k], position[k]):
            continue
        price = price_row[sym_of_col[k]]
        size = entry_size(
            size_mode,
            equity,
            budget,
            price,
            stop_distance[k],
            fraction,
            risk_per_trade,
            fees,
            slippage,
        )
        if size > 0.0:
            qty[k] = size
            budget -= size * unit_cost(price, fees, slippage)
            slots -= 1
    return budget


def ladder_terms(settings: BacktestSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(each leg's average-gain threshold, shares as a fraction of the first leg's, stop as a
    fraction below its decision price) for ``settings.ladder``, the first leg's in front:
    (unused, 1, NaN: the settings' stop rule)."""
    legs = settings.ladder
    at = np.array([0.0, *(leg.at for leg in legs)])
    size = np.array([1.0, *(leg.size for leg in legs)])
    stop = np.array([np.nan, *(np.nan if leg.stop is None else leg.stop for leg in legs)])
    return at, size, stop


def average_gain(leg_qty, leg_price, mark: float) -> float:
    """The open legs' gain at ``mark`` as a fraction of their average entry price (NaN: none open).

    ``leg_qty``/``leg_price`` are each leg's shares held (0.0: closed or not taken) and
    fill price; the average is weighted by shares.
    """
    shares = 0.0
    cost = 0.0
    for j in range(len(leg_qty)):
        if leg_qty[j] > 0.0:
            shares += leg_qty[j]
            cost += leg_qty[j] * leg_price[j]
    if not shares > 0.0 or not cost > 0.0:
        return np.nan
    return mark * shares / cost - 1.0


def ladder_leg_due(taken: int, leg_qty, leg_price, mark: float, ladder_at) -> bool:
    """Whether a held position adds its next ladder leg (number ``taken``) at this close.

    ``ladder_at[j]`` is the average gain leg j needs (``ladder_at[0]``, the first leg's, is
    unused); ``taken`` legs were bought so far, so the next is leg ``taken``.
    """
    if taken < 1 or taken >= len(ladder_at):
        return False
    return average_gain(leg_qty, leg_price, mark) >= ladder_at[taken]


def ladder_leg_size(first_qty: float, size: float, budget: float, price: float, fees: float,
                    slippage: float) -> float:  # fmt: skip
    """Shares a ladder leg decided at ``price`` buys: ``size`` x the first leg's, cut to
    ``budget``; 0.0 for none."""
    if not price > 0.0 or not budget > 0.0 or not first_qty > 0.0:
        return 0.0
    qty = first_qty * size
    cost = unit_cost(price, fees, slippage)
    if qty * cost > budget:
        qty = budget / cost
    if not qty > 0.0:
        return 0.0
    return qty


def plan_ladder(
    exits,
    price_row,
    sym_of_col,
    exiting,
    leg_qty,
    leg_price,
    taken,
    first_qty,
    budget: float,
    ladder_at,
    ladder_size,
    fees: float,
    slippage: float,
    leg_buy,
) -> float:
    """Fill ``leg_buy`` (shares of each column's next ladder leg, 0.0 for none); the budget left.

    After :func:`plan_close`, from the ``budget`` its entries left: in column order, a
    held position that does not exit at this close and whose open legs' average gain at
    the decision price reaches its next leg's ``ladder_at`` adds that leg
    (:func:`ladder_leg_size`). ``leg_qty``/``leg_price`` are (columns x legs), ``taken``
    the legs each position has bought, ``first_qty`` its first leg's shares. A new
    position's first leg comes before a held one's next leg.
    """
    for k in range(len(exiting)):
        leg_buy[k] = 0.0
        if exiting[k] or exits[k] or not budget > 0.0:
            continue
        price = price_row[sym_of_col[k]]
        if np.isnan(price) or not ladder_leg_due(taken[k], leg_qty[k], leg_price[k], price,
                                                 ladder_at):  # fmt: skip
            continue
        size = ladder_leg_size(first_qty[k], ladder_size[taken[k]], budget, price, fees, slippage)
        if size > 0.0:
            leg_buy[k] = size
            budget -= size * unit_cost(price, fees, slippage)
    return budget


def plan_one(
    terms: Terms,
    entry_signal,
    exit_signal,
    stop_distance: float,
    price: float,
    position: float,
    mark: float,
    stop_frac: float,
    stop_anchor: float,
    cash: float,
) -> tuple[bool, float]:
    """(exit at the next open?, shares to buy there): :func:`plan_close` for a book of one column.

    On floats instead of arrays of one: compiled, each array passed costs a reference
    count per call, which made the fast sweep a fifth slower.
    """
    equity = cash
    budget = cash
    exiting = False
    held = 0
    if position > 0.0:
        equity += position * mark
        exiting = leaves_at_close(exit_signal, mark, stop_frac, stop_anchor)
        if exiting:
            budget += sale_proceeds(position, mark, terms.fees, terms.slippage)
        else:
            held = 1
    if not may_buy(terms.max_positions - held, budget, equity):
        return exiting, 0.0
    if not wants_entry(entry_signal, exit_signal, position):
        return exiting, 0.0
    size = entry_size(
        terms.size_mode, equity, budget, price, stop_distance, terms.fraction,
        terms.risk_per_trade, terms.fees, terms.slippage,
    )  # fmt: skip
    return exiting, size
