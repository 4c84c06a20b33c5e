"""The peeking checks: do a strategy's signals depend on later bars, or on where the data begins?

A backtest can trade on what live trading will never see in two ways, and each has a check:

- **Look-ahead** (:func:`check_lookahead`): a signal that reads a later bar
  (``close.shift(-1)``, a full-sample mean, a backward fill). The signals are recomputed on
  the bars cut just after *every bar where the full-data run would trade* -- an entry while
  the symbol is flat, an exit while it is held, one position per symbol -- plus evenly spaced
  cuts, and every signal before each cut must be what the full run gave. A strategy that
  reads one bar ahead changes the very bar it trades on when that bar is the last one, so
  it is caught however rarely it signals (a dozen evenly spaced cuts miss a strategy that
  trades thirty times in ten years most of the time).
- **Warm-up** (:func:`check_warmup`): a signal that depends on where the history begins (an
  expanding mean, an EMA seeded on the first bar). The live loop computes signals on a
  short recent history; the check recomputes them on histories that start later, and
  every signal more than the strategy's declared warm-up after the start must be unchanged.

Each violation names the bar, the symbol, what changed and the cut or start that changed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from engine.data.bars import Bars
from engine.errors import InputError
from engine.strategies.base import Signals, Strategy, StrategyParams
from engine.strategies.guard import call_strategy, compute_signals
from engine.strategies.registry import get, make_params

#: Violations kept in a result (all are counted in ``passed``); enough to find the bug.
MAX_VIOLATIONS = 20
#: Later starts the warm-up check tries.
WARMUP_STARTS = 4
#: Bars a later start must leave after its warm-up for the comparison to mean anything.
MIN_COMPARED_BARS = 20

_LOOKAHEAD_WHY = (
    "a signal that changes when later bars are removed was computed from them, so the "
    "backtest traded on information it could not have had"
)
_WARMUP_WHY = (
    "the signal depends on where the data begins, so the live loop, which loads only recent "
    "history, would not trade as the backtest did; declare a longer warm-up or use windowed "
    "indicators"
)


@dataclass(frozen=True)
class LookaheadResult:
    """Whether past signals stayed put when the future was removed, and where they did not."""

    passed: bool
    #: Cuts made in all: after every trading bar, plus the evenly spaced ones.
    points_checked: int
    #: Up to MAX_VIOLATIONS of {date, symbol, what, data_end}: the bar whose signal changed,
    #: what changed, and the last bar of the cut data that changed it.
    violations: list[dict[str, Any]] = field(default_factory=list)
    #: Of the cuts, those just after a bar where the full-data run trades.
    trading_bars: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def detail(self) -> str:
        """One line for the evidence: what was checked, or which bars changed and why that is peeking."""
        if self.passed:
            return (
                f"signals unchanged when the data was cut just after each of the "
                f"{self.trading_bars} bars where the strategy trades and at "
                f"{self.points_checked - self.trading_bars} more points"
            )
        return _failure(
            [f"{v['symbol']} {v['date']}: {v['what']} (data cut after {v['data_end']})"
             for v in self.violations],
            _LOOKAHEAD_WHY,
        )  # fmt: skip


@dataclass(frozen=True)
class WarmupResult:
    """Whether signals after the warm-up stayed put when the history started later."""

    passed: bool
    #: The declared warm-up, in bars.
    warmup: int
    #: Later starts tried.
    starts_checked: int
    #: Up to MAX_VIOLATIONS of {date, symbol, what, history_start, bars_after_start}.
    violations: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def detail(self) -> str:
        """One line for the evidence: what was checked, or which bars changed and why it matters live."""
        if self.passed:
            return (
                f"signals more than the declared warm-up of {self.warmup} bars after the start "
                f"unchanged when the history started at {self.starts_checked} later dates"
            )
        return _failure(
            [f"{v['symbol']} {v['date']}: {v['what']}, {v['bars_after_start']} bars after that "
             f"start (declared warm-up {self.warmup})" for v in self.violations],
            _WARMUP_WHY,
        )  # fmt: skip


def check_lookahead(
    strategy: str | Strategy,
    bars: Bars,
    params: StrategyParams | Mapping[str, Any] | None = None,
    points: int = 12,
    *,
    progress: bool = False,
) -> LookaheadResult:
    """The look-ahead check of ``strategy`` with ``params`` on ``bars`` (see the module docs).

    Cuts go just after every bar where the full-data run would trade, and at ``points``
    evenly spaced bars after the warm-up.
    """
    strategy = get(strategy)
    params = make_params(strategy, params)
    if points < 1:
        raise InputError("the look-ahead check needs at least one point", hint="use points >= 1")
    full = compute_signals(strategy, bars, params)
    shortest = _warmup(strategy, params) + 1  # the fewest bars the strategy accepts
    if len(bars) <= shortest:
        raise InputError(
            f"{strategy.name}: {len(bars)} bars are too few to check for look-ahead "
            f"(the warm-up alone needs {shortest})",
            hint="check on a longer history",
        )
    # A cut keeps bars[:cut], so cutting after bar t is cut = t + 1.
    trading = trading_bars(full) + 1
    trading = np.unique(trading[(trading >= shortest) & (trading < len(bars))])
    spaced = np.unique(np.linspace(shortest, len(bars) - 1, points).round().astype(int))
    cuts = np.union1d(trading, spaced)

    violations: list[dict[str, Any]] = []
    failed = False
    cutting = tqdm(
        cuts, desc=f"look-ahead {strategy.name}", unit="cut", disable=not progress, leave=False
    )
    for cut in cutting:
        cut_signals = compute_signals(strategy, bars.iloc(slice(0, int(cut))), params)
        found = _differences(full, cut_signals, 0, 0, int(cut))
        failed = failed or bool(found)
        end = _when(bars.index[cut - 1])
        violations += [
            {"date": v["date"], "symbol": v["symbol"], "what": v["what"], "data_end": end}
            for v in found[:MAX_VIOLATIONS]
        ]
        if len(violations) >= MAX_VIOLATIONS:
            break  # enough to fail it and find the bug; the rest would only cost time
    return LookaheadResult(
        passed=not failed,
        points_checked=len(cuts),
        violations=violations[:MAX_VIOLATIONS],
        trading_bars=len(trading),
    )


def check_warmup(
    strategy: str | Strategy,
    bars: Bars,
    params: StrategyParams | Mapping[str, Any] | None = None,
    starts: int = WARMUP_STARTS,
) -> WarmupResult:
    """The warm-up check of ``strategy`` with ``params`` on ``bars`` (see the module docs).

    The history is started ``starts`` times later (evenly spread, each leaving at least
    MIN_COMPARED_BARS bars after its warm-up); every signal from the warm-up on must match
    the run on all the bars.
    """
    strategy = get(strategy)
    params = make_params(strategy, params)
    if starts < 1:
        raise InputError("the warm-up check needs at least one start", hint="use starts >= 1")
    warmup = _warmup(strategy, params)
    latest = len(bars) - warmup - MIN_COMPARED_BARS
    if latest < 1:
        raise InputError(
            f"{strategy.name}: {len(bars)} bars are too few for the warm-up check (a later "
            f"start needs its warm-up of {warmup} bars and {MIN_COMPARED_BARS} more to compare)",
            hint="check on a longer history",
        )
    full = compute_signals(strategy, bars, params)
    offsets = np.unique(np.linspace(0, latest, starts + 1)[1:].round().astype(int))
    violations: list[dict[str, Any]] = []
    failed = False
    for offset in offsets:
        later = compute_signals(strategy, bars.iloc(slice(int(offset), None)), params)
        found = _differences(full, later, int(offset), warmup, len(bars))
        failed = failed or bool(found)
        first, start = _when(bars.index[0]), _when(bars.index[offset])
        for v in found[:MAX_VIOLATIONS]:
            violations.append(
                {
                    "date": v["date"],
                    "symbol": v["symbol"],
                    "what": f"{v['kind']} is {v['full']} when the history starts {first} and "
                    f"{v['other']} when it starts {start}",
                    "history_start": start,
                    "bars_after_start": int(v["position"] - offset),
                }
            )
    return WarmupResult(
        passed=not failed,
        warmup=warmup,
        starts_checked=len(offsets),
        violations=violations[:MAX_VIOLATIONS],
    )


def trading_bars(signals: Signals) -> np.ndarray:
    """Positions of the bars where ``signals`` would trade, holding at most one position per
    symbol: an entry (without an exit) while flat, an exit while held."""
    entries = signals.entries.to_numpy(dtype=bool)
    exits = signals.exits.to_numpy(dtype=bool)
    held = np.zeros(entries.shape[1], dtype=bool)
    trades = np.zeros(len(entries), dtype=bool)
    for bar in range(len(entries)):  # a loop over bars, vectorised over symbols
        enter = entries[bar] & ~exits[bar] & ~held
        leave = exits[bar] & held
        trades[bar] = enter.any() or leave.any()
        held = (held | enter) & ~leave
    return np.flatnonzero(trades)


def _failure(changes: list[str], why: str, shown: int = 3) -> str:
    """The first ``shown`` changes, how many more, and why they mean the backtest cannot be trusted."""
    more = len(changes) - shown
    return "; ".join(changes[:shown]) + (f"; and {more} more" if more > 0 else "") + f": {why}"


def _warmup(strategy: Strategy, params: StrategyParams) -> int:
    return int(call_strategy(strategy, strategy.warmup, params))


def _differences(
    full: Signals, other: Signals, offset: int, skip: int, stop: int
) -> list[dict[str, Any]]:
    """Where ``other`` (computed on the bars from position ``offset`` to ``stop``) differs from
    ``full`` on the bars from ``offset + skip`` to ``stop``: {date, position, symbol, what, kind,
    full, other}.
    """
    rows = slice(offset + skip, stop)
    own = slice(skip, stop - offset)
    index, columns = full.entries.index, full.entries.columns
    found: list[dict[str, Any]] = []

    def report(kind: str, changed: np.ndarray, with_full, with_other) -> None:
        for row, col in np.argwhere(changed)[:MAX_VIOLATIONS]:
            found.append(
                {
                    "date": _when(index[rows.start + row]),
                    "position": int(rows.start + row),
                    "symbol": str(columns[col]),
                    "what": f"{kind} is {with_full[row, col]} with the later bars and "
                    f"{with_other[row, col]} without them",
                    "kind": kind,
                    "full": with_full[row, col],
                    "other": with_other[row, col],
                }
            )

    for kind in ("entries", "exits"):
        mine = getattr(full, kind).to_numpy()[rows]
        theirs = getattr(other, kind).to_numpy()[own]
        report(kind, mine != theirs, mine, theirs)
    if (full.stop_distance is None) != (other.stop_distance is None):
        found.append(
            {
                "date": _when(index[rows.start]),
                "position": rows.start,
                "symbol": "",
                "what": "stop_distance given on one side only",
                "kind": "stop_distance",
                "full": full.stop_distance is not None,
                "other": other.stop_distance is not None,
            }
        )
    elif full.stop_distance is not None:
        mine = full.stop_distance.to_numpy()[rows]
        theirs = other.stop_distance.to_numpy()[own]
        same = np.isclose(mine, theirs, rtol=1e-9, atol=1e-12, equal_nan=True)
        report("stop_distance", ~same, mine, theirs)
    return found


def _when(stamp: pd.Timestamp) -> str:
    """``2012-03-05`` for a daily bar, the full time for an intraday one."""
    return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
