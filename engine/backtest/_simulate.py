"""The order loop: one pass over the bars that turns execution-aligned signals into fills.

vectorbt's ``Portfolio.from_signals`` cannot size an entry by the book's equity (it knows
amounts, values and shares of *cash*) nor cap the number of positions a shared book holds,
and its ``from_order_func`` costs ~7x more per bar. So this loop decides *when* and *how
much* to trade, and vectorbt does everything else: every fill goes through vectorbt's own
``process_order_nb`` (fees, slippage, partial fills on short cash), the stop arithmetic is
vectorbt's (``stop_price = anchor * (1 - stop)``, a gap through the stop fills at the open),
and the order records it writes become a ``vbt.Portfolio``. Where the two can be compared
(one symbol, size 'all', the same stops) the fills equal ``from_signals`` exactly; the
tests hold them to it.

Each bar of a book, in time order:

- ``execution="next_open"``: exits at the open (a stop the open has gapped through, then
  exit signals); entries at the open, in column order while the book has slots and cash;
  then stops hit inside the bar (entries of this bar included: their stop is live from
  the fill); then trailing stops move up to the bar's high.
- ``execution="close"``: stops hit inside the bar, trailing stops move up, then exit
  signals at the close, then entries at the close (their stops start on the next bar).

A symbol that exits on a bar does not re-enter on the same bar. Prices are per symbol
(``sym_of_col`` maps each signal column to its price column), so a sweep over thousands of
parameter sets does not copy the prices once per set.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from vectorbt.portfolio.enums import (
    Direction,
    OrderStatus,
    ProcessOrderState,
    SizeType,
    log_dt,
    order_dt,
)
from vectorbt.portfolio.nb import order_nb, process_order_nb

SIZE_FRACTION = 0
SIZE_RISK = 1
SIZE_ALL = 2

#: Why an order was placed, one code per order record (see ``simulate_nb``).
REASON_ENTRY = 0
REASON_SIGNAL = 1
REASON_STOP = 2
REASON_END = 3  # closed at the last bar's close because the window ended


@njit(cache=True)
def _fill(i, col, group, cash, position, size, price, fees, slippage, records, oidx, logs):
    """Send one long-only order through vectorbt; gives back (cash, position, oidx, filled)."""
    state = ProcessOrderState(
        cash=cash,
        position=position,
        debt=0.0,
        free_cash=cash,
        val_price=price,
        value=np.nan,
        oidx=oidx,
        lidx=0,
    )
    order = order_nb(
        size=size,
        price=price,
        size_type=SizeType.Amount,
        direction=Direction.LongOnly,
        fees=fees,
        slippage=slippage,
    )
    result, new_state = process_order_nb(i, col, group, state, False, order, records, logs)
    filled = result.status == OrderStatus.Filled
    return new_state.cash, new_state.position, new_state.oidx, filled


@njit(cache=True)
def simulate_nb(
    open_,
    high,
    low,
    close,
    sym_of_col,
    entries,
    exits,
    stop_dist,
    group_lens,
    init_cash,
    at_open,
    size_mode,
    fraction,
    risk_per_trade,
    fees,
    slippage,
    trailing,
    max_positions,
    close_at_end,
    max_orders,
):
    """(order records in vectorbt's ``order_dt``, a reason code per record, each group's
    equity at every bar's close, the part of it held in positions).

    Prices are (bars x symbols); ``entries``/``exits``/``stop_dist`` are (bars x columns)
    and already aligned to the bar on which they may fill. Columns are laid out group by
    group (``group_lens``); a group is one book with one cash balance (``init_cash[g]``)
    and at most ``max_positions`` open positions. ``close`` is NaN where a symbol has no
    bar: nothing trades or triggers there. With ``close_at_end``, positions still open
    after the last bar are sold at its close (at the last known close for a symbol that
    has no bar then), costs included.
    """
    n_bars = close.shape[0]
    n_cols = entries.shape[1]
    records = np.empty(max_orders, dtype=order_dt)
    reasons = np.empty(max_orders, dtype=np.int8)
    logs = np.empty(0, dtype=log_dt)
    position = np.zeros(n_cols)
    stop_frac = np.full(n_cols, np.nan)
    stop_anchor = np.full(n_cols, np.nan)
    last_price = np.full(n_cols, np.nan)
    exited = np.zeros(n_cols, dtype=np.bool_)
    # Stored group-major so that each group's curve is contiguous (Fortran order once
    # transposed back to bars x groups), as the per-column metric loops read it.
    equity_out = np.empty((len(group_lens), n_bars))
    invested_out = np.empty((len(group_lens), n_bars))
    oidx = 0

    from_col = 0
    for group in range(len(group_lens)):
        to_col = from_col + group_lens[group]
        cash = float(init_cash[group])
        n_open = 0
        for i in range(n_bars):
            # 1. Exits that come before any entry of this bar.
            for col in range(from_col, to_col):
                exited[col] = False
                sym = sym_of_col[col]
                bar_close = close[i, sym]
                if position[col] <= 0 or np.isnan(bar_close):
                    continue
                bar_open = open_[i, sym]
                price = np.nan
                reason = REASON_SIGNAL
                has_stop = not np.isnan(stop_frac[col])
                if has_stop:
                    level = stop_anchor[col] * (1 - stop_frac[col])
                    if bar_open <= level:
                        price = bar_open
                        reason = REASON_STOP
                    elif not at_open and low[i, sym] <= level:
                        price = level
                        reason = REASON_STOP
                    if (
                        not at_open
                        and np.isnan(price)
                        and trailing
                        and high[i, sym] > stop_anchor[col]
                    ):
                        stop_anchor[col] = high[i, sym]
                if np.isnan(price) and exits[i, col]:
                    price = bar_open if at_open else bar_close
                if np.isnan(price):
                    continue
                cash, position[col], new_oidx, filled = _fill(
                    i,
                    col,
                    group,
                    cash,
                    position[col],
                    -position[col],
                    price,
                    fees,
                    slippage,
                    records,
                    oidx,
                    logs,
                )
                if filled:
                    reasons[oidx] = reason
                    oidx = new_oidx
                if position[col] == 0:
                    n_open -= 1
                    exited[col] = True
                    stop_frac[col] = np.nan
                    stop_anchor[col] = np.nan

            # 2. Entries, in column order, while the book has a free slot and cash.
            equity = np.nan
            for col in range(from_col, to_col):
                if n_open >= max_positions or cash <= 0:
                    break
                if not entries[i, col] or position[col] != 0 or exited[col]:
                    continue
                sym = sym_of_col[col]
                if np.isnan(close[i, sym]):
                    continue
                price = open_[i, sym] if at_open else close[i, sym]
                distance = stop_dist[i, col]
                if np.isnan(equity):
                    # The book's value at this moment: held positions at this bar's price.
                    equity = cash
                    for other in range(from_col, to_col):
                        if position[other] != 0:
                            other_sym = sym_of_col[other]
                            mark = open_[i, other_sym] if at_open else close[i, other_sym]
                            if np.isnan(mark):
                                mark = last_price[other]
                            equity += position[other] * mark
                if size_mode == SIZE_ALL:
                    size = np.inf
                elif size_mode == SIZE_FRACTION:
                    size = fraction * equity / price
                else:
                    if not distance > 0:
                        continue  # no stop distance, so no risk to size by
                    size = equity * risk_per_trade / distance
                cash, position[col], new_oidx, filled = _fill(
                    i, col, group, cash, 0.0, size, price, fees, slippage, records, oidx, logs
                )
                if filled:
                    reasons[oidx] = REASON_ENTRY
                    oidx = new_oidx
                    n_open += 1
                    equity = np.nan  # costs were paid: value the book afresh for the next
                    if distance > 0:
                        stop_frac[col] = distance / price
                        stop_anchor[col] = price

            # 3. At the open, stops are live for the rest of the bar, this bar's entries too.
            if at_open:
                for col in range(from_col, to_col):
                    if position[col] <= 0 or np.isnan(stop_frac[col]):
                        continue
                    sym = sym_of_col[col]
                    if np.isnan(close[i, sym]):
                        continue
                    level = stop_anchor[col] * (1 - stop_frac[col])
                    if low[i, sym] <= level:
                        cash, position[col], new_oidx, filled = _fill(
                            i,
                            col,
                            group,
                            cash,
                            position[col],
                            -position[col],
                            level,
                            fees,
                            slippage,
                            records,
                            oidx,
                            logs,
                        )
                        if filled:
                            reasons[oidx] = REASON_STOP
                            oidx = new_oidx
                        if position[col] == 0:
                            n_open -= 1
                            stop_frac[col] = np.nan
                            stop_anchor[col] = np.nan
                    elif trailing and high[i, sym] > stop_anchor[col]:
                        stop_anchor[col] = high[i, sym]

            # 4. The book at the close: positions marked at their last known price.
            for col in range(from_col, to_col):
                bar_close = close[i, sym_of_col[col]]
                if not np.isnan(bar_close):
                    last_price[col] = bar_close
            if close_at_end and i == n_bars - 1:
                for col in range(from_col, to_col):
                    if position[col] <= 0:
                        continue
                    cash, position[col], new_oidx, filled = _fill(
                        i,
                        col,
                        group,
                        cash,
                        position[col],
                        -position[col],
                        last_price[col],
                        fees,
                        slippage,
                        records,
                        oidx,
                        logs,
                    )
                    if filled:
                        reasons[oidx] = REASON_END
                        oidx = new_oidx
            invested = 0.0
            for col in range(from_col, to_col):
                if position[col] != 0:
                    invested += position[col] * last_price[col]
            equity_out[group, i] = cash + invested
            invested_out[group, i] = invested
        from_col = to_col
    return records[:oidx].copy(), reasons[:oidx].copy(), equity_out.T, invested_out.T
