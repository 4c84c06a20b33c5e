"""The screening kernel: signals, fills and metrics of every (combination, symbol) in one pass.

All compiled code of the fast path lives in this one file on purpose: numba's on-disk
cache is invalidated only when the file of the cached function changes, not when a
function it calls in another file does. Splitting the kernel across our own files would
let a stale compiled copy survive an edit. (The rules it calls are fingerprinted below.)

Each task is one symbol traded alone with one parameter combination: a book of one column
with all of ``init_cash``, which is what ``sweep(per="symbol")`` backtests. Three stages
per task, one pass over the bars each: the strategy's signals (``_signals_into``), the
trades (``_trade_column``: the steps of :func:`engine.backtest._simulate.simulate_nb` for
such a book, in the same order, its decisions made by :mod:`engine.backtest.rules`, every
fill through :func:`engine.backtest.rules.fill_order`), and the metrics of the book's equity
curve (``_book_metrics``: :func:`engine.backtest.metrics.summarize`'s arithmetic). The
tests hold this path to the general one.
"""

from __future__ import annotations

import warnings

import numpy as np
from numba import njit, prange

from engine.backtest._simulate import (
    _HELPERS,
    _entry_size,
    _fill_order,
    _stop_fraction,
    _stop_level,
    _trailed_anchor,
    rules_fingerprint,
)
from engine.backtest.rules import BUDGET_RESIDUE

_sale_proceeds = _HELPERS["sale_proceeds"]

#: sha256 of engine/backtest/rules.py, whose compiled functions this kernel calls. numba
#: keys a cached function to its own file only: this line changing with the rules is what
#: makes the kernel recompile instead of running a stale cached copy of them.
RULES_SOURCE_SHA = "8e5f49c9ec9afe9688320273261b991400eeed0e298a17990fa111109824f3ef"

_CACHE = rules_fingerprint() == RULES_SOURCE_SHA
if not _CACHE:  # the rules changed: correct but compiled afresh in every process until updated
    warnings.warn(
        "engine/backtest/rules.py changed: set RULES_SOURCE_SHA in "
        f"engine/backtest/fast/_kernel.py to {rules_fingerprint()}; compiling the fast "
        "sweep without numba's cache meanwhile",
        stacklevel=1,
    )

# What the signals of a task are made of (see ``_signals_into``).
SMA_CROSSOVER = 0  # series a, b: fast and slow SMA
DONCHIAN_BREAKOUT = 1  # a: prior high, b: prior low, c: ATR; value0: ATRs of stop
BOLLINGER_REVERSION = 2  # a: middle band (SMA), b: population std; value0: k
RSI_REVERSION = 3  # a: RSI; value0: lower level, value1: upper level

# Where a position's stop distance comes from.
STOP_NONE = 0
STOP_STRATEGY = 1  # the strategy's own, computed on the signal bar (Donchian's ATR stop)
STOP_ENGINE = 2  # the engine's ATR stop, already aligned to the fill bar

#: (combination, symbol) tasks run one after the other by a thread, sharing scratch arrays.
TASKS_PER_BLOCK = 16

#: Columns of the kernel's output, in the order of engine.backtest.metrics.METRICS.
N_METRICS = 13


@njit(cache=_CACHE)
def _tie(a, b, tolerance):
    """How close two values may be and still count as equal (indicators._tie)."""
    return tolerance * np.fmax(abs(a), abs(b))


@njit(cache=_CACHE)
def _signals_into(kind, a, b, c, value0, value1, close, tolerance, entries, exits, stops):
    """The strategy's entries, exits and stop distances of every bar, as it computes them.

    Each expression is the strategy's own (engine.strategies.indicators.above/below and the
    crossover rule), operand for operand, so ties fall the same way. No signal and no stop
    on a bar the symbol does not have. ``stops`` is written when it has a place per bar
    (the strategy's stop is in use) and the strategy gives one (Donchian).
    """
    n_bars = close.shape[0]
    # Each bar on its own (the bar before recomputed, not carried): the loops vectorise.
    if kind == SMA_CROSSOVER:
        entries[0] = exits[0] = False  # a crossing needs the bar before
        for t in range(1, n_bars):
            gap = a[t] - b[t]
            tie = _tie(a[t], b[t], tolerance)
            gap_before = a[t - 1] - b[t - 1]
            tie_before = _tie(a[t - 1], b[t - 1], tolerance)
            has_bar = close[t] == close[t]
            entries[t] = has_bar & (gap > tie) & (gap_before <= tie_before)
            exits[t] = has_bar & (gap < -tie) & (gap_before >= -tie_before)
    elif kind == DONCHIAN_BREAKOUT:
        with_stops = len(stops) == n_bars
        for t in range(n_bars):
            price = close[t]
            has_bar = price == price
            entries[t] = has_bar & ((price - a[t]) > _tie(price, a[t], tolerance))
            exits[t] = has_bar & ((b[t] - price) > _tie(price, b[t], tolerance))
            if with_stops:
                stops[t] = value0 * c[t] if has_bar else np.nan
    elif kind == BOLLINGER_REVERSION:
        for t in range(n_bars):
            price = close[t]
            has_bar = price == price
            lower = a[t] - value0 * b[t]
            entries[t] = has_bar & ((lower - price) > _tie(price, lower, tolerance))
            exits[t] = has_bar & ((a[t] - price) <= _tie(price, a[t], tolerance))
    else:  # RSI_REVERSION: in through the lower level from at or below it, out above the upper
        for t in range(n_bars):
            strength = a[t]
            has_bar = close[t] == close[t]
            out = (strength - value1) > _tie(strength, value1, tolerance)
            into = (strength - value0) > _tie(strength, value0, tolerance)
            was_at_or_below = False
            if t > 0:
                before = a[t - 1]
                was_at_or_below = (before - value0) <= _tie(before, value0, tolerance)
            entries[t] = has_bar & into & was_at_or_below & ~out
            exits[t] = has_bar & out


@njit(cache=_CACHE)
def _fill(cash, position, size, price, fees, slippage):
    """(cash, position, filled size, fill price with slippage, fees, filled?) of one order."""
    return _fill_order(cash, position, size, price, fees, slippage)


@njit(cache=_CACHE)
def plan_alone(
    entry_signal,
    exit_signal,
    stop_distance,
    decision_price,
    position,
    mark,
    stop_frac,
    stop_anchor,
    cash,
    max_positions,
    size_mode,
    fraction,
    risk_per_trade,
    fees,
    slippage,
):
    """(exit at the next open?, shares to buy there): rules.plan_close for a book of one column.

    plan_close line for line, on floats instead of arrays of one: called on arrays it costs
    a reference count per array per call, which made the whole sweep a fifth slower. A test
    holds the two to each other on random books.
    """
    equity = cash
    budget = cash
    held = 0
    exiting = False
    if position > 0.0:
        equity += position * mark
        leaving = exit_signal
        if not leaving and not np.isnan(stop_frac):
            leaving = _stop_level(stop_anchor, stop_frac) >= mark
        if leaving:
            exiting = True
            budget += _sale_proceeds(position, mark, fees, slippage)
        else:
            held += 1
    slots = max_positions - held
    qty = 0.0
    # plan_close's loop over columns, for its one column: a slot, a budget, an entry signal.
    can_buy = slots > 0 and not budget <= equity * BUDGET_RESIDUE
    if can_buy and entry_signal and not exit_signal and position == 0.0:
        size = _entry_size(
            size_mode, equity, budget, decision_price, stop_distance, fraction,
            risk_per_trade, fees, slippage,
        )  # fmt: skip
        if size > 0.0:
            qty = size
    return exiting, qty


@njit(cache=_CACHE)
def _trade_column(
    entries,
    exits,
    stops,
    open_,
    high,
    low,
    close,
    engine_stop,
    stop_source,
    at_open,
    size_mode,
    fraction,
    risk_per_trade,
    fees,
    slippage,
    trailing,
    max_positions,
    init_cash,
    equity,
    invested,
    trades,
):
    """Trade one symbol on its signals (per signal bar) as a book of its own.

    Writes the book's value and the part of it held at every close into ``equity`` and
    ``invested``, and into ``trades``: [positions opened, closed, closed with a profit,
    their gross profit, their gross loss (negative), value bought and sold].
    """
    n_bars = close.shape[0]
    lag = 1 if at_open else 0  # next_open: bar t's signals fill at bar t+1
    cash = init_cash
    position = 0.0
    last_price = np.nan  # the mark: the last known close
    stop_frac = np.nan
    stop_anchor = np.nan
    entry_size = entry_price = entry_fees = 0.0
    n_opened = n_closed = n_won = 0
    gross_win = loss_sum = traded = 0.0

    i = 0
    while i < n_bars:
        # Quiet bars first, in tight loops: the rules can only mark the book on them.
        if position == 0:  # flat, until a bar whose signal may buy
            while i < n_bars:
                t = i - lag
                if t >= 0 and entries[t] and not exits[t]:
                    break
                if close[i] == close[i]:
                    last_price = close[i]
                equity[i] = cash
                invested[i] = 0.0
                i += 1
        elif stop_frac != stop_frac:  # held with no stop, until an exit signal
            while i < n_bars:
                t = i - lag
                if t >= 0 and exits[t]:
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

        # A bar on which something may happen, step by step as in simulate_nb.
        t = i - lag
        entry = exit_ = False
        distance = np.nan
        if t >= 0:
            exit_ = exits[t]
            entry = entries[t] and not exit_  # a bar with both is an exit
            if stop_source == STOP_STRATEGY:
                distance = stops[t]
        if stop_source == STOP_ENGINE:
            distance = engine_stop[i]  # already moved to the fill bar
        bar_close = close[i]
        has_bar = bar_close == bar_close

        # 0. next_open: the decisions of the close before (rules.plan_close, see plan_alone).
        planned_exit = False
        planned_qty = 0.0
        if at_open and t >= 0:
            planned_exit, planned_qty = plan_alone(
                entries[t],
                exit_,
                distance,
                close[t],
                position,
                last_price,
                stop_frac,
                stop_anchor,
                cash,
                max_positions,
                size_mode,
                fraction,
                risk_per_trade,
                fees,
                slippage,
            )

        # 1. Exits before any entry: a stop the open gapped through (at the close: a stop hit
        #    inside the bar), then the planned exit (at the close: the exit signal).
        exited = False
        if position > 0 and has_bar:
            price = np.nan
            if stop_frac == stop_frac:
                level = _stop_level(stop_anchor, stop_frac)
                if open_[i] <= level:
                    price = open_[i]
                elif not at_open and low[i] <= level:
                    price = level
                if not at_open and price != price and trailing:
                    stop_anchor = _trailed_anchor(stop_anchor, high[i])
            if price != price:
                if at_open:
                    if planned_exit:
                        price = open_[i]
                elif exit_:
                    price = bar_close
            if price == price:
                cash, position, size, fill_price, fill_fees, filled = _fill(
                    cash, position, -position, price, fees, slippage
                )
                if filled:
                    traded += size * fill_price
                    pnl = entry_size * (fill_price - entry_price) - entry_fees - fill_fees
                    n_closed += 1
                    n_won += pnl > 0
                    gross_win += max(pnl, 0.0)
                    loss_sum += min(pnl, 0.0)
                if position == 0:
                    exited = True
                    stop_frac = np.nan
                    stop_anchor = np.nan

        # 2. The entry: at the open the planned shares (decided at the close before, the
        #    stop level from that close), at the close sized at that close on the cash in hand.
        size = 0.0
        price = decision = np.nan
        if at_open:
            if planned_qty > 0 and has_bar:
                size, price, decision = planned_qty, open_[i], close[t]
        elif entry and position == 0 and not exited and cash > 0 and has_bar:
            size = _entry_size(
                size_mode, cash, cash, bar_close, distance, fraction, risk_per_trade,
                fees, slippage,
            )  # fmt: skip
            price = decision = bar_close
        if size > 0:
            cash, position, size, fill_price, fill_fees, filled = _fill(
                cash, 0.0, size, price, fees, slippage
            )
            if filled:
                n_opened += 1
                traded += size * fill_price
                entry_size, entry_price, entry_fees = size, fill_price, fill_fees
                stop_frac = _stop_fraction(decision, distance)
                stop_anchor = decision if stop_frac == stop_frac else np.nan

        # 3. At the open, the stop is live for the rest of the bar, a new entry's too.
        if at_open and position > 0 and stop_frac == stop_frac and has_bar:
            level = _stop_level(stop_anchor, stop_frac)
            if low[i] <= level:
                # An entry's level, set at the decision's close, may be above its open.
                cash, position, size, fill_price, fill_fees, filled = _fill(
                    cash, position, -position, min(open_[i], level), fees, slippage
                )
                if filled:
                    traded += size * fill_price
                    pnl = entry_size * (fill_price - entry_price) - entry_fees - fill_fees
                    n_closed += 1
                    n_won += pnl > 0
                    gross_win += max(pnl, 0.0)
                    loss_sum += min(pnl, 0.0)
                if position == 0:
                    stop_frac = np.nan
                    stop_anchor = np.nan
            elif trailing:
                stop_anchor = _trailed_anchor(stop_anchor, high[i])

        # 4. The book at the close, positions marked at their last known price.
        if has_bar:
            last_price = bar_close
        held = 0.0
        if position != 0:
            held += position * last_price
        equity[i] = cash + held
        invested[i] = held
        i += 1

    trades[0] = n_opened
    trades[1] = n_closed
    trades[2] = n_won
    trades[3] = gross_win
    trades[4] = loss_sum
    trades[5] = traded


@njit(cache=_CACHE)
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


@njit(cache=_CACHE)
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


@njit(parallel=True, cache=_CACHE)
def screen_nb(
    kind,
    series,
    combo_series,
    combo_values,
    open_,
    high,
    low,
    close,
    engine_stop,
    stop_source,
    at_open,
    size_mode,
    fraction,
    risk_per_trade,
    fees,
    slippage,
    trailing,
    max_positions,
    init_cash,
    bars_per_year,
    tolerance,
):
    """The metrics (combinations x symbols rows, N_METRICS columns) of every task, in parallel.

    ``series`` holds each distinct indicator once, (series x symbols x bars);
    ``combo_series[k]`` names the three series combination k reads (a, b, c) and
    ``combo_values[k]`` its two scalar parameters. Prices and ``engine_stop`` are
    (symbols x bars). Rows are combination-major: row = combination x n_symbols + symbol.
    """
    n_combos = combo_series.shape[0]
    n_symbols, n_bars = close.shape
    n_tasks = n_combos * n_symbols
    out = np.empty((n_tasks, N_METRICS))
    # Tasks go in blocks that share their scratch arrays; blocks are handed out one by one
    # (see fast_sweep's parallel_chunksize), so a thread the OS slows down holds up little.
    n_blocks = (n_tasks + TASKS_PER_BLOCK - 1) // TASKS_PER_BLOCK
    for block in prange(n_blocks):
        entries = np.empty(n_bars, dtype=np.bool_)
        exits = np.empty(n_bars, dtype=np.bool_)
        stops = np.empty(n_bars if stop_source == STOP_STRATEGY else 0)
        equity = np.empty(n_bars)
        invested = np.empty(n_bars)
        trades = np.empty(6)
        for task in range(block * TASKS_PER_BLOCK, min(n_tasks, (block + 1) * TASKS_PER_BLOCK)):
            combo = task // n_symbols
            symbol = task % n_symbols
            _signals_into(
                kind,
                series[combo_series[combo, 0], symbol],
                series[combo_series[combo, 1], symbol],
                series[combo_series[combo, 2], symbol],
                combo_values[combo, 0],
                combo_values[combo, 1],
                close[symbol],
                tolerance,
                entries,
                exits,
                stops,
            )
            _trade_column(
                entries,
                exits,
                stops,
                open_[symbol],
                high[symbol],
                low[symbol],
                close[symbol],
                engine_stop[symbol],
                stop_source,
                at_open,
                size_mode,
                fraction,
                risk_per_trade,
                fees,
                slippage,
                trailing,
                max_positions,
                init_cash,
                equity,
                invested,
                trades,
            )
            _book_metrics(equity, invested, trades, init_cash, bars_per_year, out[task])
    return out
