"""Checks against the NYSE calendar: shut days, bars outside the session or off the grid,
missing sessions, and missing bars inside a session (counted per day)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data import calendar
from engine.data.bar_sizes import MINUTES
from engine.data.quality._rows import Rows, empty
from engine.data.resample import bin_starts


def session_checks(r: Rows, dated: pd.Series, copies: np.ndarray, bar_size: str, extended_hours: bool,
                    stored_last: dict, now: pd.Timestamp) -> list[pd.DataFrame]:
    """Days the NYSE was shut, bars outside the session or off the grid, missing sessions/bars.

    ``copies``: rows repeating an earlier row's symbol and time, left out of the counts.
    """
    found = []
    times = calendar.session_times(r.date[dated].min(), r.date[dated].max())
    shut = dated & ~r.date.isin(times.index)
    if shut.any():
        found.append(r.finding(shut, "non_session_date", "error",
                               lambda h: "the NYSE was closed on " + r.date[h.index].dt.day_name()))
    open_days = dated & ~shut
    regular = pd.Series(False, index=r.rows.index)
    if r.intraday and open_days.any():
        day_times = times.reindex(r.date[open_days])
        minute = r.minute[open_days].to_numpy()
        opens, closes = day_times["open"].to_numpy(), day_times["close"].to_numpy()
        regular[open_days] = (minute >= opens) & (minute < closes)
        allowed = (regular[open_days].to_numpy() if not extended_hours else
                   (minute >= day_times["pre"].to_numpy()) & (minute < day_times["post"].to_numpy()))
        outside = pd.Series(False, index=r.rows.index)
        outside[open_days] = ~allowed
        if outside.any():
            reason = ("the bar starts outside extended hours (4:00-20:00)" if extended_hours else
                      "the bar starts outside the regular session (--extended-hours keeps pre- and "
                      "post-market bars)")
            found.append(r.finding(outside, "outside_session", "error", reason))
        size = MINUTES[bar_size]
        off = pd.Series(False, index=r.rows.index)
        off[open_days] = allowed & (bin_starts(minute, day_times["pre"].to_numpy(), opens, closes, size) != minute)
        if off.any():
            found.append(r.finding(off, "off_grid", "error",
                                   f"a {bar_size} bar must start on the {size}-minute grid from the 9:30 open"
                                   " (4:00 before it, the close after it)"))
        found.append(missing_bars(r, regular & ~off & ~pd.Series(copies, index=r.rows.index),
                                   times, bar_size, stored_last, now))
    found.append(missing_sessions(r, open_days, times, stored_last))
    return found


def missing_sessions(r: Rows, open_days: pd.Series, times: pd.DataFrame, stored_last: dict) -> pd.DataFrame:
    """Sessions between a symbol's first and last bar (or its last stored bar) with no bar."""
    if not open_days.any():
        return empty()
    days = pd.DataFrame({"symbol": r.rows["symbol"][open_days], "date": r.date[open_days]})
    first, last = days.groupby("symbol", observed=True)["date"].min(), days.groupby("symbol", observed=True)["date"].max()
    sessions = calendar.sessions(
        min([first.min(), *[pd.Timestamp(v) for v in stored_last.values() if v is not None]]), last.max())
    gaps = []
    for symbol in first.index:
        since = first[symbol]
        stored = stored_last.get(symbol)
        if stored is not None and pd.Timestamp(stored).normalize() < since:
            since = pd.Timestamp(stored).normalize()
        expected = sessions[(sessions >= since) & (sessions <= last[symbol])]
        have = pd.DatetimeIndex(days.loc[days["symbol"] == symbol, "date"].unique())
        if stored is not None:
            have = have.append(pd.DatetimeIndex([pd.Timestamp(stored).normalize()]))
        absent = expected.difference(have)
        if len(absent):
            gaps.append(pd.DataFrame({"row": None, "symbol": symbol, "date": absent, "timestamp": pd.NaT,
                                      "check": "missing_session", "severity": "warning",
                                      "reason": "the NYSE was open but there is no bar", "count": 1}))
    return pd.concat(gaps, ignore_index=True) if gaps else empty()


def missing_bars(r: Rows, regular: pd.Series, times: pd.DataFrame, bar_size: str,
                  stored_last: dict, now: pd.Timestamp) -> pd.DataFrame:
    """Per symbol and session: regular-hours bars the grid expects that are not there.

    A symbol's first day counts from its first bar when the store already holds the
    earlier part of that session, and today's session counts only up to now.
    """
    if not regular.any():
        return empty()
    size = MINUTES[bar_size]
    bars = pd.DataFrame({"symbol": r.rows["symbol"][regular], "date": r.date[regular],
                         "minute": r.minute[regular]})
    per_day = bars.groupby(["symbol", "date"], observed=True).agg(have=("minute", "size"),
                                                                   first=("minute", "min"))
    per_day = per_day.reset_index()
    day_times = times.reindex(per_day["date"])
    start = day_times["open"].to_numpy().copy()
    end = day_times["close"].to_numpy().copy()
    resumed = np.array([stored_last.get(s) is not None and pd.Timestamp(stored_last[s]).normalize() == d
                        for s, d in zip(per_day["symbol"], per_day["date"], strict=True)], dtype=bool)
    start[resumed] = per_day["first"].to_numpy()[resumed]
    today = now.tz_localize(None).normalize()
    minute_now = int((now.tz_localize(None) - today) // pd.Timedelta(minutes=1))
    is_today = (per_day["date"] == today).to_numpy()
    end[is_today] = np.minimum(end[is_today], start[is_today] + ((minute_now - start[is_today]) // size) * size)
    expected = np.maximum(-((start - end) // size), 0)
    per_day["missing"] = expected - per_day["have"].to_numpy()
    short = per_day[per_day["missing"] > 0]
    if short.empty:
        return empty()
    return pd.DataFrame({
        "row": None, "symbol": short["symbol"].to_numpy(), "date": short["date"].to_numpy(),
        "timestamp": pd.NaT, "check": "missing_bars", "severity": "warning",
        "reason": [f"{m} of {e} {bar_size} bars missing in the session"
                   for m, e in zip(short["missing"], expected[short.index], strict=True)],
        "count": short["missing"].to_numpy(),
    })
