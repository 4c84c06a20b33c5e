"""The order loop of a config with a scale-in ladder: a position bought in legs, each with its stop.

:func:`simulate_ladder` is :func:`engine.backtest._simulate.simulate` with each column's
position held as up to ``n_legs`` legs: the first bought on the entry signal, each next
one when the open legs' average gain at a close reaches its threshold
(:func:`engine.backtest.rules.plan_ladder`, the rule the live loop decides by too). Each
leg is traded by the same per-column steps as a whole position is
(:mod:`engine.backtest._step`): its own stop (set from the close that decided it, live from
its fill), sold alone when that stop is hit; the strategy's exit, the close the book goes
flat by and the window's end sell every leg. A leg takes no slot of ``max_positions`` (it
adds to a position already counted) and is sized from the first leg's shares, cut to the
cash the close's entries left; a new position's first leg is decided before a held one's
next leg. A ladder takes no profit target nor trailing stop (the settings refuse them).

Fills are those of entries: with ``next_open`` a leg decided at a close fills at the next
open, after that open's exits and beside its entries in column order (a leg whose position
was sold at that open lapses); with ``close`` it fills at its own close after that close's
exits and entries. No leg fills where no entry may (``flat_by_close``: after the bar the
book goes flat by, or at its close). Records carry the leg (0 for the first).

A separate loop, not a branch in the general one: a config without a ladder never pays for
the legs' bookkeeping, and the fast sweep refuses ladders.
"""

from __future__ import annotations

import functools

import numpy as np

from engine.backtest import _compile
from engine.backtest._simulate import (
    HOLD,
    SMALL_WORK,
    _book_at_close,
    _book_value,
    _closing_reason,
    _loop_state,
    _mark,
    _record,
)
from engine.backtest._step import (
    REASON_ENTRY,
    bracket_order,
    buy,
    exit_order,
    sell,
    size_at_close,
)
from engine.backtest.rules import (
    ladder_leg_due,
    ladder_leg_size,
    plan_close,
    plan_ladder,
)


def _sell_leg(terms, cash, legs, col, j, price, at, rec, reason):
    """(cash, records written): leg ``j`` of column ``col`` sold out at ``price``, recorded.

    ``legs`` is (leg_qty, leg_frac, leg_anchor, position); ``rec`` (records, reasons,
    leg of each record, records written).
    """
    leg_qty, leg_frac, leg_anchor, position = legs
    records, reasons, leg_of, oidx = rec
    cash, leg_qty[col, j], leg_frac[col, j], leg_anchor[col, j], _, result = sell(
        terms, cash, leg_qty[col, j], leg_frac[col, j], leg_anchor[col, j], np.nan, price, reason
    )
    if result.filled:
        leg_of[oidx] = j
        oidx = _record(records, reasons, oidx, at, col, result, reason)
        position[col] = _held(leg_qty, col)
    return cash, oidx


def _held(leg_qty, col) -> float:
    """The shares column ``col``'s open legs hold together."""
    shares = 0.0
    for j in range(leg_qty.shape[1]):
        shares += leg_qty[col, j]
    return shares


def simulate_ladder(
    open_,
    high,
    low,
    close,
    decision_price,
    sym_of_col,
    entries,
    exits,
    stop_dist,
    group_lens,
    init_cash,
    terms,
    flat_at,
    no_entry,
    close_at_end,
    max_orders,
    ladder_at,
    ladder_size,
    ladder_stop,
):
    """(order records, a reason code per record, the leg of each record, each group's equity
    at every bar's close, the part of it held in positions).

    The arguments are :func:`engine.backtest._simulate.simulate`'s (no target distances: a
    ladder takes none), ``no_entry`` (the bars no entry fills on: nor does a leg, see
    :class:`~engine.backtest._execution.Orders`) and the ladder's, one entry per leg, the first leg's included:
    ``ladder_at`` the average gain that adds it, ``ladder_size`` its shares as a fraction of
    the first leg's, ``ladder_stop`` its stop as a fraction below its decision close (NaN:
    the settings' stop distance at that close, ``stop_dist``).
    """
    n_bars = close.shape[0]
    n_cols = entries.shape[1]
    n_legs = len(ladder_at)
    records, reasons, last_price, exited, exiting, buy_qty, equity_out, invested_out = _loop_state(
        n_bars, n_cols, len(group_lens), max_orders
    )
    leg_of = np.empty(max_orders, dtype=np.int8)
    position = np.zeros(n_cols)  # all legs' shares
    leg_qty = np.zeros((n_cols, n_legs))
    leg_price = np.zeros((n_cols, n_legs))  # each leg's fill price
    leg_frac = np.full((n_cols, n_legs), np.nan)
    leg_anchor = np.full((n_cols, n_legs), np.nan)
    legs = (leg_qty, leg_frac, leg_anchor, position)
    taken = np.zeros(n_cols, dtype=np.int64)  # legs bought by the position held
    first_qty = np.zeros(n_cols)
    no_stop = np.full(n_cols, np.nan)  # fixed leg stops never rest above a close
    entered = np.zeros(n_cols, dtype=np.bool_)  # bought its first leg at this bar
    leg_buy = np.zeros_like(buy_qty)  # the close's planned legs, beside its entries
    oidx = 0

    from_col = 0
    for group in range(len(group_lens)):
        to_col = from_col + group_lens[group]
        cash = float(init_cash[group])
        n_open = 0
        for i in range(n_bars):
            if terms.at_open:
                # 0. The close before: exits, new positions, then the legs of held ones.
                budget = plan_close(
                    entries[i, from_col:to_col], exits[i, from_col:to_col],
                    stop_dist[i, from_col:to_col], decision_price[i], sym_of_col[from_col:to_col],
                    position[from_col:to_col], last_price[from_col:to_col],
                    no_stop[from_col:to_col], no_stop[from_col:to_col], cash,
                    terms.max_positions, terms.size_mode, terms.fraction, terms.risk_per_trade,
                    terms.fees, terms.slippage, exiting[from_col:to_col],
                    buy_qty[from_col:to_col],
                )  # fmt: skip
                plan_ladder(
                    exits[i, from_col:to_col], decision_price[i], sym_of_col[from_col:to_col],
                    exiting[from_col:to_col], leg_qty[from_col:to_col],
                    leg_price[from_col:to_col], taken[from_col:to_col],
                    first_qty[from_col:to_col], budget, ladder_at,
                    ladder_size, terms.fees, terms.slippage, leg_buy[from_col:to_col],
                )  # fmt: skip

            # 1. Exits, leg by leg: at the open (next_open), or stops then signals at the close.
            for col in range(from_col, to_col):
                sym = sym_of_col[col]
                exited[col] = False
                entered[col] = False
                if position[col] <= 0.0:
                    continue
                for j in range(n_legs):
                    if leg_qty[col, j] <= 0.0:
                        continue
                    price, reason, leg_anchor[col, j] = exit_order(
                        terms, exiting[col], exits[i, col], leg_qty[col, j],
                        leg_frac[col, j], leg_anchor[col, j], np.nan, open_[i, sym],
                        high[i, sym], low[i, sym], close[i, sym],
                    )  # fmt: skip
                    if np.isnan(price):
                        continue
                    cash, oidx = _sell_leg(
                        terms, cash, legs, col, j, price, i, (records, reasons, leg_of, oidx),
                        reason,
                    )  # fmt: skip
                if position[col] == 0.0:
                    exited[col] = True
                    taken[col] = 0
                    n_open -= 1

            # 2. New positions' first legs, then held positions' next legs, each in column
            # order: at the open as planned, at the close sized there.
            equity = np.nan
            for phase in range(2):
                for col in range(from_col, to_col):
                    sym = sym_of_col[col]
                    j = taken[col] if phase == 1 else 0
                    if phase == 1 and (position[col] <= 0.0 or entered[col] or no_entry[i]):
                        continue  # a leg adds to a position held before this bar's buys
                    if terms.at_open:
                        size = leg_buy[col] if phase == 1 else buy_qty[col]
                        if size <= 0 or np.isnan(close[i, sym]):
                            continue  # none planned, or no bar today: it lapses as a day order
                        price = open_[i, sym]
                        decision = decision_price[i, sym]
                    else:
                        price = decision = close[i, sym]
                        if np.isnan(price) or cash <= 0:
                            continue
                        if phase == 1:
                            if not ladder_leg_due(j, leg_qty[col], leg_price[col], price,
                                                  ladder_at):  # fmt: skip
                                continue
                            size = ladder_leg_size(
                                first_qty[col], ladder_size[j], cash, price, terms.fees,
                                terms.slippage,
                            )  # fmt: skip
                        else:
                            if n_open >= terms.max_positions or not entries[i, col]:
                                continue
                            if position[col] != 0 or exited[col]:
                                continue
                            if np.isnan(equity):
                                equity = _book_value(
                                    cash, position, close[i], last_price, sym_of_col,
                                    from_col, to_col,
                                )  # fmt: skip
                            size = size_at_close(terms, equity, cash, price, stop_dist[i, col])
                    if size <= 0:
                        continue
                    distance = stop_dist[i, col]
                    if not np.isnan(ladder_stop[j]):
                        distance = ladder_stop[j] * decision
                    cash, bought, leg_frac[col, j], leg_anchor[col, j], _, result = buy(
                        terms, cash, size, price, decision, distance, np.nan
                    )
                    if not result.filled:
                        continue
                    leg_qty[col, j] = bought
                    leg_price[col, j] = result.price
                    position[col] = _held(leg_qty, col)
                    taken[col] = j + 1
                    leg_of[oidx] = j
                    oidx = _record(records, reasons, oidx, i, col, result, REASON_ENTRY)
                    if j == 0:
                        first_qty[col] = bought
                        entered[col] = True
                        n_open += 1
                    equity = np.nan  # costs were paid: value the book afresh for the next

            # 3. At the open, each leg's stop is live for the rest of the bar.
            if terms.at_open:
                for col in range(from_col, to_col):
                    if position[col] <= 0.0:
                        continue
                    sym = sym_of_col[col]
                    for j in range(n_legs):
                        price, reason, leg_anchor[col, j] = bracket_order(
                            terms, leg_qty[col, j], leg_frac[col, j], leg_anchor[col, j],
                            np.nan, open_[i, sym], high[i, sym], low[i, sym], close[i, sym],
                        )  # fmt: skip
                        if np.isnan(price):
                            continue
                        cash, oidx = _sell_leg(
                            terms, cash, legs, col, j, price, i,
                            (records, reasons, leg_of, oidx), reason,
                        )  # fmt: skip
                    if position[col] == 0.0:
                        taken[col] = 0
                        n_open -= 1

            # 4. The book at the close; flat by it, or the window's end: every leg sold.
            _mark(close[i], sym_of_col, last_price, from_col, to_col)
            reason = _closing_reason(flat_at, close_at_end, i, n_bars)
            if reason != HOLD:
                for col in range(from_col, to_col):
                    if position[col] <= 0.0:
                        continue
                    for j in range(n_legs):
                        if leg_qty[col, j] > 0.0:
                            cash, oidx = _sell_leg(
                                terms, cash, legs, col, j, last_price[col], i,
                                (records, reasons, leg_of, oidx), reason,
                            )  # fmt: skip
                    if position[col] == 0.0:
                        taken[col] = 0
                        n_open -= 1
            _book_at_close(
                equity_out, invested_out, group, i, cash, position, last_price, from_col, to_col
            )
        from_col = to_col
    return (
        records[:oidx].copy(), reasons[:oidx].copy(), leg_of[:oidx].copy(), equity_out.T,
        invested_out.T,
    )  # fmt: skip


@functools.cache
def compiled():
    """The ladder's order loop compiled by numba (on the first big piece of work)."""
    return _compile.compiled(simulate_ladder)


def ladder_loop(cells: int):
    """The ladder's order loop for ``cells`` bars x columns of work (compiled above SMALL_WORK)."""
    if cells >= SMALL_WORK or compiled.cache_info().currsize:
        return compiled()
    return simulate_ladder
