"""Coarser bars from finer ones: the one function the research path and the live loop share.

Bins are anchored to the session open (9:30 New York time), so 5-minute bars start at
9:30, 9:35, ... and hourly bars at 9:30, 10:30, ... 15:30 (a short last bar to 16:00).
On an early close (13:00) the last bin ends at 13:00. No bin spans the overnight gap, and
none spans the open or the close: extended hours are binned apart, pre-market bins from
4:00 (the last one ends at 9:30) and post-market bins from the close, so extended hours
never leak into a regular-hours bar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data import calendar
from engine.data.bar_sizes import DAILY, MINUTES, can_resample, check_bar_size
from engine.data.bars import INTRADAY_COLUMNS, LONG_COLUMNS
from engine.errors import InputError


def bin_starts(minute, pre, opens, closes, size: int):
    """The start (minutes after midnight) of the bin of ``size`` minutes holding each minute:
    the pre-market from ``pre``, the session from ``opens``, the post-market from ``closes``."""
    anchor = np.where(minute < opens, pre, np.where(minute < closes, opens, closes))
    return anchor + ((minute - anchor) // size) * size


def resample(rows: pd.DataFrame, bar_size: str, *, source_size: str = "1m") -> pd.DataFrame:
    """Bars of ``bar_size`` built from long intraday rows of ``source_size``.

    ``rows``: timestamp (the bar's start, tz-aware; naive is New York time), symbol, open,
    high, low, close, volume[, adj_close], at most one row per symbol and timestamp.
    Each new bar opens at its first bar's open, closes at its last bar's close, takes the
    highest high, the lowest low, the summed volume and the last adj_close. Bins with no
    bar give no row (nothing is filled in). To ``1d`` a session's regular-hours bars make
    one daily row (``date``); its extended-hours bars are left out.
    """
    target, source = check_bar_size(bar_size), check_bar_size(source_size)
    if source == DAILY or not can_resample(source, target):
        raise InputError(
            f"cannot build {target} bars from {source} bars",
            hint="resample to a coarser size whose length is a multiple of the source's",
        )
    columns = LONG_COLUMNS if target == DAILY else INTRADAY_COLUMNS
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.sort_values(["symbol", "timestamp"], kind="stable")
    stamps = pd.DatetimeIndex(rows["timestamp"])
    local = (stamps.tz_localize(calendar.TZ) if stamps.tz is None
             else stamps.tz_convert(calendar.TZ)).tz_localize(None)
    if pd.MultiIndex.from_arrays([rows["symbol"], local]).has_duplicates:
        raise InputError("the bars to resample repeat a symbol and timestamp",
                         hint="check them first (engine.data.quality.check_bars finds duplicates)")
    day = local.normalize()
    minute = ((local - day) // pd.Timedelta(minutes=1)).to_numpy()
    times = calendar.session_times(day.min(), day.max()).reindex(day)
    if times["open"].isna().any():
        first = local[times["open"].isna().to_numpy()][0]
        raise InputError(f"a bar at {first} is on a day the NYSE was shut",
                         hint="drop bars outside the sessions before resampling")
    opens, closes = times["open"].to_numpy(), times["close"].to_numpy()
    outside = (minute < times["pre"].to_numpy()) | (minute >= times["post"].to_numpy())
    if outside.any():
        raise InputError(f"a bar at {local[outside][0]} is outside the session and extended hours",
                         hint="drop bars outside the sessions before resampling")

    if target == DAILY:
        regular = (minute >= opens) & (minute < closes)
        start = np.zeros(len(rows), dtype="int64")
    else:
        size = MINUTES[target]
        start = bin_starts(minute, times["pre"].to_numpy(), opens, closes, size)
        regular = np.ones(len(rows), dtype=bool)
    frame = pd.DataFrame({
        "symbol": rows["symbol"].to_numpy(),
        "day": day,
        "start": start,
        "open": rows["open"].to_numpy(),
        "high": rows["high"].to_numpy(),
        "low": rows["low"].to_numpy(),
        "close": rows["close"].to_numpy(),
        "volume": rows["volume"].to_numpy(),
        "adj_close": (rows["adj_close"] if "adj_close" in rows else rows["close"]).to_numpy(),
    })[regular]
    out = frame.groupby(["symbol", "day", "start"], sort=True).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"),
        close=("close", "last"), volume=("volume", "sum"), adj_close=("adj_close", "last"),
    ).reset_index()
    if target == DAILY:
        out["date"] = out["day"]
    else:
        wall = out["day"] + pd.to_timedelta(out["start"], unit="min")
        out["timestamp"] = wall.dt.tz_localize(calendar.TZ)
    return out[columns]
