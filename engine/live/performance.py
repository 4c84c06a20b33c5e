"""A book's performance from its equity marks and its round trips: pure functions.

- :func:`period_return`: the equity curve over 1D, 1W, 1M, YTD or all, with its % return
  from the close before the period (or the starting cash when the book began inside it);
- :func:`pnl_by_period`: the change of equity per day, week or month (they add up to the
  whole P&L since the starting cash);
- :func:`performance_by`: round trips grouped by symbol or by strategy: trades, win rate,
  realised P&L, profit factor, average holding time.

Equity is marked at traded prices (the live loop's marks); so are round trips' P&L.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.errors import InputError

PERIODS = ("1D", "1W", "1M", "YTD", "all")
#: How far back each period reaches from the newest mark (YTD and all are decided apart).
_REACH = {"1D": None, "1W": pd.DateOffset(weeks=1), "1M": pd.DateOffset(months=1)}
BUCKETS = {"day": "D", "week": "W-FRI", "month": "M"}
MANUAL = "manual"
SHORT_ID = 8


@dataclass(frozen=True)
class PeriodReturn:
    """The curve over a period and its return against the equity it started from."""

    period: str
    curve: pd.DataFrame  # bar_date, equity: the base mark (when there is one) and the period's
    base: float  # equity the period is measured from
    base_label: str  # what the base is, said beside the %: "close of 2013-06-27", "starting cash"
    end: float

    @property
    def pnl(self) -> float:
        return self.end - self.base

    @property
    def return_pct(self) -> float:
        return self.end / self.base - 1 if self.base else np.nan


def period_return(
    curve: pd.DataFrame, period: str, starting_cash: float | None = None
) -> PeriodReturn:
    """The marks of ``period`` (one of PERIODS) and the return over it.

    ``curve`` has ``bar_date`` and ``equity``, oldest first, one mark per bar. The period is
    measured from the last mark at or before its start (1D: the previous mark; YTD: the
    last mark of the year before); when the book has no mark that old, from
    ``starting_cash`` (else its first mark).
    """
    if period not in PERIODS:
        raise InputError(f"unknown period {period!r}", hint=f"one of {', '.join(PERIODS)}")
    if curve.empty:
        raise InputError(
            "the book has no equity marks yet", hint="the live loop marks it each step"
        )
    dates = pd.to_datetime(curve["bar_date"]).reset_index(drop=True)
    equity = curve["equity"].astype(float).reset_index(drop=True)
    last = dates.iloc[-1]
    if period == "1D":
        before = len(dates) - 2 if len(dates) > 1 else None
    elif period == "all":
        before = None
    else:
        start = pd.Timestamp(last.year, 1, 1) if period == "YTD" else last - _REACH[period]
        earlier = dates[dates < start] if period == "YTD" else dates[dates <= start]
        before = int(earlier.index[-1]) if len(earlier) else None
    if before is not None:
        base, label, first = (
            float(equity.iloc[before]),
            f"close of {dates.iloc[before].date()}",
            before,
        )
    elif starting_cash is not None:
        base, label, first = float(starting_cash), "starting cash", 0
    else:
        base, label, first = float(equity.iloc[0]), f"first mark, {dates.iloc[0].date()}", 0
    window = pd.DataFrame({"bar_date": dates.iloc[first:], "equity": equity.iloc[first:]})
    return PeriodReturn(period, window.reset_index(drop=True), base, label, float(equity.iloc[-1]))


def pnl_by_period(
    curve: pd.DataFrame, bucket: str, starting_cash: float | None = None
) -> pd.DataFrame:
    """Equity's change per ``bucket`` ("day", "week" or "month"): period, pnl, return_pct.

    Each period ends at its last mark and starts from the one before it (the first from
    ``starting_cash``, else from its own first mark); weeks end on Friday. The P&L of all
    periods adds up to the last equity less the starting cash.
    """
    if bucket not in BUCKETS:
        raise InputError(f"unknown bucket {bucket!r}", hint=f"one of {', '.join(BUCKETS)}")
    if curve.empty:
        return pd.DataFrame(columns=["period", "pnl", "return_pct"])
    dates = pd.to_datetime(curve["bar_date"])
    equity = pd.Series(curve["equity"].astype(float).to_numpy(), index=dates)
    ends = equity.groupby(dates.dt.to_period(BUCKETS[bucket]).to_numpy()).last()
    first = float(starting_cash) if starting_cash is not None else float(equity.iloc[0])
    starts = ends.shift(1).fillna(first)
    return pd.DataFrame({
        "period": ends.index.to_timestamp() if bucket != "week" else ends.index.end_time.normalize(),
        "pnl": (ends - starts).to_numpy(),
        "return_pct": (ends / starts - 1).to_numpy(),
    })  # fmt: skip


def strategy_label(config_id, names: dict[str, str]) -> str:
    """``sma_crossover · 1a2b3c4d`` for a registered config, ``manual`` for none."""
    if not isinstance(config_id, str) or not config_id:
        return MANUAL
    short = config_id[:SHORT_ID]
    return f"{names[config_id]} · {short}" if config_id in names else f"config {short}"


def performance_by(trips: pd.DataFrame, key: str) -> pd.DataFrame:
    """Round trips grouped by ``key`` (a column: "symbol", "strategy"), best realised P&L first.

    ``trades``, ``wins`` and ``win_rate`` count closed trips; ``realised_pnl`` includes
    what open trips' partial exits realised, so the groups add up to the book's.
    ``profit_factor`` is closed trips' gains over their losses (inf without a loss).
    """
    columns = [key, "trades", "wins", "win_rate", "realised_pnl", "avg_pnl", "best", "worst",
               "profit_factor", "avg_held"]  # fmt: skip
    if trips.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for value, group in trips.groupby(key, sort=False):
        done = group[group["closed_at"].notna()]
        pnl = done["realised_pnl"]
        gains, losses = pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()
        rows.append({
            key: value, "trades": len(done), "wins": int((pnl > 0).sum()),
            "win_rate": (pnl > 0).mean() if len(done) else np.nan,
            "realised_pnl": float(group["realised_pnl"].sum()),
            "avg_pnl": pnl.mean() if len(done) else np.nan,
            "best": pnl.max() if len(done) else np.nan, "worst": pnl.min() if len(done) else np.nan,
            "profit_factor": gains / losses if losses else (np.inf if gains else np.nan),
            "avg_held": pd.to_timedelta(done["held"]).mean() if len(done) else pd.NaT,
        })  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("realised_pnl", ascending=False, ignore_index=True)
