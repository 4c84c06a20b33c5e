"""What every source shares: windows of dates, and refusing a bar size it does not serve."""

from __future__ import annotations

import pandas as pd

from engine.data.bar_sizes import BAR_SIZES, check_bar_size
from engine.errors import InputError


def window(rows: pd.DataFrame, start, end) -> pd.DataFrame:
    """Rows from ``start`` to ``end`` (dates, inclusive; intraday by session date)."""
    if "timestamp" in rows:
        when = rows["timestamp"].dt.tz_localize(None).dt.normalize()
    else:
        when = rows["date"]
    keep = pd.Series(True, index=rows.index)
    if start is not None:
        keep &= when >= pd.Timestamp(start).normalize()
    if end is not None:
        keep &= when <= pd.Timestamp(end).normalize()
    return rows[keep]


def served(source, bar_size: str) -> str:
    """``bar_size`` if ``source`` serves it; else an InputError naming what it serves."""
    bar_size = check_bar_size(bar_size)
    if bar_size not in source.bar_sizes:
        raise InputError(
            f"the {source.name} source has no {bar_size} bars",
            hint=f"it serves {', '.join(b for b in BAR_SIZES if b in source.bar_sizes)}",
        )
    return bar_size
