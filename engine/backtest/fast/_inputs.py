"""What the kernel reads for each built-in: every distinct indicator once, and who uses which.

A grid of 150 SMA pairs has 24 distinct windows: those 24 averages are computed once per
symbol and each pair points at two of them. The indicators come from the same functions
the strategies call (engine.strategies.indicators), so the values, and with them every
tie, are the strategies' own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.backtest.fast import _kernel
from engine.data.bars import Bars
from engine.strategies import indicators
from engine.strategies.base import StrategyParams
from engine.strategies.builtins import (
    bollinger_reversion,
    donchian_breakout,
    rsi_reversion,
    sma_crossover,
)


@dataclass(frozen=True)
class KernelInputs:
    """The indicators of a grid, (series x symbols x bars), and each combination's references.

    ``combo_series[k]`` gives the series combination k reads as (a, b, c) and
    ``combo_values[k]`` its two scalar parameters (see ``_kernel._signal``).
    """

    kind: int
    series: np.ndarray
    combo_series: np.ndarray
    combo_values: np.ndarray


class _Series:
    """Distinct indicator series, each added once, numbered in the order they were added."""

    def __init__(self) -> None:
        self.number: dict[tuple, int] = {}
        self.frames: list[np.ndarray] = []

    def add(self, key: tuple, compute: Callable[[], pd.DataFrame]) -> int:
        if key not in self.number:
            self.number[key] = len(self.frames)
            self.frames.append(compute().to_numpy(dtype=float).T)
        return self.number[key]

    def stacked(self) -> np.ndarray:
        return np.ascontiguousarray(np.stack(self.frames))


def _inputs(kind: int, rows: list[tuple], values: list[tuple], series: np.ndarray) -> KernelInputs:
    return KernelInputs(
        kind=kind,
        series=series,
        combo_series=np.array(rows, dtype=np.int64).reshape(-1, 3),
        combo_values=np.array(values, dtype=np.float64).reshape(-1, 2),
    )


def _sma_crossover(bars: Bars, params_list: Sequence[StrategyParams]) -> KernelInputs:
    found = _Series()  # the strategy's own averages, so the crossings are the same to the bit
    rows = [
        (
            found.add(("sma", p.fast), lambda p=p: indicators.sma(bars.close, p.fast)),
            found.add(("sma", p.slow), lambda p=p: indicators.sma(bars.close, p.slow)),
            0,
        )
        for p in params_list
    ]
    return _inputs(_kernel.SMA_CROSSOVER, rows, [(0.0, 0.0)] * len(rows), found.stacked())


def _donchian_breakout(bars: Bars, params_list: Sequence[StrategyParams]) -> KernelInputs:
    found = _Series()
    rows = [
        (
            found.add(
                ("high", p.entry_window),
                lambda p=p: indicators.prior_high(bars.high, p.entry_window),
            ),
            found.add(
                ("low", p.exit_window), lambda p=p: indicators.prior_low(bars.low, p.exit_window)
            ),
            found.add(
                ("atr", p.atr_window),
                lambda p=p: indicators.atr(bars.high, bars.low, bars.close, p.atr_window),
            ),
        )
        for p in params_list
    ]
    values = [(p.atr_stop, 0.0) for p in params_list]
    return _inputs(_kernel.DONCHIAN_BREAKOUT, rows, values, found.stacked())


def _bollinger_reversion(bars: Bars, params_list: Sequence[StrategyParams]) -> KernelInputs:
    # indicators.bollinger's middle band and deviation; the kernel applies k per combination
    # as bollinger does (middle - k * std), so each window is rolled once whatever the ks.
    close = bars.close
    found = _Series()
    rows = [
        (
            found.add(("mean", p.window), lambda p=p: close.rolling(p.window).mean()),
            found.add(("std", p.window), lambda p=p: close.rolling(p.window).std(ddof=0)),
            0,
        )
        for p in params_list
    ]
    values = [(p.k, 0.0) for p in params_list]
    return _inputs(_kernel.BOLLINGER_REVERSION, rows, values, found.stacked())


def _rsi_reversion(bars: Bars, params_list: Sequence[StrategyParams]) -> KernelInputs:
    found = _Series()
    rows = [
        (found.add(("rsi", p.window), lambda p=p: indicators.rsi(bars.close, p.window)), 0, 0)
        for p in params_list
    ]
    values = [(p.lower, p.upper) for p in params_list]
    return _inputs(_kernel.RSI_REVERSION, rows, values, found.stacked())


#: The built-ins with a fast path, by their signal function and params model: (how to build
#: the kernel's inputs, whether the strategy gives its own stop distance).
BUILDERS: dict[tuple[Callable, type], tuple[Callable[..., KernelInputs], bool]] = {
    (sma_crossover.sma_crossover, sma_crossover.SmaCrossoverParams): (_sma_crossover, False),
    (donchian_breakout.donchian_breakout, donchian_breakout.DonchianBreakoutParams): (
        _donchian_breakout,
        True,
    ),
    (bollinger_reversion.bollinger_reversion, bollinger_reversion.BollingerReversionParams): (
        _bollinger_reversion,
        False,
    ),
    (rsi_reversion.rsi_reversion, rsi_reversion.RsiReversionParams): (_rsi_reversion, False),
}
