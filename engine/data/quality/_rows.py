"""The rows under check, and findings about them: what every quality check shares."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data import calendar
from engine.data.bar_sizes import DAILY

FINDING_COLUMNS = ["row", "symbol", "date", "timestamp", "check", "severity", "reason", "count"]


def codes(symbols: pd.Series) -> np.ndarray:
    """Symbols as integer codes (cheap when they are categories, as ingest makes them)."""
    if isinstance(symbols.dtype, pd.CategoricalDtype):
        return symbols.cat.codes.to_numpy()
    return pd.factorize(symbols)[0]


def empty() -> pd.DataFrame:
    return pd.DataFrame(columns=FINDING_COLUMNS)


class Rows:
    """The rows under check with what every check needs: session date, and for intraday
    bars the minute of the day (New York wall time) and the session's times."""

    def __init__(self, rows: pd.DataFrame, bar_size: str):
        self.rows = rows
        self.intraday = bar_size != DAILY
        if self.intraday:
            stamps = pd.DatetimeIndex(pd.to_datetime(rows["timestamp"]))
            stamps = stamps.tz_localize(calendar.TZ) if stamps.tz is None else stamps.tz_convert(calendar.TZ)
            self.timestamp = pd.Series(stamps, index=rows.index)
            self.order = stamps.asi8  # the bar's start as integers: fast to sort and compare
            local = stamps.tz_localize(None)
            self.date = pd.Series(local.normalize(), index=rows.index)
            self.minute = pd.Series(((local - local.normalize()) // pd.Timedelta(minutes=1)),
                                    index=rows.index)
        else:
            self.timestamp = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns]")
            self.date = pd.Series(pd.to_datetime(rows["date"]), index=rows.index)
            self.order = self.date.to_numpy()

    def finding(self, mask, check: str, severity: str, reason, count=1) -> pd.DataFrame:
        hit = self.rows[mask]
        reasons = reason(hit) if callable(reason) else reason
        return pd.DataFrame({
            "row": hit.index, "symbol": hit["symbol"].to_numpy(),
            "date": self.date[mask].to_numpy(), "timestamp": self.timestamp[mask].array,
            "check": check, "severity": severity, "reason": reasons, "count": count,
        })
