"""Bar sizes the workbench knows: 1m, 5m, 15m, 30m, 1h and 1d, and what each one means.

A bar is named by its start. Intraday bins are anchored to the session open (9:30 New
York time), so an hourly bar covers 9:30-10:30 ... 15:30-16:00 (the last one is short),
and no bar ever spans the overnight gap.

>>> check_bar_size("5min")
Traceback (most recent call last):
...
engine.errors.InputError: unknown bar size '5min' (use one of 1m, 5m, 15m, 30m, 1h, 1d; did you mean 5m?)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

#: Exchange time: every intraday bar is stamped in it.
EXCHANGE_TZ = "America/New_York"
DAILY = "1d"
#: Intraday sizes and their length in minutes, finest first.
MINUTES: dict[str, int] = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60}
INTRADAY: tuple[str, ...] = tuple(MINUTES)
BAR_SIZES: tuple[str, ...] = (*INTRADAY, DAILY)
#: The pandas/vectorbt frequency of each size: the keys of BacktestSettings.BARS_PER_YEAR.
FREQ: dict[str, str] = {"1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min",
                        "1h": "1h", "1d": "1D"}
_ALIASES = {"1min": "1m", "5min": "5m", "15min": "15m", "30min": "30m", "60m": "1h",
            "60min": "1h", "1hour": "1h", "1day": "1d", "daily": "1d", "day": "1d", "d": "1d"}


def check_bar_size(value: str) -> str:
    """``value`` if it is a bar size the workbench knows; an InputError naming them if not."""
    text = str(value).strip()
    if text in BAR_SIZES:
        return text
    guess = _ALIASES.get(text.lower()) or (text.lower() if text.lower() in BAR_SIZES else None)
    hint = f"use one of {', '.join(BAR_SIZES)}" + (f"; did you mean {guess}?" if guess else "")
    raise InputError(f"unknown bar size {value!r}", hint=hint)


def is_intraday(bar_size: str) -> bool:
    return check_bar_size(bar_size) != DAILY


def length(bar_size: str) -> pd.Timedelta:
    """How long one full bar lasts (a day for 1d)."""
    import pandas as pd  # this module stays light: the command line's --help reads it

    if check_bar_size(bar_size) == DAILY:
        return pd.Timedelta(days=1)
    return pd.Timedelta(minutes=MINUTES[bar_size])


def can_resample(source_size: str, target_size: str) -> bool:
    """True when bars of ``source_size`` build ``target_size`` bars exactly (coarser, a multiple)."""
    source_size, target_size = check_bar_size(source_size), check_bar_size(target_size)
    if source_size == DAILY:
        return target_size == DAILY
    if target_size == DAILY:
        return True
    return MINUTES[target_size] % MINUTES[source_size] == 0
