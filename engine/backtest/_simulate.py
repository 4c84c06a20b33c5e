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
loop and the live loop alike: every sizing and stop decision below is a call into it.
In short, each bar of a book, in time order:

- ``execution="next_open"``: first the decisions of the close before, from what was known
  then (:func:`~engine.backtest.rules.plan_close`: exits, free slots, the cash budget,
  entry sizes at that close); then at the open, stops the open gapped through and the
  planned exits, then the planned entries in column order (a buy the cash at the open
  cannot pay in full fills in part); then stops hit inside the bar (this bar's entries
  included: their stop is live from the fill, at a level set from the decision's close);
  then trailing stops move up to the bar's high.
- ``execution="close"``: stops hit inside the bar, trailing stops move up, then exit
  signals at the close, then entries at the close, sized at that close (their stops start
  on the next bar). A symbol that exits on a bar does not re-enter on the same bar.

Prices are per symbol (``sym_of_col`` maps each signal column to its price column), so a
sweep over thousands of parameter sets does not copy the prices once per set.

numba keys a cached function to its own file only, not to the files of the functions it
calls; :data:`RULES_SOURCE_SHA` ties this file to ``rules.py`` so that the cache of this
loop goes stale exactly when the rules change (a test checks the fingerprint).
"""

from __future__ import annotations

import functools
import hashlib
import types
import warnings
from pathlib import Path

import numpy as np

from engine.backtest import rules
from engine.backtest.rules import (  # noqa: F401 (re-exported)
    SIZE_ALL,
    SIZE_FRACTION,
    SIZE_RISK,
    entry_size,
    fill_order,
    plan_close,
    stop_fraction,
    stop_level,
    trailed_anchor,
)

#: sha256 of engine/backtest/rules.py. Change it with the rules: that edit of this file is
#: what makes numba recompile the loop instead of running a stale cached copy.
RULES_SOURCE_SHA = "8e5f49c9ec9afe9688320273261b991400eeed0e298a17990fa111109824f3ef"

#: Bars x columns under which the loop runs as plain Python: numba's import and first call
#: cost about a second, more than a backtest of one symbol over ten years takes
#: interpreted (~0.1 s). Above it, and once compiled in a process, the compiled loop runs.
SMALL_WORK = 50_000


def rules_fingerprint() -> str:
    """The sha256 of the rules' source as it is on disk now."""
    return hashlib.sha256(Path(rules.__file__).read_bytes()).hexdigest()


_CACHE = rules_fingerprint() == RULES_SOURCE_SHA
if not _CACHE:  # a developer changed the rules: correct but slow until the line above is updated
    warnings.warn(
        "engine/backtest/rules.py changed: set RULES_SOURCE_SHA in engine/backtest/_simulate.py "
        f"to {rules_fingerprint()}; compiling the order loop without numba's cache meanwhile",
        stacklevel=1,
    )


@functools.cache
def compiled() -> types.SimpleNamespace:
    """The rules and the order loop compiled by numba: ``helpers`` (by rule name), ``fill``, ``simulate``.

    The rules call each other by name; numba needs compiled callees, so the same code is
    compiled with the compiled helpers in its namespace. The live loop, and backtests too
    small to repay the compilation, run the originals. numba is imported here, on the
    first big piece of work: its import and first call take about a second.
    """
    from numba import njit

    def jit(fn, helpers: dict | None = None):
        if helpers:
            namespace = {**fn.__globals__, **helpers}
            fn = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__)
        return njit(cache=_CACHE)(fn)

    helpers = {
        name: jit(getattr(rules, name))
        for name in (
            "unit_cost", "sale_proceeds", "stop_fraction", "stop_level", "trailed_anchor",
            "same_amount",
        )
    }  # fmt: skip
    helpers["plus"] = jit(rules.plus, helpers)
    helpers["fill_order"] = jit(rules.fill_order, helpers)
    helpers["entry_size"] = jit(rules.entry_size, helpers)
    helpers["plan_close"] = jit(rules.plan_close, helpers)
    fill = jit(_fill, helpers)
    return types.SimpleNamespace(
        helpers=helpers, fill=fill, simulate=jit(simulate_nb, {**helpers, "_fill": fill})
    )


def order_loop(cells: int):
    """The order loop (``simulate_nb``'s signature) for ``cells`` bars x columns of work.

    Compiled above :data:`SMALL_WORK` or once compiled in this process; plain Python below.
    Both make the same fills to the last bit (a test holds them together).
    """
    if cells >= SMALL_WORK or compiled.cache_info().currsize:
        return compiled().simulate
    return simulate_nb


# The compiled rules under the names the fast sweep's kernel imports them by.
_COMPILED = {
    "_HELPERS": lambda c: c.helpers,
    "_entry_size": lambda c: c.helpers["entry_size"],
    "_fill_order": lambda c: c.helpers["fill_order"],
    "_plan_close": lambda c: c.helpers["plan_close"],
    "_stop_fraction": lambda c: c.helpers["stop_fraction"],
    "_stop_level": lambda c: c.helpers["stop_level"],
    "_trailed_anchor": lambda c: c.helpers["trailed_anchor"],
}


def __getattr__(name: str):
    if name in _COMPILED:
        return _COMPILED[name](compiled())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Why an order was placed, one code per order record (see ``simulate_nb``).
REASON_ENTRY = 0
REASON_SIGNAL = 1
REASON_STOP = 2
REASON_END = 3  # closed at the last bar's close because the window ended


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


def _fill(i, col, cash, position, size, price, fees, slippage, records, oidx):
    """Fill one long-only order and record it; gives back (cash, position, oidx, filled)."""
    cash, position, shares, fill_price, paid, filled = fill_order(
        cash, position, size, price, fees, slippage
    )
    if filled:
        record = records[oidx]
        record["id"] = oidx
        record["col"] = col
        record["idx"] = i
        record["size"] = shares
        record["price"] = fill_price
        record["fees"] = paid
        record["side"] = 0 if size > 0 else 1
        oidx += 1
    return cash, position, oidx, filled


def simulate_nb(
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
    """(order records in vectorbt's layout (``ORDER_DT``), a reason code per record, each group's
    equity at every bar's close, the part of it held in positions).

    Prices are (bars x symbols); ``entries``/``exits``/``stop_dist`` are (bars x columns)
    and already aligned to the bar on which they may fill, as is ``decision_price`` (bars x
    symbols: the close each signal was decided at). Columns are laid out group by group
    (``group_lens``); a group is one book with one cash balance (``init_cash[g]``) and at
    most ``max_positions`` open positions. ``close`` is NaN where a symbol has no bar:
    nothing trades or triggers there. With ``close_at_end``, positions still open after
    the last bar are sold at its close (at the last known close for a symbol that has no
    bar then), costs included.
    """
    n_bars = close.shape[0]
    n_cols = entries.shape[1]
    records = np.empty(max_orders, dtype=ORDER_DT)
    reasons = np.empty(max_orders, dtype=np.int8)
    position = np.zeros(n_cols)
    stop_frac = np.full(n_cols, np.nan)
    stop_anchor = np.full(n_cols, np.nan)
    last_price = np.full(n_cols, np.nan)
    exited = np.zeros(n_cols, dtype=np.bool_)
    widest = 0
    for g in range(len(group_lens)):
        widest = max(widest, group_lens[g])
    exiting = np.zeros(widest, dtype=np.bool_)
    buy_qty = np.zeros(widest)
    # Stored group-major so that each group's curve is contiguous (Fortran order once
    # transposed back to bars x groups), as the per-column metric loops read it.
    equity_out = np.empty((len(group_lens), n_bars))
    invested_out = np.empty((len(group_lens), n_bars))
    oidx = 0

    from_col = 0
    for group in range(len(group_lens)):
        to_col = from_col + group_lens[group]
        width = to_col - from_col
        cash = float(init_cash[group])
        n_open = 0
        for i in range(n_bars):
            if at_open:
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
                    max_positions,
                    size_mode,
                    fraction,
                    risk_per_trade,
                    fees,
                    slippage,
                    exiting[:width],
                    buy_qty[:width],
                )

            # 1. Exits: at the open (next_open), or stops then signals at the close.
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
                    level = stop_level(stop_anchor[col], stop_frac[col])
                    if bar_open <= level:
                        price = bar_open
                        reason = REASON_STOP
                    elif not at_open and low[i, sym] <= level:
                        price = level
                        reason = REASON_STOP
                    if not at_open and np.isnan(price) and trailing:
                        stop_anchor[col] = trailed_anchor(stop_anchor[col], high[i, sym])
                if np.isnan(price):
                    if at_open:
                        if exiting[col - from_col]:
                            price = bar_open
                            # Planned without an exit signal: the stop rose to the close.
                            reason = REASON_SIGNAL if exits[i, col] else REASON_STOP
                    elif exits[i, col]:
                        price = bar_close
                if np.isnan(price):
                    continue
                cash, position[col], new_oidx, filled = _fill(
                    i,
                    col,
                    cash,
                    position[col],
                    -position[col],
                    price,
                    fees,
                    slippage,
                    records,
                    oidx,
                )
                if filled:
                    reasons[oidx] = reason
                    oidx = new_oidx
                if position[col] == 0:
                    n_open -= 1
                    exited[col] = True
                    stop_frac[col] = np.nan
                    stop_anchor[col] = np.nan

            # 2. Entries, in column order.
            if at_open:
                for col in range(from_col, to_col):
                    size = buy_qty[col - from_col]
                    if size <= 0:
                        continue
                    sym = sym_of_col[col]
                    if np.isnan(close[i, sym]):
                        continue  # no bar today: the order lapses, as a day order expires
                    cash, position[col], new_oidx, filled = _fill(
                        i, col, cash, 0.0, size, open_[i, sym], fees, slippage,
                        records, oidx,
                    )  # fmt: skip
                    if filled:
                        reasons[oidx] = REASON_ENTRY
                        oidx = new_oidx
                        n_open += 1
                        price = decision_price[i, sym]
                        stop_frac[col] = stop_fraction(price, stop_dist[i, col])
                        stop_anchor[col] = price if not np.isnan(stop_frac[col]) else np.nan
            else:
                equity = np.nan
                for col in range(from_col, to_col):
                    if n_open >= max_positions or cash <= 0:
                        break
                    if not entries[i, col] or position[col] != 0 or exited[col]:
                        continue
                    sym = sym_of_col[col]
                    price = close[i, sym]
                    if np.isnan(price):
                        continue
                    if np.isnan(equity):
                        # The book's value at this close: held positions at their last price.
                        equity = cash
                        for other in range(from_col, to_col):
                            if position[other] != 0:
                                mark = close[i, sym_of_col[other]]
                                if np.isnan(mark):
                                    mark = last_price[other]
                                equity += position[other] * mark
                    distance = stop_dist[i, col]
                    size = entry_size(
                        size_mode, equity, cash, price, distance, fraction, risk_per_trade,
                        fees, slippage,
                    )  # fmt: skip
                    if size <= 0:
                        continue
                    cash, position[col], new_oidx, filled = _fill(
                        i, col, cash, 0.0, size, price, fees, slippage, records, oidx
                    )
                    if filled:
                        reasons[oidx] = REASON_ENTRY
                        oidx = new_oidx
                        n_open += 1
                        equity = np.nan  # costs were paid: value the book afresh for the next
                        stop_frac[col] = stop_fraction(price, distance)
                        stop_anchor[col] = price if not np.isnan(stop_frac[col]) else np.nan

            # 3. At the open, stops are live for the rest of the bar, this bar's entries too.
            if at_open:
                for col in range(from_col, to_col):
                    if position[col] <= 0 or np.isnan(stop_frac[col]):
                        continue
                    sym = sym_of_col[col]
                    if np.isnan(close[i, sym]):
                        continue
                    level = stop_level(stop_anchor[col], stop_frac[col])
                    if low[i, sym] <= level:
                        # An entry's level, set at the decision's close, may be above its open.
                        cash, position[col], new_oidx, filled = _fill(
                            i,
                            col,
                            cash,
                            position[col],
                            -position[col],
                            min(open_[i, sym], level),
                            fees,
                            slippage,
                            records,
                            oidx,
                        )
                        if filled:
                            reasons[oidx] = REASON_STOP
                            oidx = new_oidx
                        if position[col] == 0:
                            n_open -= 1
                            stop_frac[col] = np.nan
                            stop_anchor[col] = np.nan
                    elif trailing:
                        stop_anchor[col] = trailed_anchor(stop_anchor[col], high[i, sym])

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
                        cash,
                        position[col],
                        -position[col],
                        last_price[col],
                        fees,
                        slippage,
                        records,
                        oidx,
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
