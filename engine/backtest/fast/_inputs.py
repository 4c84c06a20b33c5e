"""What the kernel reads for a grid: every distinct series once, and which ones each set reads.

A grid of 150 SMA pairs has 24 distinct windows: those 24 averages are computed once per
symbol and each pair points at two of them. The series come from the functions the
strategy names in its :class:`~engine.strategies.base.FastPath` (the ones its signals are
computed from), so the values, and with them every tie, are the strategy's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.data.bars import Bars
from engine.strategies.base import FastPath, StrategyParams


@dataclass(frozen=True)
class KernelInputs:
    """The series of a grid, (symbols x series x bars), and what each combination reads.

    Combination k reads the rows ``refs[k]`` of a symbol's series and the floats
    ``values[k]`` (see :class:`~engine.strategies.base.FastPath`).
    """

    series: np.ndarray
    refs: np.ndarray
    values: np.ndarray


def kernel_inputs(
    fast: FastPath, bars: Bars, params_list: Sequence[StrategyParams]
) -> KernelInputs:
    """The kernel's inputs for ``params_list``: each distinct series computed once."""
    number: dict[tuple, int] = {}
    refs = [[number.setdefault(key, len(number)) for key in fast.series(p)] for p in params_list]
    # (symbols x series x bars): a symbol's series side by side, each one's bars
    # contiguous, as the kernel walks them.
    series = np.empty((len(bars.symbols), len(number), len(bars)))
    for k, (function, *args) in enumerate(number):
        series[:, k, :] = np.asarray(function(bars, *args), dtype=float).T
    values = [tuple(fast.values(p)) for p in params_list]
    n_sets = len(params_list)
    return KernelInputs(
        series=series,
        refs=np.array(refs, dtype=np.int64).reshape(n_sets, len(refs[0])),
        values=np.array(values, dtype=np.float64).reshape(n_sets, len(values[0])),
    )
