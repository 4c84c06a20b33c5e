"""The screening kernel: signals, fills and metrics of every (combination, symbol) in one pass.

Each task is one symbol traded alone with one parameter combination: a book of one column
with all of ``init_cash``, which is what ``sweep(per="symbol")`` backtests. Three stages
per task, one pass over the bars each: the strategy's signals (its
:class:`~engine.strategies.base.FastPath` step, bound into the kernel by
:func:`screen_kernel`), the trades (``_trade_column``: the steps of
:mod:`engine.backtest._step` that the general order loop trades with, in the same order,
on the decisions of :mod:`engine.backtest.rules`), and the metrics of the book's equity
curve (``_book_metrics``: :func:`engine.backtest.metrics.summarize`'s arithmetic). The
tests hold this path to the general one.

Plain Python, compiled per strategy by :func:`engine.backtest._compile.compiled`, which
caches each under a key of its sources, the strategy's step and the rules included.
"""

from __future__ import annotations

import numpy as np
from numba import prange
from numba.core.dispatcher import Dispatcher

from engine.backtest._compile import compiled
from engine.backtest._step import (
    NO_FILL,
    REASON_CLOSE,
    bracket_order,
    buy,
    exit_order,
    sell,
    size_at_close,
)
from engine.backtest.day_trades import PDT_WINDOW_SESSIONS
from engine.backtest.rules import plan_one
from engine.strategies.base import FastPath

# Where a position's stop distance comes from.
STOP_NONE = 0
STOP_STRATEGY = 1  # the strategy's own (FastPath.gives_stop), computed on the signal bar
STOP_ENGINE = 2  # the engine's ATR stop, already aligned to the fill bar

#: (combination, symbol) tasks run one after the other by a thread, sharing scratch arrays.
TASKS_PER_BLOCK = 16

#: Columns of the kernel's output, in the order of engine.backtest.metrics.METRICS.
N_METRICS = 15

#: Figures of a column's trades (``_trade_column``): positions opened, closed, closed with
#: a profit, their gross profit, their gross loss (negative), value bought and sold, day
#: trades (closed in the session they were opened in), the most day trades in any
#: PDT_WINDOW_SESSIONS sessions, and the first of the day trades in the latest such window.
N_TRADE_FIGURES = 9


def screen_kernel(fast: FastPath) -> Dispatcher:
    """The compiled kernel (:func:`screen`) with the strategy's signal step bound into it."""
    return compiled(screen, parallel=True, signal_step=fast.step)


def signal_step(series, refs, values, close, entries, exits, stops):
    """Placeholder for a strategy's :attr:`FastPath.step`, which :func:`screen_kernel` binds."""
    raise NotImplementedError("a strategy's FastPath.step is bound by screen_kernel")


def _count_buy(trades, bought):
    """Count a filled buy in ``trades`` (see N_TRADE_FIGURES)."""
    trades[0] += 1
    trades[5] += bought.size * bought.price


def _count_sale(trades, bought, sold, bought_in, sold_in, day_trades):
    """Count a filled sale of the position ``bought`` in ``trades`` (see N_TRADE_FIGURES).

    ``bought_in`` and ``sold_in`` are the sessions of the two fills; ``day_trades`` holds
    the session of each day trade so far, in order (engine.backtest.day_trades' rule).
    """
    trades[5] += sold.size * sold.price
    pnl = bought.size * (sold.price - bought.price) - bought.fees - sold.fees
    trades[1] += 1
    if pnl > 0:
        trades[2] += 1
    trades[3] += max(pnl, 0.0)
    trades[4] += min(pnl, 0.0)
    if bought_in == sold_in:
        n_day_trades = int(trades[6])
        day_trades[n_day_trades] = sold_in
        first = int(trades[8])  # sessions only grow: the window's start only moves on
        while day_trades[first] <= sold_in - PDT_WINDOW_SESSIONS:
            first += 1
        trades[6] = n_day_trades + 1
        trades[7] = max(trades[7], n_day_trades + 1 - first)
        trades[8] = first


def _trade_column(
    entries, exits, stops, open_, high, low, close, engine_stop, engine_target, session,
    flat_at, no_entry, stop_source, target_per_stop, terms, init_cash, equity, invested,
    trades, day_trades,
):  # fmt: skip
    """Trade one symbol on its signals (per signal bar) as a book of its own.

    Writes the book's value and the part of it held at every close into ``equity`` and
    ``invested``, and its trades' figures into ``trades`` (see N_TRADE_FIGURES). A signal
    on a bar the symbol has no close for is no signal (the strategies' guard masks it).
    ``session``, ``flat_at`` and ``no_entry`` are per bar, as in
    :class:`~engine.backtest._execution.Orders`: no entry fills on a ``no_entry`` bar, and
    what is held is sold at the close of a ``flat_at`` bar (flat by the close). An entry's
    profit target is ``target_per_stop`` stop distances above its decision price when that
    is above 0 (reward:risk), else ``engine_target`` (already aligned to the fill bar; NaN:
    none).
    """
    n_bars = close.shape[0]
    lag = 1 if terms.at_open else 0  # next_open: bar t's signals fill at bar t+1
    cash = init_cash
    position = 0.0
    last_price = np.nan  # the mark: the last known close
    stop_frac = np.nan
    stop_anchor = np.nan
    target = np.nan
    bought = NO_FILL
    bought_in = -1  # the session of the position's entry
    trades[:] = 0.0

    i = 0
    while i < n_bars:
        # Quiet bars first, in tight loops: the rules can only mark the book on them.
        if position == 0:  # flat, until a bar whose signal may buy
            while i < n_bars:
                t = i - lag
                if t >= 0 and entries[t] and not exits[t] and not no_entry[i]:
                    break
                if close[i] == close[i]:
                    last_price = close[i]
                equity[i] = cash
                invested[i] = 0.0
                i += 1
        elif stop_frac != stop_frac and target != target:
            # Held with no stop nor target, until an exit signal or the close.
            while i < n_bars:
                t = i - lag
                if (t >= 0 and exits[t]) or flat_at[i]:
                    break
                if close[i] == close[i]:
                    last_price = close[i]
                held = 0.0
                held += position * last_price
                equity[i] = cash + held
                invested[i] = held
                i += 1
        if i == n_bars:
            break

        # A bar on which something may happen, step by step as in the general order loop.
        t = i - lag
        entry = exit_ = False
        distance = np.nan
        if t >= 0 and close[t] == close[t]:
            exit_ = exits[t]
            entry = entries[t] and not exit_ and not no_entry[i]  # both: an exit
            if stop_source == STOP_STRATEGY:
                distance = stops[t]
        if stop_source == STOP_ENGINE:
            distance = engine_stop[i]  # already moved to the fill bar
        bar_close = close[i]
        has_bar = bar_close == bar_close

        # 0. next_open: the decisions of the close before (rules.plan_one).
        planned_exit = False
        planned_qty = 0.0
        if terms.at_open and t >= 0:
            planned_exit, planned_qty = plan_one(
                terms, entry, exit_, distance, close[t], position, last_price, stop_frac,
                stop_anchor, cash,
            )  # fmt: skip

        # 1. Exits before any entry.
        price, reason, stop_anchor = exit_order(
            terms, planned_exit, exit_, position, stop_frac, stop_anchor, target,
            open_[i], high[i], low[i], bar_close,
        )  # fmt: skip
        exited = False
        if price == price:
            cash, position, stop_frac, stop_anchor, target, sold = sell(
                terms, cash, position, stop_frac, stop_anchor, target, price, reason
            )
            if sold.filled:
                _count_sale(trades, bought, sold, bought_in, session[i], day_trades)
            exited = position == 0

        # 2. The entry: at the open the planned shares (decided at the close before, the
        #    stop level from that close), at the close sized at that close on the cash in hand.
        size = 0.0
        price = decision = np.nan
        if terms.at_open:
            if planned_qty > 0 and has_bar:
                size, price, decision = planned_qty, open_[i], close[t]
        elif entry and position == 0 and not exited and cash > 0 and has_bar:
            size = size_at_close(terms, cash, cash, bar_close, distance)
            price = decision = bar_close
        if size > 0:
            target_distance = engine_target[i]
            if target_per_stop > 0:
                target_distance = target_per_stop * distance
            cash, position, stop_frac, stop_anchor, target, result = buy(
                terms, cash, size, price, decision, distance, target_distance
            )
            if result.filled:
                bought, bought_in = result, session[i]
                _count_buy(trades, bought)

        # 3. At the open, the stop is live for the rest of the bar, a new entry's too.
        if terms.at_open:
            price, reason, stop_anchor = bracket_order(
                terms, position, stop_frac, stop_anchor, target, open_[i], high[i], low[i],
                bar_close,
            )  # fmt: skip
            if price == price:
                cash, position, stop_frac, stop_anchor, target, sold = sell(
                    terms, cash, position, stop_frac, stop_anchor, target, price, reason
                )
                if sold.filled:
                    _count_sale(trades, bought, sold, bought_in, session[i], day_trades)

        # 4. The book at the close, positions marked at their last known price; flat by
        #    the close, what is held is sold there.
        if has_bar:
            last_price = bar_close
        if flat_at[i] and position > 0:
            cash, position, stop_frac, stop_anchor, target, sold = sell(
                terms, cash, position, stop_frac, stop_anchor, target, last_price, REASON_CLOSE
            )
            if sold.filled:
                _count_sale(trades, bought, sold, bought_in, session[i], day_trades)
        held = 0.0
        if position != 0:
            held += position * last_price
        equity[i] = cash + held
        invested[i] = held
        i += 1


def _total(values):
    """The sum of ``values``, in four running sums (one chain of additions waits on itself)."""
    sums = np.zeros(4)
    n_whole = len(values) // 4 * 4
    for i in range(0, n_whole, 4):
        sums[0] += values[i]
        sums[1] += values[i + 1]
        sums[2] += values[i + 2]
        sums[3] += values[i + 3]
    for i in range(n_whole, len(values)):
        sums[0] += values[i]
    return (sums[0] + sums[1]) + (sums[2] + sums[3])


def _book_metrics(equity, invested, trades, init_cash, bars_per_year, out):
    """Write the metrics of one book (see engine.backtest.metrics.summarize) into ``out``.

    The same arithmetic as summarize's, term for term, except the standard deviation of
    returns, taken from running sums here (within ~1e-14 of the two-pass figure for daily
    returns), and the means of exposure and equity, summed in another order.
    """
    n_bars = equity.shape[0]
    before = peak = init_cash
    depth, under, duration = 0.0, 0, 0
    growth, return_sum, square_sum, downside_sum = 1.0, 0.0, 0.0, 0.0
    moved = False
    exposure_sum = 0.0
    bars_held = 0
    for i in range(n_bars):
        value = equity[i]
        if value != before:
            # A bar whose value moved. (One that did not has a return of exactly 0, which
            # adds nothing to the sums below: skipping it changes no bit of them.)
            bar_return = value / before - 1.0
            before = value
            moved = moved or bar_return != 0.0
            growth *= bar_return + 1.0
            return_sum += bar_return
            square_sum += bar_return * bar_return
            loss = min(bar_return, 0.0)  # branch-free: up or down is a coin toss to the CPU
            downside_sum += loss * loss
            if value >= peak:
                peak = value
                under = 0
            else:
                under += 1
                duration = max(duration, under)
                depth = max(depth, 1.0 - value / peak)
        elif value < peak:  # as deep below the peak as the bar before, one bar longer
            under += 1
            duration = max(duration, under)
        if invested[i] != 0:
            bars_held += 1
            if value > 0:
                exposure_sum += invested[i] / value
    equity_sum = _total(equity)

    mean = return_sum / n_bars
    cagr = growth ** (bars_per_year / n_bars) - 1
    sharpe = sortino = np.nan
    if moved and n_bars >= 2:
        std = np.sqrt(max(square_sum - return_sum * mean, 0.0) / (n_bars - 1))
        sharpe = np.inf if std == 0.0 else mean / std * np.sqrt(bars_per_year)
        downside = np.sqrt(downside_sum / n_bars) * np.sqrt(bars_per_year)
        sortino = np.inf if downside == 0.0 else mean * bars_per_year / downside
    n_closed, gross_win, gross_loss = trades[1], trades[3], -trades[4]
    win_rate = profit_factor = np.nan
    if n_closed > 0:
        win_rate = trades[2] / n_closed
        if gross_loss > 0:
            profit_factor = gross_win / gross_loss
        elif gross_win > 0:
            profit_factor = np.inf

    out[0] = equity[n_bars - 1] / init_cash - 1.0
    out[1] = cagr
    out[2] = sharpe
    out[3] = sortino
    out[4] = cagr / depth if depth > 0 else np.nan
    out[5] = depth
    out[6] = duration
    out[7] = win_rate
    out[8] = profit_factor
    out[9] = exposure_sum / n_bars
    out[10] = trades[0]
    out[11] = trades[5] / 2.0 / (equity_sum / n_bars) * bars_per_year / n_bars
    out[12] = bars_held / n_bars
    out[13] = trades[6]
    out[14] = trades[7]


def screen(
    series,
    refs,
    values,
    open_,
    high,
    low,
    close,
    engine_stop,
    engine_target,
    session,
    flat_at,
    no_entry,
    stop_source,
    target_per_stop,
    terms,
    init_cash,
    bars_per_year,
):
    """The metrics (combinations x symbols rows, N_METRICS columns) of every task, in parallel.

    ``series`` holds each distinct series the grid reads once, (symbols x series x bars);
    combination k reads the rows ``refs[k]`` of it and the floats ``values[k]`` (see
    :class:`~engine.strategies.base.FastPath`). Prices, ``engine_stop`` and
    ``engine_target`` are (symbols x bars); ``session``, ``flat_at`` and ``no_entry`` one
    per bar (see ``_trade_column``).
    Rows are combination-major: row = combination x n_symbols + symbol.
    """
    n_combos = refs.shape[0]
    n_symbols, n_bars = close.shape
    n_tasks = n_combos * n_symbols
    out = np.empty((n_tasks, N_METRICS))
    # Tasks go in blocks that share their scratch arrays; blocks are handed out one by one
    # (see fast_sweep's parallel_chunksize), so a thread the OS slows down holds up little.
    n_blocks = (n_tasks + TASKS_PER_BLOCK - 1) // TASKS_PER_BLOCK
    for block in prange(n_blocks):
        entries = np.empty(n_bars, dtype=np.bool_)
        exits = np.empty(n_bars, dtype=np.bool_)
        stops = np.full(n_bars, np.nan)
        equity = np.empty(n_bars)
        invested = np.empty(n_bars)
        trades = np.empty(N_TRADE_FIGURES)
        day_trades = np.empty(n_bars, dtype=np.int64)
        for task in range(block * TASKS_PER_BLOCK, min(n_tasks, (block + 1) * TASKS_PER_BLOCK)):
            combo = task // n_symbols
            symbol = task % n_symbols
            signal_step(
                series[symbol], refs[combo], values[combo], close[symbol], entries, exits, stops
            )
            _trade_column(
                entries, exits, stops, open_[symbol], high[symbol], low[symbol], close[symbol],
                engine_stop[symbol], engine_target[symbol], session, flat_at, no_entry,
                stop_source, target_per_stop, terms, init_cash, equity, invested, trades,
                day_trades,
            )  # fmt: skip
            _book_metrics(equity, invested, trades, init_cash, bars_per_year, out[task])
    return out
