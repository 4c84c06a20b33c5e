"""The order loop: one pass over the bars that turns execution-aligned signals into fills.

vectorbt's ``Portfolio.from_signals`` cannot size an entry by the book's equity (it knows
amounts, values and shares of *cash*) nor cap the number of positions a shared book holds,
and its ``from_order_func`` costs ~7x more per bar. So this loop decides *when* and *how
much* to trade; every fill goes through :func:`~engine.backtest.rules.fill_order` (fees,
slippage, partial fills on short cash: vectorbt's own fill arithmetic, held to it by a
test), and the order records it writes, in vectorbt's record layout, become a
``vbt.Portfolio`` when a report asks for one. Nothing here imports vectorbt: it takes
seconds to import, and a backtest's figures do not need it.

**The rules are those of** :mod:`engine.backtest.rules`, which states them once for this
loop and the live loop alike, and each column's exit, entry and stop is a step of
:mod:`engine.backtest._step`, which the fast sweep's kernel trades with too. This loop says
only in which order the columns of a book go and what is recorded.

A position is held as legs: one, or with a scale-in ladder up to ``n_legs``, the first
bought on the entry signal, each next one when the open legs' average gain at a close
reaches its threshold (:func:`engine.backtest.rules.plan_ladder`, the rule the live loop
decides by too). Each leg is traded by the same steps as a whole position: its own stop
(set from the close that decided it, live from its fill) and target, sold alone when hit;
the strategy's exit, the close the book goes flat by and the window's end sell every leg.
A leg takes no slot of ``max_positions`` (it adds to a position already counted) and is
sized from the first leg's shares, cut to the cash the close's entries left; a new
position's first leg is decided before a held one's next leg (a ladder takes no profit
target nor trailing stop: the settings refuse them). A leg fills as an entry does, beside
the entries, and no leg fills where no entry may. Without a ladder the loop skips the
legs' planning and its second pass. Each bar of a book, in time order:

- ``execution="next_open"``: first the decisions of the close before, from what was known
  then (:func:`~engine.backtest.rules.plan_close`: exits, free slots, the cash budget,
  entry sizes at that close, then :func:`~engine.backtest.rules.plan_ladder`: the next
  legs); then at the open, stops and targets the open gapped through and the planned
  exits, then the planned entries in column order (a buy the cash at the open cannot pay
  in full fills in part), then the planned legs (a leg whose position was sold at that
  open lapses); then stops and targets hit inside the bar (this bar's entries included:
  their bracket is live from the fill, at levels set from the decision's close); then
  trailing stops move up to the bar's high.
- ``execution="close"``: stops and targets hit inside the bar, trailing stops move up,
  then exit signals at the close, then entries at the close, sized at that close (their
  brackets start on the next bar), then legs due at that close. A symbol that exits on a
  bar does not re-enter on the same bar.
- ``flat_by_close``: at the close of the bar the book goes flat by, what that bar's stops
  and targets left is sold at the close.

Prices are per symbol (``sym_of_col`` maps each signal column to its price column), so a
sweep over thousands of parameter sets does not copy the prices once per set.

Plain Python: run as such for a backtest too small to repay numba's start-up
(:data:`SMALL_WORK`), else compiled by :func:`engine.backtest._compile.compiled` with the
rules and the steps it calls, and cached under a key of all their sources.
"""

from __future__ import annotations

import functools

import numpy as np

from engine.backtest import _compile
from engine.backtest._step import (  # noqa: F401 (REASON_SIGNAL, REASON_STOP, REASON_TARGET: re-exported)
    REASON_CLOSE,
    REASON_END,
    REASON_ENTRY,
    REASON_SIGNAL,
    REASON_STOP,
    REASON_TARGET,
    bracket_order,
    buy,
    exit_order,
    sell,
    size_at_close,
)
from engine.backtest.rules import ladder_leg_due, ladder_leg_size, plan_close, plan_ladder

#: Bars x columns under which the loop runs as plain Python: numba's import and first call
#: cost about a second, more than a backtest of one symbol over ten years takes
#: interpreted (~0.1 s). Above it, and once compiled in a process, the compiled loop runs.
SMALL_WORK = 50_000

#: Not a reason code: the book holds its positions through this close (:func:`_closing_reason`).
HOLD = -1

#: One fill: vectorbt's order record layout (``vectorbt.portfolio.enums.order_dt``), so the
#: records become a vectorbt Portfolio as they are. ``side`` 0 is a buy, 1 a sell.
ORDER_DT = np.dtype(
    [
        ("id", np.int64),
        ("col", np.int64),
        ("idx", np.int64),
        ("size", np.float64),
        ("price", np.float64),
        ("fees", np.float64),
        ("side", np.int64),
    ],
    align=True,
)


def _record(records, reasons, legs_of, oidx, i, col, leg, result, reason):
    """Write a filled order of ``leg`` as order record number ``oidx`` (a sale when ``reason``
    is not an entry), and why; the next number."""
    record = records[oidx]
    record["id"] = oidx
    record["col"] = col
    record["idx"] = i
    record["size"] = result.size
    record["price"] = result.price
    record["fees"] = result.fees
    record["side"] = 0 if reason == REASON_ENTRY else 1
    reasons[oidx] = reason
    legs_of[oidx] = leg
    return oidx + 1


def _sell_leg(terms, cash, legs, col, j, price, at, rec, reason):
    """(cash, records written): leg ``j`` of column ``col`` sold out at ``price``, recorded.

    ``legs`` is (leg_qty, leg_frac, leg_anchor, leg_target, position); ``rec`` (records,
    reasons, leg of each record, records written).
    """
    leg_qty, leg_frac, leg_anchor, leg_target, position = legs
    records, reasons, legs_of, oidx = rec
    cash, leg_qty[col, j], leg_frac[col, j], leg_anchor[col, j], leg_target[col, j], result = (
        sell(terms, cash, leg_qty[col, j], leg_frac[col, j], leg_anchor[col, j],
             leg_target[col, j], price, reason)
    )  # fmt: skip
    if result.filled:
        oidx = _record(records, reasons, legs_of, oidx, at, col, j, result, reason)
        position[col] = _held(leg_qty, col)
    return cash, oidx


def _held(leg_qty, col) -> float:
    """The shares column ``col``'s open legs hold together."""
    shares = 0.0
    for j in range(leg_qty.shape[1]):
        shares += leg_qty[col, j]
    return shares


def _book_value(cash, position, close_row, last_price, sym_of_col, from_col, to_col):
    """The book's value at this close: its cash and its positions at their last price."""
    equity = cash
    for col in range(from_col, to_col):
        if position[col] != 0:
            mark = close_row[sym_of_col[col]]
            if np.isnan(mark):
                mark = last_price[col]
            equity += position[col] * mark
    return equity


def _mark(close_row, sym_of_col, last_price, from_col, to_col) -> None:
    """Move each column's last known price to this bar's close where it has one."""
    for col in range(from_col, to_col):
        bar_close = close_row[sym_of_col[col]]
        if not np.isnan(bar_close):
            last_price[col] = bar_close


def _closing_reason(flat_at, close_at_end, i, n_bars) -> int:
    """Why every position is sold at bar ``i``'s close: REASON_CLOSE (the book is flat by
    it), REASON_END (the window's last bar, with ``close_at_end``), else HOLD."""
    if flat_at[i]:
        return REASON_CLOSE
    if close_at_end and i == n_bars - 1:
        return REASON_END
    return HOLD


def _book_at_close(equity_out, invested_out, group, i, cash, position, last_price, from_col,
                   to_col) -> None:  # fmt: skip
    """Write the group's equity and the part of it in positions (at their last known
    prices) at bar ``i``'s close."""
    invested = 0.0
    for col in range(from_col, to_col):
        if position[col] != 0:
            invested += position[col] * last_price[col]
    equity_out[group, i] = cash + invested
    invested_out[group, i] = invested


def simulate(
    open_,
    high,
    low,
    close,
    decision_price,
    sym_of_col,
    entries,
    exits,
    stop_dist,
    target_dist,
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
    """(order records in vectorbt's layout (``ORDER_DT``), a reason code per record, the leg
    of each record (0: the first), each group's equity at every bar's close, the part of it
    held in positions).

    Prices are (bars x symbols); ``entries``/``exits``/``stop_dist``/``target_dist`` are
    (bars x columns) and already aligned to the bar on which they may fill, as is
    ``decision_price`` (bars x symbols: the close each signal was decided at);
    ``target_dist`` is the profit target's distance above that close (NaN: none). Columns
    are laid out group by group (``group_lens``); a group is one book with one cash balance
    (``init_cash[g]``) and at most ``terms.max_positions`` open positions. ``close`` is NaN
    where a symbol has no bar: nothing trades or triggers there. ``flat_at`` (one per bar)
    marks the bars at whose close every position is sold (flat by the close), and with
    ``close_at_end`` positions still open after the last bar are sold at its close (either
    at the last known close for a symbol that has no bar then), costs included.
    ``no_entry`` marks the bars no entry fills on (nor a ladder's leg, see
    :class:`~engine.backtest._execution.Orders`). The ladder's terms have one entry per leg,
    the first leg's included (:func:`~engine.backtest.rules.ladder_terms`; one leg: no
    ladder): ``ladder_at`` the average gain that adds it, ``ladder_size`` its shares as a
    fraction of the first leg's, ``ladder_stop`` its stop as a fraction below its decision
    close (NaN: the settings' stop distance at that close, ``stop_dist``).
    """
    n_bars = close.shape[0]
    n_cols = entries.shape[1]
    n_groups = len(group_lens)
    n_legs = len(ladder_at)
    records = np.empty(max_orders, dtype=ORDER_DT)
    reasons = np.empty(max_orders, dtype=np.int8)
    legs_of = np.empty(max_orders, dtype=np.int8)
    # Stored group-major so that each group's curve is contiguous (Fortran order once
    # transposed back to bars x groups), as the per-column metric loops read it.
    equity_out = np.empty((n_groups, n_bars))
    invested_out = np.empty((n_groups, n_bars))
    last_price = np.full(n_cols, np.nan)  # each column's last known close
    exited = np.zeros(n_cols, dtype=np.bool_)  # sold out at this bar
    entered = np.zeros(n_cols, dtype=np.bool_)  # bought its first leg at this bar
    exiting = np.zeros(n_cols, dtype=np.bool_)  # the close's planned exits
    buy_qty = np.zeros(n_cols)  # the close's planned entries
    leg_buy = np.zeros(n_cols)  # the close's planned legs, beside its entries
    position = np.zeros(n_cols)  # all legs' shares
    # Each leg's shares, fill price, stop (NaN: none) and profit target (NaN: none).
    leg_qty = np.zeros((n_cols, n_legs))
    leg_price = np.zeros((n_cols, n_legs))
    leg_frac = np.full((n_cols, n_legs), np.nan)
    leg_anchor = np.full((n_cols, n_legs), np.nan)
    leg_target = np.full((n_cols, n_legs), np.nan)
    legs = (leg_qty, leg_frac, leg_anchor, leg_target, position)
    taken = np.zeros(n_cols, dtype=np.int64)  # legs bought by the position held
    first_qty = np.zeros(n_cols)
    oidx = 0

    from_col = 0
    for group in range(n_groups):
        to_col = from_col + group_lens[group]
        cash = float(init_cash[group])
        n_open = 0
        for i in range(n_bars):
            if terms.at_open:
                # 0. The close before: exits, new positions, then the legs of held ones. The
                # first leg's stop is the one that may trail above a close (a ladder's
                # stops are fixed, and a fixed stop never rests above a close: it is hit).
                budget = plan_close(
                    entries[i, from_col:to_col], exits[i, from_col:to_col],
                    stop_dist[i, from_col:to_col], decision_price[i], sym_of_col[from_col:to_col],
                    position[from_col:to_col], last_price[from_col:to_col],
                    leg_frac[from_col:to_col, 0], leg_anchor[from_col:to_col, 0], cash,
                    terms.max_positions, terms.size_mode, terms.fraction, terms.risk_per_trade,
                    terms.fees, terms.slippage, exiting[from_col:to_col],
                    buy_qty[from_col:to_col],
                )  # fmt: skip
                if n_legs > 1:
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
                        leg_frac[col, j], leg_anchor[col, j], leg_target[col, j], open_[i, sym],
                        high[i, sym], low[i, sym], close[i, sym],
                    )  # fmt: skip
                    if np.isnan(price):
                        continue
                    cash, oidx = _sell_leg(
                        terms, cash, legs, col, j, price, i, (records, reasons, legs_of, oidx),
                        reason,
                    )  # fmt: skip
                if position[col] == 0.0:
                    exited[col] = True
                    taken[col] = 0
                    n_open -= 1

            # 2. New positions' first legs, then (with a ladder) held positions' next legs,
            # each in column order: at the open as planned, at the close sized there.
            equity = np.nan
            for phase in range(min(n_legs, 2)):
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
                    cash, bought, leg_frac[col, j], leg_anchor[col, j], leg_target[col, j], result = (
                        buy(terms, cash, size, price, decision, distance, target_dist[i, col])
                    )  # fmt: skip
                    if not result.filled:
                        continue
                    leg_qty[col, j] = bought
                    leg_price[col, j] = result.price
                    position[col] = _held(leg_qty, col)
                    taken[col] = j + 1
                    oidx = _record(records, reasons, legs_of, oidx, i, col, j, result, REASON_ENTRY)
                    if j == 0:
                        first_qty[col] = bought
                        entered[col] = True
                        n_open += 1
                    equity = np.nan  # costs were paid: value the book afresh for the next

            # 3. At the open, each leg's stop and target are live for the rest of the bar,
            # this bar's entries' too.
            if terms.at_open:
                for col in range(from_col, to_col):
                    if position[col] <= 0.0:
                        continue
                    sym = sym_of_col[col]
                    for j in range(n_legs):
                        price, reason, leg_anchor[col, j] = bracket_order(
                            terms, leg_qty[col, j], leg_frac[col, j], leg_anchor[col, j],
                            leg_target[col, j], open_[i, sym], high[i, sym], low[i, sym],
                            close[i, sym],
                        )  # fmt: skip
                        if np.isnan(price):
                            continue
                        cash, oidx = _sell_leg(
                            terms, cash, legs, col, j, price, i,
                            (records, reasons, legs_of, oidx), reason,
                        )  # fmt: skip
                    if position[col] == 0.0:
                        taken[col] = 0
                        n_open -= 1

            # 4. The book at the close: positions marked at their last known price. Flat by
            # the close (a symbol without a bar here at its last close), or the window's
            # end: every leg the bar's stops and targets left is sold.
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
                                (records, reasons, legs_of, oidx), reason,
                            )  # fmt: skip
                    if position[col] == 0.0:
                        taken[col] = 0
                        n_open -= 1
            _book_at_close(
                equity_out, invested_out, group, i, cash, position, last_price, from_col, to_col
            )
        from_col = to_col
    return (
        records[:oidx].copy(), reasons[:oidx].copy(), legs_of[:oidx].copy(), equity_out.T,
        invested_out.T,
    )  # fmt: skip


#: The loop as plain Python (what :func:`order_loop` gives for small work).
simulate_nb = simulate


@functools.cache
def compiled():
    """The order loop compiled by numba (imported here, on the first big piece of work)."""
    return _compile.compiled(simulate)


def order_loop(cells: int):
    """The order loop (:func:`simulate`'s signature) for ``cells`` bars x columns of work.

    Compiled above :data:`SMALL_WORK` or once compiled in this process; plain Python below.
    Both make the same fills to the last bit (a test holds them together).
    """
    if cells >= SMALL_WORK or compiled.cache_info().currsize:
        return compiled()
    return simulate
