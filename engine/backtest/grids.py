"""Parameter grids as people write them, counted and bounded before anything is built.

``--grid fast=1:100000:1 --grid slow=1:100000:1`` is ten billion combinations: building
them would take the machine's memory long before the first backtest. So a grid is
counted from its ranges first (a range's length is arithmetic, never a list), and a grid
above the limit is refused in one line that gives the count and the memory it would need.

The limit is ``WB_MAX_COMBINATIONS`` when set, else what half of this machine's memory
holds at the measured cost of a combination (see :data:`BYTES_PER_COMBINATION`). This
module imports nothing heavy, so the command line refuses a grid before vectorbt loads.

>>> parse_grid_arg("fast=5:50:5")
{'fast': [5, 10, 15, 20, 25, 30, 35, 40, 45]}
>>> count_combinations({"fast": range(1, 100_001), "slow": range(1, 100_001)})
10000000000
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import InputError

#: Environment variable that sets the most combinations a sweep may build.
MAX_COMBINATIONS_ENV = "WB_MAX_COMBINATIONS"
#: Share of this machine's memory a sweep may plan to use when no limit is set.
MEMORY_SHARE = 0.5
#: Bytes a sweep keeps per combination (its params and bookkeeping) and per column (one
#: combination on one symbol: its signals, simulation state and row of the table). Measured
#: with tracemalloc on the sample bars: about 0.5 kB and 0.7 kB (fast path) to 1.6 kB (full
#: path), rounded up; the bounded chunk the simulation works in comes on top.
BYTES_PER_COMBINATION = 1_000
BYTES_PER_COLUMN = 2_000

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_EXAMPLE = "e.g. --grid fast=5:50:5 or --grid slow=20,50,100"


# -- parsing ----------------------------------------------------------------------------


def parse_grid_arg(text: str, *, limit: int | None = None) -> dict[str, list]:
    """``"fast=5:50:5"`` -> ``{"fast": [5, 10, ..., 45]}``; ``"slow=20,50"`` -> ``{"slow": [20, 50]}``.

    A range is ``start:stop:step`` with ``stop`` excluded (as Python's range); a list is
    comma-separated; a single value is a list of one. A range longer than the combination
    limit (``limit``, default :func:`combination_limit`) is refused before it is built.
    """
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec:
        raise InputError(f"cannot read grid {text!r}: expected NAME=VALUES", hint=_EXAMPLE)
    if ":" in spec:
        return {name: _parse_range(name, spec, limit)}
    values = [_scalar(part.strip()) for part in spec.split(",") if part.strip()]
    if not values:
        raise InputError(f"grid {text!r} has no values", hint=_EXAMPLE)
    return {name: list(dict.fromkeys(values))}


def _parse_range(name: str, spec: str, limit: int | None) -> list:
    parts = spec.split(":")
    if len(parts) != 3 or not all(_NUMBER.match(p.strip()) for p in parts):
        raise InputError(
            f"cannot read range {name}={spec!r}: expected start:stop:step, all numbers",
            hint=_EXAMPLE,
        )
    start, stop, step = (_scalar(p.strip()) for p in parts)
    if step <= 0:
        raise InputError(f"range {name}={spec}: the step must be positive", hint=_EXAMPLE)
    if stop <= start:
        raise InputError(
            f"range {name}={spec} is empty: stop ({stop}) must be above start ({start}); "
            "stop is excluded",
            hint=_EXAMPLE,
        )
    integers = all(isinstance(v, int) for v in (start, stop, step))
    count = len(range(start, stop, step)) if integers else math.ceil((stop - start) / step - 1e-9)
    check_grid_size({name: range(count)}, limit=limit)  # counted, not built
    if integers:
        return list(range(start, stop, step))
    return [round(start + k * step, 10) for k in range(count)]


def _scalar(text: str) -> Any:
    if _NUMBER.match(text):
        number = float(text)
        return (
            int(number)
            if number.is_integer() and "." not in text and "e" not in text.lower()
            else number
        )
    return text


# -- counting and the limit -------------------------------------------------------------


def distinct_count(values: Any) -> int:
    """How many distinct values a grid gives one parameter (a range is counted, not listed)."""
    if isinstance(values, range):
        return len(values)
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | set | frozenset):
        try:
            return len(dict.fromkeys(values.tolist()))  # a numpy array
        except AttributeError:
            return 1  # a single value
    return len(dict.fromkeys(values))


def count_combinations(grid: Mapping[str, Any]) -> int:
    """The number of combinations ``grid`` spans (before any is checked or built)."""
    return math.prod(distinct_count(values) for values in grid.values())


def sweep_memory(combinations: int, n_symbols: int = 1) -> int:
    """Bytes a sweep of ``combinations`` on ``n_symbols`` symbols keeps (see BYTES_PER_*)."""
    return combinations * (BYTES_PER_COMBINATION + BYTES_PER_COLUMN * max(n_symbols, 1))


def machine_memory() -> int:
    """This machine's physical memory in bytes."""
    import psutil

    return int(psutil.virtual_memory().total)


def combination_limit(n_symbols: int = 1) -> int:
    """The most combinations a sweep on ``n_symbols`` symbols may build.

    ``WB_MAX_COMBINATIONS`` when set; else what :data:`MEMORY_SHARE` of this machine's
    memory holds.
    """
    configured = os.environ.get(MAX_COMBINATIONS_ENV, "").strip()
    if configured:
        try:
            limit = int(configured.replace("_", "").replace(",", ""))
        except ValueError:
            limit = 0
        if limit < 1:
            raise InputError(
                f"{MAX_COMBINATIONS_ENV}={configured!r} is not a positive whole number",
                hint=f"set it to the most combinations a sweep may build, e.g. "
                f"{MAX_COMBINATIONS_ENV}=5000000, or unset it to derive it from memory",
            )
        return limit
    return max(1, int(MEMORY_SHARE * machine_memory() // sweep_memory(1, n_symbols)))


def check_grid_size(
    grid: Mapping[str, Any], n_symbols: int = 1, *, limit: int | None = None
) -> int:
    """The grid's number of combinations, or an InputError when it is above the limit.

    ``grid`` maps each parameter to its values (a list, a range, or a single value). The
    error gives the count, the memory the sweep would need and the limit in force.
    """
    combinations = count_combinations(grid)
    limit = combination_limit(n_symbols) if limit is None else limit
    if combinations <= limit:
        return combinations
    sizes = " x ".join(f"{name} {distinct_count(v):,}" for name, v in grid.items())
    symbols = f" on {n_symbols} symbols" if n_symbols > 1 else ""
    configured = os.environ.get(MAX_COMBINATIONS_ENV, "").strip()
    where = (
        f"{MAX_COMBINATIONS_ENV}"
        if configured
        else f"what half of this machine's {format_bytes(machine_memory())} holds"
    )
    raise InputError(
        f"the grid has {combinations:,} combinations ({sizes}){symbols}: a sweep would need "
        f"about {format_bytes(sweep_memory(combinations, n_symbols))} of memory, above the "
        f"limit of {limit:,} combinations ({where})",
        hint="narrow the ranges or take larger steps (e.g. fast=5:200:5); to allow more, "
        f"set {MAX_COMBINATIONS_ENV}",
    )


def format_bytes(size: float) -> str:
    """``3.2e10`` -> ``"32 GB"``: a size in the largest unit that keeps it at least 1."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if size < 1000 or unit == "PB":
            return f"{size:,.0f} {unit}" if unit == "B" or size >= 10 else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
