"""What the model learns to predict, and which rows it may learn from without seeing the future.

The label of bar t is whether the close ``horizon`` bars later is above bar t's close by
more than ``min_return``. It is known only at bar t + horizon, so labels overlap the bars
after them; used carelessly they leak the future into training. Two rules keep them out:

- **Purging**: a model that predicts from bar p on trains only on rows whose label was
  known before p (t + horizon < p). In a k-fold split inside a training window, training
  rows whose label window overlaps the test block are dropped.
- **Embargo**: ``embargo`` more bars are dropped after that, because features of nearby
  bars are alike (serially correlated), so a row just before the test block would still
  tell the model about it.

Labels are targets only: they are never features and never reach a signal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.errors import InputError


def forward_returns(close: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """The return from each bar's close to the close ``horizon`` bars later (NaN when unknown)."""
    _check_horizon(horizon)
    return close.shift(-horizon) / close - 1.0


def forward_return_labels(close: pd.DataFrame, horizon: int, min_return: float) -> pd.DataFrame:
    """1.0 where the return over the next ``horizon`` bars is above ``min_return``, else 0.0.

    NaN where that return is unknown: the last ``horizon`` bars, and bars whose own or
    later close is missing.
    """
    ahead = forward_returns(close, horizon)
    return (ahead > min_return).astype(float).where(ahead.notna())


def last_training_bar(predict_from: int, horizon: int, embargo: int) -> int:
    """The last bar position a model predicting from bar ``predict_from`` on may train on.

    Its label needs the close of bar ``+ horizon``, which must be strictly before
    ``predict_from``; the embargo keeps ``embargo`` more bars between them.

    >>> last_training_bar(100, horizon=5, embargo=2)
    92
    """
    return predict_from - 1 - horizon - embargo


def purged_splits(
    row_bars: np.ndarray, n_splits: int, horizon: int, embargo: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) of a purged k-fold over time: blocks of bars, each tested once.

    ``row_bars`` holds each row's bar position (several symbols share a bar). The bars are
    cut into ``n_splits`` contiguous blocks; a block's test rows are its own, and its
    training rows are every other row except those whose label window touches the block
    (bars from ``start - horizon`` to ``end + horizon``) and the ``embargo`` bars after it.
    """
    if n_splits < 2:
        raise InputError(f"a k-fold needs at least 2 splits, not {n_splits}")
    row_bars = np.asarray(row_bars)
    bars = np.unique(row_bars)
    if len(bars) < n_splits:
        raise InputError(
            f"{len(bars)} bars cannot be cut into {n_splits} blocks",
            hint="train on a longer window",
        )
    splits = []
    for block in np.array_split(bars, n_splits):
        start, end = int(block[0]), int(block[-1])
        test = (row_bars >= start) & (row_bars <= end)
        dropped = (row_bars >= start - horizon) & (row_bars <= end + horizon + embargo)
        splits.append((np.flatnonzero(~dropped), np.flatnonzero(test)))
    return splits


def _check_horizon(horizon: int) -> None:
    if horizon < 1:
        raise InputError(f"the label horizon must be at least 1 bar, not {horizon}")
