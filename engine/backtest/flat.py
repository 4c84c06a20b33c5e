"""Flat by the close: on which bar each session's book sells out, and which bars take no entry.

With ``flat_by_close`` a config holds nothing overnight. The book goes flat at the close of
the session's last bar, or, with ``flat_minutes_before_close=N``, of the last bar that ends
N minutes or more before the scheduled close (16:00, or 13:00 on an early close). No entry
fills on a bar after that one in its session: it would be held into the close. A session
in which no bar ends early enough takes no entry at all. On daily bars every bar is its
session's last: a position bought at the open is sold at that day's close.

    >>> cutoff, barred = flat_bars(bars, minutes_before_close=15)         # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data import bar_sizes
from engine.data.bars import Bars
from engine.errors import InputError


def flat_bars(bars: Bars, minutes_before_close: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(True on the bar at whose close the book goes flat, True on the bars after it in its session).

    Both are one value per bar of ``bars``.
    """
    n_bars = len(bars)
    if not bars.is_intraday:
        if minutes_before_close:
            raise InputError(
                f"daily bars have no bar that ends {minutes_before_close} minutes before the "
                "close: on 1d bars flat_by_close sells at the close",
                hint="set flat_minutes_before_close=0, or backtest intraday bars (--bar-size 15m)",
            )
        return np.ones(n_bars, dtype=bool), np.zeros(n_bars, dtype=bool)
    close = pd.DatetimeIndex(bars.session_close)
    end = np.minimum(bars.index + bar_sizes.length(bars.bar_size), close)
    return flat_by(end, close, bars.session_end, minutes_before_close)


def flat_by(ends, closes, session_end, minutes_before_close: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`flat_bars` on intraday bars given as their ``ends``, their sessions' scheduled
    ``closes`` and ``session_end`` (True on each session's last bar), in time order.

    The live loop asks it of the calendar's bars, so the book goes flat on the bar the
    backtest sells on, whether or not that bar's data has come.
    """
    ends, closes = pd.DatetimeIndex(ends), pd.DatetimeIndex(closes)
    allowed = np.asarray(ends <= closes - pd.Timedelta(minutes=minutes_before_close))
    last_allowed = allowed & (np.asarray(session_end) | ~np.r_[allowed[1:], False])
    return last_allowed, ~allowed
