"""The look-ahead check: do a strategy's past signals change when the future is removed?

A strategy that peeks at later bars (``close.shift(-1)``, a full-sample mean, a
backward fill) looks brilliant in a backtest and cannot be traded. The check recomputes
the signals on the bars cut short at many points after the warm-up and compares every
signal before each cut with the one computed on all the data: any difference fails it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine.data.bars import Bars
from engine.errors import InputError
from engine.strategies.base import Signals, Strategy, StrategyParams
from engine.strategies.guard import compute_signals
from engine.strategies.registry import get, make_params

#: Violations kept in a result (all are counted in ``passed``); enough to find the bug.
MAX_VIOLATIONS = 20


@dataclass(frozen=True)
class LookaheadResult:
    """Whether past signals stayed put when the future was removed, and where they did not."""

    passed: bool
    points_checked: int
    #: Up to MAX_VIOLATIONS of {date, symbol, what, data_end}: the bar whose signal changed,
    #: what changed, and the last bar of the cut data that changed it.
    violations: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_lookahead(
    strategy: str | Strategy,
    bars: Bars,
    params: StrategyParams | Mapping[str, Any] | None = None,
    points: int = 12,
) -> LookaheadResult:
    """The look-ahead check of ``strategy`` with ``params`` on ``bars`` at ``points`` cuts."""
    strategy = get(strategy)
    params = make_params(strategy, params)
    if points < 1:
        raise InputError("the look-ahead check needs at least one point", hint="use points >= 1")
    full = compute_signals(strategy, bars, params)
    shortest = strategy.warmup(params) + 1  # the fewest bars the strategy accepts
    if len(bars) <= shortest:
        raise InputError(
            f"{strategy.name}: {len(bars)} bars are too few to check for look-ahead "
            f"(the warm-up alone needs {shortest})",
            hint="check on a longer history",
        )
    cuts = np.unique(np.linspace(shortest, len(bars) - 1, points).round().astype(int))

    violations: list[dict[str, Any]] = []
    for cut in cuts:
        cut_signals = compute_signals(strategy, bars.iloc(slice(0, int(cut))), params)
        violations += _differences(full, cut_signals, bars.index[cut - 1])
    return LookaheadResult(
        passed=not violations,
        points_checked=len(cuts),
        violations=violations[:MAX_VIOLATIONS],
    )


def _differences(full: Signals, cut: Signals, data_end: pd.Timestamp) -> list[dict[str, Any]]:
    rows = len(cut.entries)
    found = []
    for what in ("entries", "exits"):
        with_future = getattr(full, what).iloc[:rows].to_numpy()
        without = getattr(cut, what).to_numpy()
        found += _report(what, with_future != without, with_future, without, cut, data_end)
    if (full.stop_distance is None) != (cut.stop_distance is None):
        found.append(
            {
                "date": None,
                "symbol": None,
                "what": "stop_distance given on one side only",
                "data_end": _when(data_end),
            }
        )
    elif full.stop_distance is not None:
        with_future = full.stop_distance.iloc[:rows].to_numpy()
        without = cut.stop_distance.to_numpy()
        same = np.isclose(with_future, without, rtol=1e-9, atol=1e-12, equal_nan=True)
        found += _report("stop_distance", ~same, with_future, without, cut, data_end)
    return found


def _report(what, changed, with_future, without, cut: Signals, data_end) -> list[dict[str, Any]]:
    found = []
    for row, col in np.argwhere(changed)[:MAX_VIOLATIONS]:
        found.append(
            {
                "date": _when(cut.entries.index[row]),
                "symbol": str(cut.entries.columns[col]),
                "what": f"{what} is {with_future[row, col]} with the later bars and "
                f"{without[row, col]} without them",
                "data_end": _when(data_end),
            }
        )
    return found


def _when(stamp: pd.Timestamp) -> str:
    """``2012-03-05`` for a daily bar, the full time for an intraday one."""
    return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
