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
from engine.data.bar_sizes import DAILY, check_bar_size
from engine.data.quality._rows import FINDING_COLUMNS, Rows, codes, empty
from engine.data.quality.jumps import JUMP_DOWN, JUMP_UP, price_jumps
from engine.data.quality.sessions import session_checks

__all__ = ["EARLIEST", "FINDING_COLUMNS", "JUMP_DOWN", "JUMP_UP", "MAX_PRICE", "MAX_VOLUME",
           "UNSTORABLE", "Policy", "QualityReport", "check_bars", "rows_to_drop"]

PRICE_COLUMNS = ["open", "high", "low", "close"]
#: No traded share costs this much (Berkshire A is under $1e6) and no bar trades this many
#: shares; a value past them is corruption, not a market.
MAX_PRICE = 1e12
MAX_VOLUME = 1e12
#: The NYSE calendar the checks use begins in 1885; a bar before it cannot be checked.
EARLIEST = pd.Timestamp("1885-01-01")
#: Errors that make a row unstorable whatever the policy.
UNSTORABLE = {"missing_value", "non_positive_price", "impossible_value", "impossible_date",
              "duplicate_date", "duplicate_timestamp"}


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
        findings = pd.concat(frames, ignore_index=True) if frames else empty()
        return QualityReport(findings, sum(r.rows_checked for r in reports))


def _when(row) -> str:
    if not pd.isna(row.timestamp):
        return pd.Timestamp(row.timestamp).strftime("%Y-%m-%d %H:%M")
    return "" if pd.isna(row.date) else pd.Timestamp(row.date).date().isoformat()


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
    r = Rows(rows, bar_size)
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

    keys = pd.DataFrame({"symbol": codes(rows["symbol"]), "at": r.order})
    dup = keys.duplicated(keep=False).to_numpy() & r.date.notna().to_numpy()
    copies = keys.duplicated(keep="first").to_numpy() if dup.any() else dup  # all but the first
    if dup.any():
        name = "duplicate_timestamp" if r.intraday else "duplicate_date"
        found.append(r.finding(dup, name, "error",
                               "the same symbol and time appear more than once; every copy is suspect"))

    if dated.any():
        found.extend(session_checks(r, dated, copies, bar_size, extended_hours, stored_last or {}, now))

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

    found.append(price_jumps(r, ok & dated, splits))
    found = [f for f in found if not f.empty]
    findings = pd.concat(found, ignore_index=True) if found else empty()
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
