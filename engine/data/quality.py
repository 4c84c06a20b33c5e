"""Quality checks on daily bars before they reach the store.

Findings are *errors* (the row cannot be trusted: a missing or non-positive price,
high below low, a duplicate date, a date the NYSE was shut) or *warnings* (worth a look,
kept: open or close outside the high-low range, a missing session, a split-like jump,
zero volume). What happens to rows with errors is the ingest policy:

- ``reject`` (default, safe): the whole batch is refused and nothing is written;
- ``drop``: rows with errors are left out, the rest is written;
- ``flag``: rows with errors are kept and flagged, except rows that cannot be stored at
  all (a missing or non-positive price, a duplicate date), which are dropped.

Warnings are always kept and recorded in ``bar_flags``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from engine.data import calendar

PRICE_COLUMNS = ["open", "high", "low", "close"]
#: A one-day move in unadjusted closes beyond these ratios looks like a split (2:1 is 0.5,
#: 3:2 is 0.667, 1:2 reverse is 2.0); real moves that big are rare and worth a look anyway.
SPLIT_LIKE_DOWN, SPLIT_LIKE_UP = 0.70, 1.45
#: Errors that make a row unstorable whatever the policy.
UNSTORABLE = {"missing_value", "non_positive_price", "duplicate_date"}


class Policy(StrEnum):
    REJECT = "reject"
    DROP = "drop"
    FLAG = "flag"


@dataclass(frozen=True)
class QualityReport:
    """Every finding: one row per (symbol, date, check) with its severity and reason."""

    findings: pd.DataFrame  # columns: symbol, date, check, severity, reason
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
        """A few lines a person can act on: the first findings with symbol, date and reason."""
        lines = [f"{len(self.errors)} error(s), {len(self.warnings)} warning(s) in {self.rows_checked} rows"]
        for row in self.findings.sort_values(["severity", "symbol", "date"]).head(limit).itertuples():
            day = "" if pd.isna(row.date) else pd.Timestamp(row.date).date().isoformat()
            lines.append(f"  {row.severity:7} {row.symbol:6} {day:10} {row.check}: {row.reason}")
        if len(self.findings) > limit:
            lines.append(f"  ... and {len(self.findings) - limit} more")
        return "\n".join(lines)


def _finding(rows: pd.DataFrame, check: str, severity: str, reason) -> pd.DataFrame:
    reasons = reason(rows) if callable(reason) else reason
    return pd.DataFrame(
        {
            "row": rows.index,
            "symbol": rows["symbol"].to_numpy(),
            "date": rows["date"].to_numpy(),
            "check": check,
            "severity": severity,
            "reason": reasons,
        }
    )


def check_bars(rows: pd.DataFrame, *, stored_last: dict[str, pd.Timestamp] | None = None) -> QualityReport:
    """Findings for long rows (date, symbol, open, high, low, close, volume[, adj_close]).

    ``stored_last`` gives, per symbol, the last date already in the store, so that the
    missing-session check also covers the gap between stored and new bars.
    The findings' ``row`` column is the index label of the offending row in ``rows``
    (None for a missing session, which has no row).
    """
    found: list[pd.DataFrame] = []
    values = rows[PRICE_COLUMNS + ["volume"]]

    missing = values.isna().any(axis=1) | rows["date"].isna()
    if missing.any():
        found.append(
            _finding(
                rows[missing], "missing_value", "error",
                lambda r: "missing " + r[PRICE_COLUMNS + ["volume"]].isna().apply(
                    lambda m: ", ".join(m.index[m]), axis=1
                ),
            )
        )
    ok = rows[~missing]

    bad_price = (ok[PRICE_COLUMNS] <= 0).any(axis=1) | (ok["volume"] < 0)
    if bad_price.any():
        found.append(_finding(ok[bad_price], "non_positive_price", "error", "a price is zero or negative, or volume is negative"))

    inverted = ok["high"] < ok["low"]
    if inverted.any():
        found.append(
            _finding(ok[inverted], "high_below_low", "error",
                     lambda r: "high " + r["high"].map("{:g}".format) + " < low " + r["low"].map("{:g}".format))
        )

    dup = rows.duplicated(["symbol", "date"], keep=False) & rows["date"].notna()
    if dup.any():
        found.append(_finding(rows[dup], "duplicate_date", "error", "the same symbol and date appear more than once; every copy is suspect"))

    dated = rows[rows["date"].notna()]
    if not dated.empty:
        sessions = calendar.sessions(dated["date"].min(), dated["date"].max())
        shut = ~dated["date"].isin(sessions)
        if shut.any():
            found.append(
                _finding(dated[shut], "non_session_date", "error",
                         lambda r: "the NYSE was closed on " + r["date"].dt.day_name())
            )
        found.append(_missing_sessions(dated, stored_last or {}))

    outside = ~inverted & (
        (ok["open"] > ok["high"]) | (ok["open"] < ok["low"])
        | (ok["close"] > ok["high"]) | (ok["close"] < ok["low"])
    )
    if outside.any():
        found.append(_finding(ok[outside], "open_close_outside_range", "warning", "open or close lies outside the high-low range"))

    zero_volume = ok["volume"] == 0
    if zero_volume.any():
        found.append(_finding(ok[zero_volume], "zero_volume", "warning", "no shares traded"))

    found.append(_split_like_jumps(ok))

    findings = pd.concat([f for f in found if not f.empty], ignore_index=True) if any(
        not f.empty for f in found
    ) else pd.DataFrame(columns=["row", "symbol", "date", "check", "severity", "reason"])
    return QualityReport(findings=findings, rows_checked=len(rows))


def _missing_sessions(rows: pd.DataFrame, stored_last: dict[str, pd.Timestamp]) -> pd.DataFrame:
    """Sessions between a symbol's first and last bar (or its last stored bar) with no bar."""
    if rows.empty:
        return pd.DataFrame()
    first = rows.groupby("symbol")["date"].min()
    last = rows.groupby("symbol")["date"].max()
    for symbol, stored in stored_last.items():
        if symbol in first.index and stored is not None and pd.Timestamp(stored) < first[symbol]:
            first[symbol] = pd.Timestamp(stored)
    sessions = calendar.sessions(first.min(), last.max())
    gaps = []
    for symbol in first.index:
        expected = sessions[(sessions >= first[symbol]) & (sessions <= last[symbol])]
        have = pd.DatetimeIndex(rows.loc[rows["symbol"] == symbol, "date"])
        if stored_last.get(symbol) is not None:
            have = have.append(pd.DatetimeIndex([pd.Timestamp(stored_last[symbol])]))
        absent = expected.difference(have)
        if len(absent):
            gaps.append(pd.DataFrame({"row": None, "symbol": symbol, "date": absent,
                                      "check": "missing_session", "severity": "warning",
                                      "reason": "the NYSE was open but there is no bar"}))
    return pd.concat(gaps, ignore_index=True) if gaps else pd.DataFrame()


def _split_like_jumps(rows: pd.DataFrame) -> pd.DataFrame:
    """Day-over-day moves in unadjusted closes that look like a split.

    When ``adj_close`` moves far less than ``close`` the source has adjusted it: the jump
    is a known split. Otherwise nobody adjusted it, and a backtest would see a crash.
    """
    if rows.empty:
        return pd.DataFrame()
    ordered = rows.sort_values(["symbol", "date"])
    prev_close = ordered.groupby("symbol")["close"].shift()
    ratio = ordered["close"] / prev_close
    jump = (ratio < SPLIT_LIKE_DOWN) | (ratio > SPLIT_LIKE_UP)
    if not jump.any():
        return pd.DataFrame()
    hit = ordered[jump]
    if "adj_close" in ordered:
        adj_ratio = (ordered["adj_close"] / ordered.groupby("symbol")["adj_close"].shift())[jump]
        explained = (np.abs(np.log(adj_ratio)) < np.abs(np.log(ratio[jump])) / 2).to_numpy()
    else:
        explained = np.zeros(len(hit), dtype=bool)
    reasons = [
        f"close moved x{r:.3f} in a day; "
        + ("adj_close accounts for it (a split or distribution)" if e
           else "nothing adjusts for it: check for an unrecorded split")
        for r, e in zip(ratio[jump], explained, strict=True)
    ]
    return _finding(hit, "split_like_jump", "warning", reasons)


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
