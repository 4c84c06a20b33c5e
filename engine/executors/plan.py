"""How a sweep or walk-forward is cut into tasks: combinations first, then symbols or folds.

Work is a grid of units: each parameter combination x each *part* (a symbol of a
per-symbol sweep, or the full history and each fold's training window of a
walk-forward). A task is a block of that grid: a contiguous run of combinations and a
contiguous run of parts. The plan starts from the memory-bounded chunks of combinations
the sweep would run in one process, and cuts finer only as far as the executor wants
tasks (enough to keep every worker busy, none so small that sending it costs more than
running it):

1. each memory chunk is cut into smaller runs of combinations, then
2. if there are still fewer tasks than wanted, the parts are split too.

Combinations come first because each task computes the signals of its combinations once
and reuses them for all of its parts; splitting parts repeats that work.

    >>> [(list(c), list(p)) for c, p in plan_tasks([3], n_parts=2, wanted=1)]
    [([0, 1, 2], [0, 1])]
    >>> [(list(c), list(p)) for c, p in plan_tasks([3], n_parts=2, wanted=6)]
    [([0], [0]), ([0], [1]), ([1], [0]), ([1], [1]), ([2], [0]), ([2], [1])]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Task:
    """One piece of a run: what to compute (``payload``), how to name it, how much it counts.

    ``label`` names the task in progress and error messages (e.g. which combinations and
    symbols); ``weight`` is how many backtests it holds, for the progress bar.
    """

    label: str
    payload: Any
    weight: int = 1


def plan_tasks(chunk_sizes: Sequence[int], n_parts: int, wanted: int) -> list[tuple[range, range]]:
    """(combination positions, part positions) of each task, in the order a local run goes.

    ``chunk_sizes`` are the memory-bounded chunks of combinations (never made larger);
    ``n_parts`` the parts of each combination; ``wanted`` how many tasks the executor
    would like. Every (combination, part) is in exactly one task, and the tasks are
    ordered combinations first, so results joined in task order are in local order.
    """
    if not chunk_sizes or min(chunk_sizes) < 1 or n_parts < 1:
        raise ValueError(f"nothing to plan: chunks {list(chunk_sizes)}, {n_parts} parts")
    wanted = max(1, wanted)
    # One piece per chunk, then one more at a time to the chunk with the largest pieces.
    pieces = [1] * len(chunk_sizes)
    while sum(pieces) < min(sum(chunk_sizes), wanted):
        k = max(range(len(pieces)), key=lambda k: chunk_sizes[k] / pieces[k])
        pieces[k] += 1
    combinations: list[range] = []
    start = 0
    for size, count in zip(chunk_sizes, pieces, strict=True):
        combinations += even_ranges(start, size, count)
        start += size
    groups = 1 if len(combinations) >= wanted else math.ceil(wanted / len(combinations))
    parts = even_ranges(0, n_parts, min(n_parts, groups))
    return [(combos, group) for combos in combinations for group in parts]


def even_ranges(start: int, size: int, pieces: int) -> list[range]:
    """``range(start, start + size)`` cut into ``pieces`` contiguous runs whose sizes differ by at most one."""
    base, extra = divmod(size, pieces)
    ranges, at = [], start
    for k in range(pieces):
        length = base + (1 if k < extra else 0)
        ranges.append(range(at, at + length))
        at += length
    return ranges
