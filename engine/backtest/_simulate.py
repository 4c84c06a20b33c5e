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
only in which order the columns of a book go and what is recorded. Each bar of a book, in
time order:

- ``execution="next_open"``: first the decisions of the close before, from what was known
  then (:func:`~engine.backtest.rules.plan_close`: exits, free slots, the cash budget,
  entry sizes at that close); then at the open, stops and targets the open gapped through
  and the planned exits, then the planned entries in column order (a buy the cash at the
  open cannot pay in full fills in part); then stops and targets hit inside the bar (this
  bar's entries included: their bracket is live from the fill, at levels set from the
  decision's close); then trailing stops move up to the bar's high.
- ``execution="close"``: stops and targets hit inside the bar, trailing stops move up,
  then exit signals at the close, then entries at the close, sized at that close (their
  brackets start on the next bar). A symbol that exits on a bar does not re-enter on the
  same bar.
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
from engine.backtest.rules import plan_close

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


def _record(records, reasons, oidx, i, col, result, reason):
    """Write a filled order as order record number ``oidx`` (a sale when ``reason`` is not an
    entry), and why; the next number."""
    record = records[oidx]
    record["id"] = oidx
    record["col"] = col
    record["idx"] = i
    record["size"] = result.size
    record["price"] = result.price
    record["fees"] = result.fees
    record["side"] = 0 if reason == REASON_ENTRY else 1
    reasons[oidx] = reason
    return oidx + 1


def _sell_recorded(terms, cash, state, col, price, at, rec, reason):
    """(cash, records written, flat?): column ``col`` sold out at ``price``, its fill recorded.

    ``state`` is the columns' (position, stop_frac, stop_anchor, target); ``at`` the bar;
    ``rec`` the (records, reasons, records written) being filled in.
    """
    position, stop_frac, stop_anchor, target = state
    records, reasons, oidx = rec
    cash, position[col], stop_frac[col], stop_anchor[col], target[col], result = sell(
        terms, cash, position[col], stop_frac[col], stop_anchor[col], target[col], price, reason
    )
    if result.filled:
        oidx = _record(records, reasons, oidx, at, col, result, reason)
    return cash, oidx, position[col] == 0


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


def _loop_state(n_bars, n_cols, n_groups, max_orders):
    """(order records, their reasons, and per column its last known price, whether it was
    sold out at this bar, the close's planned exit and shares to buy; each group's equity
    and invested value at every close): the state both order loops start from (this one
    and the ladder's)."""
    # Stored group-major so that each group's curve is contiguous (Fortran order once
    # transposed back to bars x groups), as the per-column metric loops read it.
    return (
        np.empty(max_orders, dtype=ORDER_DT), np.empty(max_orders, dtype=np.int8),
        np.full(n_cols, np.nan), np.zeros(n_cols, dtype=np.bool_),
        np.zeros(n_cols, dtype=np.bool_), np.zeros(n_cols),
        np.empty((n_groups, n_bars)), np.empty((n_groups, n_bars)),
    )  # fmt: skip


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
    close_at_end,
    max_orders,
):
    """(order records in vectorbt's layout (``ORDER_DT``), a reason code per record, each group's
    equity at every bar's close, the part of it held in positions).

    Prices are (bars x symbols); ``entries``/``exits``/``stop_dist``/``target_dist`` are
    (bars x columns) and already aligned to the bar on which they may fill, as is
    ``decision_price`` (bars x symbols: the close each signal was decided at);
    ``target_dist`` is the profit target's distance above that close (NaN: none). Columns are laid out group by group
    (``group_lens``); a group is one book with one cash balance (``init_cash[g]``) and at
    most ``terms.max_positions`` open positions. ``close`` is NaN where a symbol has no
    bar: nothing trades or triggers there. ``flat_at`` (one per bar) marks the bars at
    whose close every position is sold (flat by the close), and with ``close_at_end``
    positions still open after the last bar are sold at its close (either at the last
    known close for a symbol that has no bar then), costs included.
    """
    n_bars = close.shape[0]
    n_cols = entries.shape[1]
    records, reasons, last_price, exited, exiting, buy_qty, equity_out, invested_out = _loop_state(
        n_bars, n_cols, len(group_lens), max_orders
    )
    position = np.zeros(n_cols)
    stop_frac = np.full(n_cols, np.nan)
    stop_anchor = np.full(n_cols, np.nan)
    target = np.full(n_cols, np.nan)  # each position's profit target (NaN: none)
    state = (position, stop_frac, stop_anchor, target)
    oidx = 0

    from_col = 0
    for group in range(len(group_lens)):
        to_col = from_col + group_lens[group]
        cash = float(init_cash[group])
        n_open = 0
        for i in range(n_bars):
            if terms.at_open:
                # 0. The decisions of the close before: exits, then entries and their sizes.
                plan_close(
                    entries[i, from_col:to_col],
                    exits[i, from_col:to_col],
                    stop_dist[i, from_col:to_col],
                    decision_price[i],
                    sym_of_col[from_col:to_col],
                    position[from_col:to_col],
                    last_price[from_col:to_col],
                    stop_frac[from_col:to_col],
                    stop_anchor[from_col:to_col],
                    cash,
                    terms.max_positions,
                    terms.size_mode,
                    terms.fraction,
                    terms.risk_per_trade,
                    terms.fees,
                    terms.slippage,
                    exiting[from_col:to_col],
                    buy_qty[from_col:to_col],
                )

            # 1. Exits: at the open (next_open), or stops then signals at the close.
            for col in range(from_col, to_col):
                sym = sym_of_col[col]
                price, reason, stop_anchor[col] = exit_order(
                    terms, exiting[col], exits[i, col], position[col], stop_frac[col],
                    stop_anchor[col], target[col], open_[i, sym], high[i, sym], low[i, sym],
                    close[i, sym],
                )  # fmt: skip
                exited[col] = False
                if np.isnan(price):
                    continue
                cash, oidx, exited[col] = _sell_recorded(
                    terms, cash, state, col, price, i, (records, reasons, oidx), reason
                )
                if exited[col]:
                    n_open -= 1

            # 2. Entries, in column order: at the open as planned, at the close sized there.
            equity = np.nan
            for col in range(from_col, to_col):
                sym = sym_of_col[col]
                if terms.at_open:
                    size = buy_qty[col]
                    if size <= 0 or np.isnan(close[i, sym]):
                        continue  # none planned, or no bar today: it lapses as a day order
                    price = open_[i, sym]
                    decision = decision_price[i, sym]
                else:
                    if n_open >= terms.max_positions or cash <= 0:
                        break
                    if not entries[i, col] or position[col] != 0 or exited[col]:
                        continue
                    price = decision = close[i, sym]
                    if np.isnan(price):
                        continue
                    if np.isnan(equity):
                        equity = _book_value(
                            cash, position, close[i], last_price, sym_of_col, from_col, to_col
                        )
                    size = size_at_close(terms, equity, cash, price, stop_dist[i, col])
                if size <= 0:
                    continue
                cash, position[col], stop_frac[col], stop_anchor[col], target[col], result = buy(
                    terms, cash, size, price, decision, stop_dist[i, col], target_dist[i, col]
                )
                if result.filled:
                    oidx = _record(records, reasons, oidx, i, col, result, REASON_ENTRY)
                    n_open += 1
                    equity = np.nan  # costs were paid: value the book afresh for the next

            # 3. At the open, stops and targets are live for the rest of the bar, this bar's
            # entries' too.
            if terms.at_open:
                for col in range(from_col, to_col):
                    sym = sym_of_col[col]
                    price, reason, stop_anchor[col] = bracket_order(
                        terms, position[col], stop_frac[col], stop_anchor[col], target[col],
                        open_[i, sym], high[i, sym], low[i, sym], close[i, sym],
                    )  # fmt: skip
                    if np.isnan(price):
                        continue
                    cash, oidx, flat = _sell_recorded(
                        terms, cash, state, col, price, i, (records, reasons, oidx), reason
                    )
                    if flat:
                        n_open -= 1

            # 4. The book at the close: positions marked at their last known price.
            _mark(close[i], sym_of_col, last_price, from_col, to_col)
            # Flat by the close (a symbol without a bar here at its last close), or the
            # window's end: what the bar's stops and targets left.
            reason = _closing_reason(flat_at, close_at_end, i, n_bars)
            if reason != HOLD:
                for col in range(from_col, to_col):
                    if position[col] <= 0:
                        continue
                    cash, oidx, flat = _sell_recorded(
                        terms, cash, state, col, last_price[col], i, (records, reasons, oidx),
                        reason,
                    )  # fmt: skip
                    if flat:
                        n_open -= 1
            _book_at_close(
                equity_out, invested_out, group, i, cash, position, last_price, from_col, to_col
            )
        from_col = to_col
    return records[:oidx].copy(), reasons[:oidx].copy(), equity_out.T, invested_out.T


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
