"""A chart's time axis for bars: intraday bar times session after session, the gaps closed.

Light on purpose (pandas and the calendar only): the control room draws with it too.
"""

from __future__ import annotations

import pandas as pd


def bar_time_breaks(times: pd.DatetimeIndex | pd.Series) -> list[dict]:
    """plotly x-axis ``rangebreaks`` that close the market's gaps on intraday bar times.

    Nights, weekends, holidays and the afternoons of early closes are left out, so the
    line of bar times runs session after session. Nothing for daily dates (an index whose
    times are all midnight): they have no gaps worth closing.
    """
    times = pd.DatetimeIndex(times)
    if not len(times) or (times == times.normalize()).all():
        return []
    from engine.data import calendar  # the market calendar loads only for intraday times

    local = times.tz_convert(calendar.TZ).tz_localize(None) if times.tz else times
    first, last = local[0].normalize(), local[-1].normalize()
    hours = calendar.session_times(first, last)
    holidays = pd.bdate_range(first, last).difference(hours.index)
    early = hours.index[hours["close"] < 16 * 60]
    breaks: list[dict] = [{"bounds": ["sat", "mon"]}]
    if len(holidays):
        breaks.append({"values": [d.strftime("%Y-%m-%d") for d in holidays]})
    minute = local.hour * 60 + local.minute
    if not ((minute >= 570) & (minute < 960)).all():
        return breaks  # extended hours: the nights hold bars
    breaks.append({"bounds": [16, 9.5], "pattern": "hour"})
    for day in early:
        close = day + pd.Timedelta(minutes=int(hours.loc[day, "close"]))
        breaks.append({"bounds": [close.isoformat(), (day + pd.Timedelta(hours=16)).isoformat()]})
    return breaks
