"""Quality checks on bars, daily or intraday, before they reach the store and after.

Findings are *errors* (the row cannot be trusted) or *warnings* (worth a look, kept).

Errors: a missing value; an impossible value (infinite, a price of a trillion dollars
or more, more than a trillion shares in a bar); a price at or below zero or a negative
volume or adj_close; an impossible date (in the future, or before the NYSE calendar
begins in 1885); high below low; the same symbol and time twice; a day the NYSE was shut.
Intraday bars also: a bar outside the session (or outside extended hours when those are
asked for), a bar off the bar-size grid anchored at the 9:30 open, and an open or close
outside the bar's own high-low range (intraday bars are built from trades, so this is
corruption; in daily bars it is a known quirk of old data and only a warning).

Warnings: a missing session, missing bars inside a session (one finding per day with
the count), zero volume, and a price jump. A jump on a day the source records a split
that adj_close accounts for is no finding at all; other jumps are called jumps.

What happens to rows with errors is the ingest policy:

- ``reject`` (default, safe): the whole batch is refused and nothing is written;
- ``drop``: rows with errors are left out, the rest is written;
- ``flag``: rows with errors are kept and flagged, except rows that cannot be stored at
  all (:data:`UNSTORABLE`), which are dropped.

Warnings are always kept and recorded in ``bar_flags``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from engine.data import calendar
from engine.data.bar_sizes import DAILY, MINUTES, check_bar_size
from engine.data.resample import bin_starts

PRICE_COLUMNS = ["open", "high", "low", "close"]
#: A move in unadjusted closes from one bar to the next beyond these ratios is a jump
#: worth a look (a 2:1 split is 0.5, 3:2 is 0.667, a 1:2 reverse split 2.0).
JUMP_DOWN, JUMP_UP = 0.70, 1.45
#: No traded share costs this much (Berkshire A is under $1e6) and no bar trades this many
#: shares; a value past them is corruption, not a market.
MAX_PRICE = 1e12
MAX_VOLUME = 1e12
#: The NYSE calendar the checks use begins in 1885; a bar before it cannot be checked.
EARLIEST = pd.Timestamp("1885-01-01")
#: Errors that make a row unstorable whatever the policy.
UNSTORABLE = {"missing_value", "non_positive_price", "impossible_value", "impossible_date",
              "duplicate_date", "duplicate_timestamp"}
FINDING_COLUMNS = ["row", "symbol", "date", "timestamp", "check", "severity", "reason", "count"]


class Policy(StrEnum):
    REJECT = "reject"
    DROP = "drop"
    FLAG = "flag"


@dataclass(frozen=True)
class QualityReport:
    """Every finding: one row per (symbol, date or bar, check) with its severity and reason.

    ``timestamp`` is the intraday bar's start (NaT for daily bars and per-day findings);
    ``count`` is how many bars a finding covers (the missing bars of a day; else 1).
    """

    findings: pd.DataFrame  # FINDING_COLUMNS
    rows_checked: int

    @property
    def errors(self) -> pd.DataFrame:
        return self.findings[self.findings["severity"] == "error"]

    @property
    def warnings(self) -> pd.DataFrame:
        return self.findings[self.findings["severity"] == "warning"]

    def summary(self) -> pd.DataFrame:
        """Counts of findings per symbol and check."""
        if self.findings.empty:
            return pd.DataFrame(columns=["symbol", "check", "severity", "count"])
        return (
            self.findings.groupby(["symbol", "check", "severity"])
            .size()
            .rename("count")
            .reset_index()
        )

    def describe(self, limit: int = 10) -> str:
        """A few lines a person can act on: the first findings with symbol, when and reason."""
        lines = [f"{len(self.errors)} error(s), {len(self.warnings)} warning(s) in {self.rows_checked} rows"]
        ordered = self.findings.sort_values(["severity", "symbol", "date", "timestamp"])
        for row in ordered.head(limit).itertuples():
            lines.append(f"  {row.severity:7} {row.symbol:6} {_when(row):16} {row.check}: {row.reason}")
        if len(self.findings) > limit:
            lines.append(f"  ... and {len(self.findings) - limit} more")
        return "\n".join(lines)

    @staticmethod
    def combine(reports: list[QualityReport]) -> QualityReport:
        """One report of several batches'."""
        frames = [r.findings for r in reports if not r.findings.empty]
        findings = pd.concat(frames, ignore_index=True) if frames else _empty()
        return QualityReport(findings, sum(r.rows_checked for r in reports))


def _when(row) -> str:
    if not pd.isna(row.timestamp):
        return pd.Timestamp(row.timestamp).strftime("%Y-%m-%d %H:%M")
    return "" if pd.isna(row.date) else pd.Timestamp(row.date).date().isoformat()


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=FINDING_COLUMNS)


class _Rows:
    """The rows under check with what every check needs: session date, and for intraday
    bars the minute of the day (New York wall time) and the session's times."""

    def __init__(self, rows: pd.DataFrame, bar_size: str):
        self.rows = rows
        self.intraday = bar_size != DAILY
        if self.intraday:
            stamps = pd.DatetimeIndex(pd.to_datetime(rows["timestamp"]))
            stamps = stamps.tz_localize(calendar.TZ) if stamps.tz is None else stamps.tz_convert(calendar.TZ)
            self.timestamp = pd.Series(stamps, index=rows.index)
            local = stamps.tz_localize(None)
            self.date = pd.Series(local.normalize(), index=rows.index)
            self.minute = pd.Series(((local - local.normalize()) // pd.Timedelta(minutes=1)),
                                    index=rows.index)
        else:
            self.timestamp = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns]")
            self.date = pd.Series(pd.to_datetime(rows["date"]), index=rows.index)

    def finding(self, mask, check: str, severity: str, reason, count=1) -> pd.DataFrame:
        hit = self.rows[mask]
        reasons = reason(hit) if callable(reason) else reason
        return pd.DataFrame({
            "row": hit.index, "symbol": hit["symbol"].to_numpy(),
            "date": self.date[mask].to_numpy(), "timestamp": self.timestamp[mask].to_numpy(),
            "check": check, "severity": severity, "reason": reasons, "count": count,
        })


def check_bars(
    rows: pd.DataFrame,
    *,
    bar_size: str = DAILY,
    extended_hours: bool = False,
    stored_last: dict[str, pd.Timestamp] | None = None,
    splits: pd.DataFrame | None = None,
    now: pd.Timestamp | None = None,
) -> QualityReport:
    """Findings for long rows (date or timestamp, symbol, open, high, low, close, volume[, adj_close]).

    - ``bar_size``: the rows' bar size; intraday rows carry ``timestamp`` (the bar's start).
    - ``extended_hours``: pre- and post-market bars are expected (else they are errors).
    - ``stored_last``: per symbol, the last session already stored, so that the
      missing-session check also covers the gap between stored and new bars.
    - ``splits``: the source's split records (symbol, date, ratio) for the jump check.
    - ``now``: the present (default: the clock), for the future-date check.

    The findings' ``row`` column is the index label of the offending row in ``rows``
    (None for a finding about a day rather than a row).
    """
    bar_size = check_bar_size(bar_size)
    now = pd.Timestamp.now(tz=calendar.TZ) if now is None else pd.Timestamp(now)
    now = now.tz_localize(calendar.TZ) if now.tzinfo is None else now.tz_convert(calendar.TZ)
    r = _Rows(rows, bar_size)
    found: list[pd.DataFrame] = []
    numeric = [c for c in (*PRICE_COLUMNS, "volume", "adj_close") if c in rows]
    values = rows[numeric].astype(float)

    missing = values.isna().any(axis=1) | r.date.isna()
    if missing.any():
        found.append(r.finding(missing, "missing_value", "error", lambda h: "missing " + h[numeric].isna().apply(
            lambda m: ", ".join(m.index[m]) or "the date", axis=1)))

    prices = values[[c for c in numeric if c != "volume"]]
    impossible = ~missing & (~np.isfinite(values).all(axis=1) | (prices.abs() >= MAX_PRICE).any(axis=1)
                             | (values["volume"].abs() >= MAX_VOLUME))
    if impossible.any():
        found.append(r.finding(impossible, "impossible_value", "error",
                               lambda h: h[numeric].apply(_impossible_reason, axis=1)))
    ok = ~missing & ~impossible

    non_positive = ok & ((prices <= 0).any(axis=1) | (values["volume"] < 0))
    if non_positive.any():
        found.append(r.finding(non_positive, "non_positive_price", "error",
                               lambda h: h[numeric].apply(_non_positive_reason, axis=1)))
    ok &= ~non_positive

    latest = now if r.intraday else now.tz_localize(None).normalize()
    when = r.timestamp if r.intraday else r.date
    too_late = r.date.notna() & (when > latest)
    too_early = r.date.notna() & (r.date < EARLIEST)
    if (too_late | too_early).any():
        found.append(r.finding(too_late | too_early, "impossible_date", "error", lambda h: np.where(
            too_late[h.index], f"dated after now ({latest:%Y-%m-%d %H:%M} New York)",
            f"dated before {EARLIEST.year}, when the NYSE calendar the checks use begins")))
    dated = r.date.notna() & ~too_late & ~too_early

    inverted = ok & (rows["high"] < rows["low"])
    if inverted.any():
        found.append(r.finding(inverted, "high_below_low", "error",
                               lambda h: "high " + h["high"].map("{:g}".format) + " < low " + h["low"].map("{:g}".format)))

    key = [rows["symbol"], r.timestamp if r.intraday else r.date]
    dup = pd.MultiIndex.from_arrays(key).duplicated(keep=False) & r.date.notna().to_numpy()
    if dup.any():
        name = "duplicate_timestamp" if r.intraday else "duplicate_date"
        found.append(r.finding(dup, name, "error",
                               "the same symbol and time appear more than once; every copy is suspect"))

    if dated.any():
        found.extend(_session_checks(r, dated, bar_size, extended_hours, stored_last or {}, now))

    outside = ok & ~inverted & (
        (rows["open"] > rows["high"]) | (rows["open"] < rows["low"])
        | (rows["close"] > rows["high"]) | (rows["close"] < rows["low"])
    )
    if outside.any():
        severity = "error" if r.intraday else "warning"
        found.append(r.finding(outside, "open_close_outside_range", severity,
                               "open or close lies outside the high-low range"))

    zero_volume = ok & (rows["volume"] == 0)
    if zero_volume.any():
        found.append(r.finding(zero_volume, "zero_volume", "warning", "no shares traded"))

    found.append(_price_jumps(r, ok & dated, splits))
    found = [f for f in found if not f.empty]
    findings = pd.concat(found, ignore_index=True) if found else _empty()
    return QualityReport(findings=findings, rows_checked=len(rows))


def _impossible_reason(values: pd.Series) -> str:
    for name, value in values.items():
        if not np.isfinite(value):
            return f"{name} is {value}"
        limit = MAX_VOLUME if name == "volume" else MAX_PRICE
        if abs(value) >= limit:
            return f"{name} {value:g} is past any real {'volume' if name == 'volume' else 'price'} ({limit:g})"
    return "an impossible value"


def _non_positive_reason(values: pd.Series) -> str:
    bad = [f"{name} {value:g}" for name, value in values.items()
           if (value < 0 if name == "volume" else value <= 0)]
    return ", ".join(bad) + (" is" if len(bad) == 1 else " are") + " at or below zero"


def _session_checks(r: _Rows, dated: pd.Series, bar_size: str, extended_hours: bool,
                    stored_last: dict, now: pd.Timestamp) -> list[pd.DataFrame]:
    """Days the NYSE was shut, bars outside the session or off the grid, missing sessions/bars."""
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
            hours = "extended hours (4:00-20:00)" if extended_hours else "the regular session"
            found.append(r.finding(outside, "outside_session", "error",
                                   f"the bar starts outside {hours}"))
        size = MINUTES[bar_size]
        off = pd.Series(False, index=r.rows.index)
        off[open_days] = allowed & (bin_starts(minute, day_times["pre"].to_numpy(), opens, closes, size) != minute)
        if off.any():
            found.append(r.finding(off, "off_grid", "error",
                                   f"a {bar_size} bar must start on the {size}-minute grid from the 9:30 open"
                                   " (4:00 before it, the close after it)"))
        found.append(_missing_bars(r, regular & ~off, times, bar_size, stored_last, now))
    found.append(_missing_sessions(r, open_days, times, stored_last))
    return found


def _missing_sessions(r: _Rows, open_days: pd.Series, times: pd.DataFrame, stored_last: dict) -> pd.DataFrame:
    """Sessions between a symbol's first and last bar (or its last stored bar) with no bar."""
    if not open_days.any():
        return _empty()
    days = pd.DataFrame({"symbol": r.rows["symbol"][open_days], "date": r.date[open_days]})
    first, last = days.groupby("symbol")["date"].min(), days.groupby("symbol")["date"].max()
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
    return pd.concat(gaps, ignore_index=True) if gaps else _empty()


def _missing_bars(r: _Rows, regular: pd.Series, times: pd.DataFrame, bar_size: str,
                  stored_last: dict, now: pd.Timestamp) -> pd.DataFrame:
    """Per symbol and session: regular-hours bars the grid expects that are not there.

    A symbol's first day counts from its first bar when the store already holds the
    earlier part of that session, and today's session counts only up to now.
    """
    if not regular.any():
        return _empty()
    size = MINUTES[bar_size]
    bars = pd.DataFrame({"symbol": r.rows["symbol"][regular], "date": r.date[regular],
                         "minute": r.minute[regular]})
    per_day = bars.groupby(["symbol", "date"]).agg(have=("minute", "nunique"), first=("minute", "min"))
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
        return _empty()
    return pd.DataFrame({
        "row": None, "symbol": short["symbol"].to_numpy(), "date": short["date"].to_numpy(),
        "timestamp": pd.NaT, "check": "missing_bars", "severity": "warning",
        "reason": [f"{m} of {e} {bar_size} bars missing in the session"
                   for m, e in zip(short["missing"], expected[short.index], strict=True)],
        "count": short["missing"].to_numpy(),
    })


def _price_jumps(r: _Rows, ok: pd.Series, splits: pd.DataFrame | None) -> pd.DataFrame:
    """Bar-to-bar moves in unadjusted closes beyond JUMP_DOWN/JUMP_UP, told apart by cause.

    A split the source records that day, with adj_close accounting for it, is no finding.
    Otherwise: a recorded split adj_close does not adjust for (research would see a
    crash), a jump adj_close accounts for (a split or distribution the source adjusted),
    or a jump adj_close moves with: a real move, called a jump, not a split.
    """
    if not ok.any():
        return _empty()
    rows = r.rows[ok]
    order = np.lexsort(((r.timestamp if r.intraday else r.date)[ok].to_numpy(), rows["symbol"].to_numpy()))
    rows = rows.iloc[order]
    prev = rows.groupby("symbol", sort=False)["close"].shift()
    ratio = rows["close"] / prev
    jump = (ratio < JUMP_DOWN) | (ratio > JUMP_UP)
    if not jump.any():
        return _empty()
    hit = rows[jump]
    ratio = ratio[jump]
    if "adj_close" in rows:
        adj = (rows["adj_close"] / rows.groupby("symbol", sort=False)["adj_close"].shift())[jump]
        adjusted = (np.abs(np.log(adj)) < np.abs(np.log(ratio)) / 2).to_numpy()
    else:
        adjusted = np.zeros(len(hit), dtype=bool)
    recorded = pd.Series(np.nan, index=hit.index)
    if splits is not None and not splits.empty:
        lookup = splits.assign(date=pd.to_datetime(splits["date"])).set_index(["symbol", "date"])["ratio"]
        keys = pd.MultiIndex.from_arrays([hit["symbol"], r.date[hit.index]])
        recorded[:] = lookup.reindex(keys).to_numpy()
    is_split = recorded.notna().to_numpy()
    reasons = []
    for move, adj_ok, split, split_ratio in zip(ratio, adjusted, is_split, recorded, strict=True):
        text = f"close moved x{move:.3f} from the bar before; "
        if split:
            text += f"a recorded {split_ratio:g}-for-1 split that adj_close does not adjust for"
        elif adj_ok:
            text += "adj_close accounts for it (a split or distribution the source adjusted for)"
        else:
            text += "adj_close moves with it and no split is recorded: a real jump"
        reasons.append(text)
    keep = ~(is_split & adjusted)
    if not keep.any():
        return _empty()
    mask = pd.Series(False, index=r.rows.index)
    mask[hit.index[keep]] = True
    by_label = dict(zip(hit.index, reasons, strict=True))
    return r.finding(mask, "price_jump", "warning", lambda h: [by_label[i] for i in h.index])


def rows_to_drop(report: QualityReport, policy: Policy) -> pd.Index:
    """Index labels of rows the policy leaves out (empty under ``reject``: it refuses instead)."""
    errors = report.errors
    if policy is Policy.DROP:
        labels = errors["row"]
    elif policy is Policy.FLAG:
        labels = errors.loc[errors["check"].isin(UNSTORABLE), "row"]
    else:
        return pd.Index([])
    return pd.Index(labels.dropna().unique())
