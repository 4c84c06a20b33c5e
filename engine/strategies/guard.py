"""Signals from a strategy, called through a guard that checks its inputs and what it returns.

A strategy is user code. Whatever it does wrong -- raises, returns frames of another shape,
index or dtype, a negative stop -- comes back as ONE :class:`StrategyError` naming it, so
that a sweep, a backtest or the live loop never acts on misaligned signals. Inputs it
cannot work with (no symbols, too few bars for its windows, bars mostly missing) are an
:class:`InputError` that says what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from engine.data.bars import FIELDS, Bars
from engine.errors import InputError, OperatorError, TemporaryError, WorkbenchError
from engine.strategies.base import Signals, Strategy, StrategyError, StrategyParams
from engine.strategies.registry import get, make_params

#: Above this share of missing bars inside a symbol's listed span, the data is unusable.
MAX_HOLE_SHARE = 0.5


def compute_signals(
    strategy: str | Strategy,
    bars: Bars,
    params: StrategyParams | Mapping[str, Any] | None = None,
) -> Signals:
    """The strategy's signals on ``bars``: boolean entries/exits aligned to the bars.

    ``params`` may be the strategy's params model or a dict of values (None: defaults).
    There is never a signal, nor a stop distance, on a bar a symbol does not have. A
    strategy with an array form (:attr:`Strategy.array_fn`, the built-ins) is computed by
    it, under the same checks: the same signals as its signal function, to the bit, without
    pandas' per-call cost (the live loop computes a short window every step).
    """
    strategy = get(strategy)
    params = make_params(strategy, params)
    check_bars(strategy, bars)
    check_history(strategy, bars, params)
    if strategy.array_fn is not None:
        return _array_signals(strategy, bars, params)
    signals = call_strategy(strategy, strategy.signal_fn, private_view(bars), params)
    return checked_signals(strategy, signals, bars.index, bars.close.columns, bars.close.notna())


def _array_signals(strategy: Strategy, bars: Bars, params: StrategyParams) -> Signals:
    """The signals of the strategy's array form (:attr:`Strategy.array_fn`), checked and
    masked as :func:`checked_signals` checks and masks a signal function's frames."""
    answer = call_strategy(strategy, strategy.array_fn, bars, params)
    index, columns = bars.index, bars.close.columns
    if not (isinstance(answer, tuple) and len(answer) == 3):
        raise StrategyError(
            strategy.name, "its array form must return (entries, exits, stop_distance or None)"
        )
    has_bar = ~pd.isna(bars.close.to_numpy())
    entries = _boolean_array(strategy, "entries", answer[0], has_bar.shape)
    exits = _boolean_array(strategy, "exits", answer[1], has_bar.shape)
    stop = answer[2]
    if stop is not None:
        stop = _shaped(strategy, "stop_distance", stop, has_bar.shape).astype(float, copy=False)
        stop = _valid_stop(strategy, stop, index, columns)
    return _masked(entries, exits, stop, has_bar, index, columns)


def _masked(entries, exits, stop, has_bar: np.ndarray, index, columns) -> Signals:
    """Signals frames of checked arrays, with no signal nor stop where ``has_bar`` is False."""
    if stop is not None:
        stop = pd.DataFrame(np.where(has_bar, stop, np.nan), index=index, columns=columns,
                            copy=False)  # fmt: skip
    return Signals(
        entries=pd.DataFrame(entries & has_bar, index=index, columns=columns, copy=False),
        exits=pd.DataFrame(exits & has_bar, index=index, columns=columns, copy=False),
        stop_distance=stop,
    )


def _shaped(strategy: Strategy, what: str, values: Any, shape: tuple[int, int]) -> np.ndarray:
    if not (isinstance(values, np.ndarray) and values.shape == shape):
        raise StrategyError(
            strategy.name,
            f"its array form's {what} is not a {shape} array (one row per bar, one column "
            "per symbol)",
        )
    return values


def _boolean_array(strategy: Strategy, what: str, values: Any, shape) -> np.ndarray:
    values = _shaped(strategy, what, values, shape)
    if values.dtype != np.bool_:
        raise StrategyError(
            strategy.name, f"its array form's {what} must be boolean, found dtype {values.dtype}"
        )
    return values


def private_view(bars: Bars) -> Bars:
    """``bars`` as new frames sharing the data copy-on-write: no copy is made, yet a strategy
    that writes into its bars (``close.iloc[0] = ...``, ``fillna(inplace=True)``) changes only
    its own view, never the bars the backtest or the live loop goes on to trade."""
    frames = (getattr(bars, field).copy(deep=False) for field in FIELDS)
    return bars.with_frames(**dict(zip(FIELDS, frames, strict=True)))


def check_bars(strategy: Strategy, bars: Bars) -> None:
    """Raise an InputError when no strategy could work on ``bars``."""
    if not isinstance(bars, Bars):
        raise InputError(
            f"{strategy.name} needs Bars, not {type(bars).__name__}",
            hint="load them with engine.data (e.g. sample_bars() or the bar store)",
        )
    if not len(bars.close.columns):
        raise InputError(
            f"{strategy.name}: the universe is empty (no symbols)",
            hint="pass at least one symbol, e.g. --symbols AAPL,MSFT",
        )
    if len(bars) == 0:
        raise InputError(
            f"{strategy.name}: there are no bars in the chosen dates",
            hint="widen --start/--end, or ingest bars for these symbols",
        )
    if not (bars.index.is_monotonic_increasing and bars.index.is_unique):
        raise InputError(
            f"{strategy.name}: bars must be in date order with no date twice",
            hint="build bars with Bars.from_long, which sorts and pivots them",
        )
    listed = ~pd.isna(bars.close.to_numpy())
    if not listed.any():
        raise InputError(
            f"{strategy.name}: every close is missing (NaN) for {', '.join(bars.symbols)}",
            hint="ingest bars for these symbols and dates first: wb ingest",
        )
    # Missing bars before a symbol lists or after it delists are normal (a ragged panel);
    # missing bars in between are holes, and a history that is mostly holes is no history.
    # (In numpy, names only for an error: the loop checks its window every step, and
    # pandas' per-column cummax, or a Series of shares, costs more than the strategy.)
    span = np.logical_or.accumulate(listed, axis=0)
    span &= np.logical_or.accumulate(listed[::-1], axis=0)[::-1]
    spanned = span.sum(axis=0)
    holes = (span & ~listed).sum(axis=0) / np.where(spanned == 0, np.nan, spanned)
    riddled = np.flatnonzero(holes > MAX_HOLE_SHARE)
    if len(riddled):
        symbols = bars.close.columns
        shares = ", ".join(f"{symbols[k]} {holes[k]:.0%}" for k in riddled)
        raise InputError(
            f"{strategy.name}: the bars are mostly missing (NaN closes between the first and "
            f"last bar: {shares})",
            hint="re-ingest these symbols and check them with the data quality report, "
            "or drop them from the universe",
        )


def check_history(strategy: Strategy, bars: Bars, params: StrategyParams) -> None:
    """Raise an InputError when ``bars`` are too short for the windows in ``params``."""
    needed = call_strategy(strategy, strategy.warmup, params) + 1
    if len(bars) < needed:
        settings = ", ".join(f"{key}={value}" for key, value in params.model_dump().items())
        raise InputError(
            f"{strategy.name} with {settings} needs at least {needed} bars; "
            f"the data has {len(bars)}",
            hint="load a longer history (an earlier --start) or choose shorter windows",
        )


def call_strategy(strategy: Strategy, fn, *args):
    """``fn(*args)``, with any failure turned into a StrategyError naming the strategy."""
    try:
        return fn(*args)
    except (StrategyError, OperatorError, TemporaryError):
        # A changed model file or an unreachable service is not bad input: the caller
        # (the live loop above all) must stop or retry, not treat it as a fixable argument.
        raise
    except WorkbenchError as exc:  # the strategy's own complaint: keep its words and hint
        raise StrategyError(strategy.name, exc.message, hint=exc.hint) from exc
    except Exception as exc:
        raise StrategyError(
            strategy.name,
            f"failed with {type(exc).__name__}: {exc}",
            hint="fix the strategy's code (wb --debug, or the chained exception, shows the line)",
        ) from exc


def checked_signals(
    strategy: Strategy,
    signals: Any,
    index: pd.Index,
    columns: pd.Index,
    has_bar: pd.DataFrame,
) -> Signals:
    """``signals`` checked against the expected index and columns, without signals on missing bars.

    ``has_bar`` is True where the symbol has a bar; its columns are the symbols, tiled
    across ``columns`` when those are a sweep's (params..., symbol) blocks.
    """
    if not isinstance(signals, Signals):
        raise StrategyError(
            strategy.name,
            f"returned {type(signals).__name__}, expected Signals(entries, exits, stop_distance)",
        )
    mask = np.tile(has_bar.to_numpy(dtype=bool), len(columns) // max(len(has_bar.columns), 1))
    entries = _boolean(strategy, "entries", signals.entries, index, columns)
    exits = _boolean(strategy, "exits", signals.exits, index, columns)
    stop = signals.stop_distance
    if stop is not None:
        stop = _stop_distance(strategy, stop, index, columns)
    return _masked(entries, exits, stop, mask, index, columns)


def _aligned(strategy: Strategy, what: str, frame: Any, index: pd.Index, columns: pd.Index):
    if not isinstance(frame, pd.DataFrame):
        raise StrategyError(
            strategy.name, f"{what} is a {type(frame).__name__}, expected a DataFrame"
        )
    if frame.shape != (len(index), len(columns)):
        raise StrategyError(
            strategy.name,
            f"{what} has shape {frame.shape}, expected {(len(index), len(columns))} "
            "(one row per bar, one column per symbol)",
            hint="build signals from the bars' own frames, e.g. bars.close > ...",
        )
    # Rows are the bars' dates, columns their symbols (or a sweep's blocks): a frame that
    # dropped, sorted or shifted either is named at its first difference.
    for axis, got, expected, wrong, hint in (
        ("row", frame.index, index, "is not indexed by the bars' dates",
         "do not drop, sort or shift the rows; keep bars.index"),
        ("column", frame.columns, columns, "columns are not the bars' symbols in order",
         "keep the bars' columns and their order"),
    ):  # fmt: skip
        if not got.equals(expected):
            where = _first_difference(got, expected)
            raise StrategyError(
                strategy.name,
                f"{what} {wrong} ({axis} {where}: {_label(got[where])} instead of "
                f"{_label(expected[where])})",
                hint=hint,
            )
    return frame


def _boolean(strategy, what, frame, index, columns) -> np.ndarray:
    frame = _aligned(strategy, what, frame, index, columns)
    dtypes = set(frame.dtypes)  # a sweep has thousands of columns but few dtypes
    wrong = [str(dtype) for dtype in dtypes if not pd.api.types.is_bool_dtype(dtype)]
    if wrong:
        raise StrategyError(
            strategy.name,
            f"{what} must be boolean, found dtype {wrong[0]}",
            hint="return comparisons (close > sma), not numbers; use .fillna(False).astype(bool)",
        )
    nullable = any(dtype != np.bool_ for dtype in dtypes)
    if nullable and frame.isna().to_numpy().any():  # pandas' "boolean" dtype allows NA
        raise StrategyError(strategy.name, f"{what} has missing values", hint="use .fillna(False)")
    return frame.to_numpy(dtype=bool)


def _stop_distance(strategy, frame, index, columns) -> np.ndarray:
    frame = _aligned(strategy, "stop_distance", frame, index, columns)
    dtypes = set(frame.dtypes)
    if not all(
        pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d) for d in dtypes
    ):
        raise StrategyError(
            strategy.name,
            f"stop_distance must be a price distance (numbers), found dtypes "
            f"{sorted(str(d) for d in dtypes)}",
        )
    return _valid_stop(strategy, frame.to_numpy(dtype=float), index, columns)


def _valid_stop(strategy, values: np.ndarray, index, columns) -> np.ndarray:
    """``values``, when each is a price distance (non-negative, finite, or NaN for none)."""
    bad = np.isinf(values) | (values < 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise StrategyError(
            strategy.name,
            f"stop_distance must be a non-negative price distance; it is {values[row, col]} "
            f"on {index[row]} for {columns[col]}",
            hint="return a distance below the entry price (e.g. 2 * ATR), NaN where unknown",
        )
    return values


def _label(value) -> str:
    """A row or column label as an error shows it: a symbol quoted, a date as written."""
    return repr(value) if isinstance(value, str) else str(value)


def _first_difference(got: pd.Index, expected: pd.Index) -> int:
    for position, (a, b) in enumerate(zip(got, expected, strict=False)):
        if a != b:
            return position
    return min(len(got), len(expected)) - 1
