"""Corporate actions: the splits and cash dividends a broker applies to the shares held.

The records are the data layer's: splits in ``splits`` (migration 0007, kept by ingest
from the source's ``split_ratio``), cash dividends in ``dividends`` (migration 0014, this
module owns it; ingest keeps a source's ``dividend`` column). Both also come from a CSV
(`wb data actions import FILE`). The paper broker and the live loop read them through
:func:`actions_between`.

A CSV has a header with ``symbol`` and ``date`` (the ex-date, YYYY-MM-DD) and at least
one of ``split_ratio`` (new shares per old share: 4 for 4-for-1, 0.1 for 1-for-10; empty
or 1: none) and ``dividend`` (cash per share; empty or 0: none; ``ex_dividend`` is read
as the same), optionally ``pay_date``. The bundled ``data/sample/actions.csv.gz`` is such
a file. An import checks every line first and writes all of it or nothing.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from engine.data._csv import read_text_csv, refuse_bad_lines
from engine.errors import InputError
from engine.store.events import append_event, utcnow

SPLIT, DIVIDEND = "split", "dividend"
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,14}$")
_CSV_HINT = (
    "write a header symbol,date,split_ratio,dividend (dates YYYY-MM-DD; leave a cell empty "
    "when there is none), e.g. AAPL,2014-06-09,7,"
)


@dataclass(frozen=True)
class CorporateAction:
    """One split or cash dividend of ``symbol``, effective at the open of ``ex_date``."""

    symbol: str
    ex_date: date
    kind: str  # split | dividend
    ratio: float = 1.0  # new shares per old share (a split)
    amount: float = 0.0  # cash per share (a dividend)
    pay_date: date | None = None

    @property
    def key(self) -> tuple[str, str, date]:
        """What makes it one action: (symbol, kind, ex-date)."""
        return (self.symbol, self.kind, self.ex_date)

    def describe(self) -> str:
        """``AAPL 4-for-1 split on 2020-08-31`` or ``AAPL dividend 0.82/share on ...``."""
        if self.kind == SPLIT:
            return f"{self.symbol} {_ratio_text(self.ratio)} split on {self.ex_date}"
        return f"{self.symbol} dividend {self.amount:g}/share on {self.ex_date}"


def _ratio_text(ratio: float) -> str:
    from fractions import Fraction

    simple = Fraction(ratio).limit_denominator(1000)
    return f"{simple.numerator}-for-{simple.denominator}"


# -- reading ----------------------------------------------------------------------------


def actions_between(
    con, symbols: Iterable[str], after: date, through: date
) -> list[CorporateAction]:
    """The splits and dividends of ``symbols`` with an ex-date in (``after``, ``through``],
    in ex-date order, a day's split before its dividend.

    ``con`` is a DuckDB connection: a caller inside a transaction passes its own.
    """
    symbols = sorted(set(symbols))
    if not symbols:
        return []
    sql = (
        "SELECT symbol, date AS ex_date, 'split' AS kind, ratio, 0.0 AS amount, NULL::DATE AS pay_date"
        " FROM splits WHERE symbol IN (SELECT unnest(?)) AND date > ? AND date <= ?"
        " UNION ALL SELECT symbol, ex_date, 'dividend', 1.0, amount, pay_date FROM dividends"
        " WHERE symbol IN (SELECT unnest(?)) AND ex_date > ? AND ex_date <= ?"
        " ORDER BY ex_date, kind DESC, symbol"
    )
    rows = con.execute(sql, [symbols, after, through] * 2).fetchall()
    return [
        CorporateAction(s, pd.Timestamp(d).date(), k, float(r), float(a),
                        None if p is None or pd.isna(p) else pd.Timestamp(p).date())
        for s, d, k, r, a, p in rows
    ]  # fmt: skip


#: What changes when a split or dividend is added, replaced or removed: how many rows, and
#: the newest ingest among them (a reader that keeps actions checks it with its other reads).
STAMP_SQL = (
    "SELECT count(*)::VARCHAR || '@' || coalesce(max(ingested_at)::VARCHAR, '') FROM"
    " (SELECT ingested_at FROM splits UNION ALL SELECT ingested_at FROM dividends)"
)


class KnownActions:
    """The splits and dividends of some symbols, read once and kept while the store's
    :data:`STAMP_SQL` stays the same (a process that steps through sessions reads them once,
    not per session)."""

    def __init__(self):
        self._stamp: str | None = None
        self._symbols: frozenset[str] = frozenset()
        self._actions: list[CorporateAction] = []
        self._ex_dates: list[date] = []

    def between(self, con, stamp: str, symbols: Iterable[str], after: date,
                through: date, *, among: Iterable[str] = ()) -> list[CorporateAction]:  # fmt: skip
        """:func:`actions_between` of ``symbols``, from memory while ``stamp`` (read now) is
        the one they were read under; else read on ``con`` (a DuckDB connection), with
        those of ``among`` (the symbols asked about later: a loop's universe, read once
        rather than again at each symbol it comes to hold)."""
        symbols = frozenset(symbols)
        if stamp != self._stamp or not symbols <= self._symbols:
            wanted = (self._symbols if stamp == self._stamp else frozenset()) | symbols | set(among)
            self._actions = actions_between(con, wanted, date.min, date.max)
            self._ex_dates = [a.ex_date for a in self._actions]  # in ex-date order
            self._stamp, self._symbols = stamp, wanted
        # Only the actions of those dates: a step asks about one session among decades.
        first, last = bisect_right(self._ex_dates, after), bisect_right(self._ex_dates, through)
        return [a for a in self._actions[first:last] if a.symbol in symbols]


def stored(store, symbols: Iterable[str] | None = None) -> pd.DataFrame:
    """Every stored split and dividend (of ``symbols``) with its source, by symbol and date."""
    where, params = "", []
    if symbols is not None:
        where, params = " WHERE symbol IN (SELECT unnest(?))", [sorted(set(symbols))] * 2
    return store.query(
        "SELECT * FROM (SELECT symbol, date AS ex_date, 'split' AS kind, ratio, NULL::DOUBLE AS amount,"
        f" NULL::DATE AS pay_date, source FROM splits{where} UNION ALL SELECT symbol, ex_date,"
        f" 'dividend', NULL, amount, pay_date, source FROM dividends{where}) ORDER BY symbol, ex_date, kind DESC",
        params,
    )


# -- a CSV ------------------------------------------------------------------------------


def read_csv(path: str | Path) -> pd.DataFrame:
    """The actions of a CSV as rows ``symbol, ex_date, split_ratio, dividend, pay_date``
    (NaN/None where none), checked; InputError names the bad lines and nothing is read."""
    path = Path(path)
    rows = read_text_csv(path, what="corporate-actions", hint=_CSV_HINT).rename(
        columns={"ex_dividend": "dividend", "ex_date": "date"}
    )
    missing = [c for c in ("symbol", "date") if c not in rows.columns]
    if missing:
        raise InputError(f"{path.name} lacks the column(s) {', '.join(missing)}", hint=_CSV_HINT)
    if "split_ratio" not in rows.columns and "dividend" not in rows.columns:
        raise InputError(
            f"{path.name} has neither a split_ratio nor a dividend column", hint=_CSV_HINT
        )
    if rows.empty:
        raise InputError(f"{path.name} has a header but no corporate actions", hint=_CSV_HINT)
    for column in ("split_ratio", "dividend", "pay_date"):
        if column not in rows.columns:
            rows[column] = ""
    symbols = rows["symbol"].str.strip().str.upper()
    days = pd.to_datetime(rows["date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    paid = pd.to_datetime(rows["pay_date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    ratio = pd.to_numeric(rows["split_ratio"].str.strip().replace("", "nan"), errors="coerce")
    cash = pd.to_numeric(rows["dividend"].str.strip().replace("", "nan"), errors="coerce")
    problems = []
    for i in rows.index:  # line i + 2: the header is line 1
        line = f"line {i + 2}:"
        if not _SYMBOL.match(symbols[i]):
            problems.append(f"{line} symbol {rows['symbol'][i]!r} is not a ticker")
        if pd.isna(days[i]):
            problems.append(f"{line} date {rows['date'][i]!r} is not YYYY-MM-DD")
        if rows["split_ratio"][i].strip() and not (np.isfinite(ratio[i]) and ratio[i] > 0):
            problems.append(
                f"{line} split_ratio {rows['split_ratio'][i]!r} is not a positive number"
            )
        if rows["dividend"][i].strip() and not (np.isfinite(cash[i]) and cash[i] >= 0):
            problems.append(
                f"{line} dividend {rows['dividend'][i]!r} is not an amount of cash >= 0"
            )
        if not rows["split_ratio"][i].strip() and not rows["dividend"][i].strip():
            problems.append(f"{line} neither a split_ratio nor a dividend")
        if rows["pay_date"][i].strip() and pd.isna(paid[i]):
            problems.append(f"{line} pay_date {rows['pay_date'][i]!r} is not YYYY-MM-DD")
        elif not pd.isna(paid[i]) and not pd.isna(days[i]) and paid[i] < days[i]:
            problems.append(f"{line} pay_date {rows['pay_date'][i]} is before the ex-date")
    found = pd.DataFrame({
        "symbol": symbols,
        "ex_date": days.dt.date,
        "split_ratio": ratio.where(ratio != 1.0),
        "dividend": cash.where(cash > 0),
        "pay_date": [None if pd.isna(p) else p.date() for p in paid],
    })  # fmt: skip
    if not problems:
        twice = found.duplicated(["symbol", "ex_date"], keep=False)
        for (symbol, day), group in found[twice].groupby(["symbol", "ex_date"]):
            lines = ", ".join(str(i + 2) for i in group.index)
            problems.append(f"lines {lines}: {symbol} {day} is listed more than once")
    refuse_bad_lines(path, problems, hint=_CSV_HINT)
    return found.sort_values(["symbol", "ex_date"], ignore_index=True)


def import_csv(store, path: str | Path, *, actor: str) -> tuple[int, int]:
    """Adds a CSV's splits and dividends to the store (all or nothing); gives (splits, dividends).

    A record the store already has for that symbol and ex-date is replaced by the file's.
    """
    rows = read_csv(path)
    source = f"csv:{Path(path).name}"
    splits = rows[rows["split_ratio"].notna()]
    dividends = rows[rows["dividend"].notna()]

    def write(con) -> None:
        now = utcnow()
        if not splits.empty:
            con.executemany(
                "INSERT INTO splits VALUES (?, ?, ?, ?, ?) ON CONFLICT (symbol, date) DO UPDATE"
                " SET ratio = excluded.ratio, source = excluded.source, ingested_at = excluded.ingested_at",
                [[s, d, float(r), source, now]
                 for s, d, r in zip(splits["symbol"], splits["ex_date"], splits["split_ratio"], strict=True)],
            )  # fmt: skip
        save_dividends(con, dividends.rename(columns={"dividend": "amount"}), source, now)
        append_event(
            con,
            "corporate_actions.imported",
            actor,
            source,
            {
                "splits": len(splits),
                "dividends": len(dividends),
                "symbols": sorted(rows["symbol"].unique()),
            },
        )

    store.transaction(write)
    return len(splits), len(dividends)


def save_dividends(
    con, rows: pd.DataFrame, source: str, now: datetime, *, replace: bool = True
) -> None:
    """Stores ``symbol, ex_date, amount[, pay_date]`` rows on ``con`` (a newer record of
    the same symbol and ex-date replaces the older one unless not ``replace``)."""
    if rows.empty:
        return
    pay = rows["pay_date"] if "pay_date" in rows else [None] * len(rows)
    on_conflict = (
        "DO UPDATE SET amount = excluded.amount, pay_date = excluded.pay_date,"
        " source = excluded.source, ingested_at = excluded.ingested_at"
        if replace
        else "DO NOTHING"
    )
    con.executemany(
        f"INSERT INTO dividends VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (symbol, ex_date) {on_conflict}",
        [[s, pd.Timestamp(d).date(), float(a), None if p is None or pd.isna(p) else pd.Timestamp(p).date(),
          source, now]
         for s, d, a, p in zip(rows["symbol"], rows["ex_date"], rows["amount"], pay, strict=True)],
    )  # fmt: skip


def dividend_records(rows: pd.DataFrame) -> pd.DataFrame:
    """The dividends a source sent with its daily rows (``dividend`` column): symbol, ex_date, amount."""
    if "dividend" not in rows or "date" not in rows:
        return pd.DataFrame(columns=["symbol", "ex_date", "amount"])
    hit = rows[rows["dividend"].notna() & (rows["dividend"] > 0)]
    return pd.DataFrame(
        {
            "symbol": hit["symbol"].astype(str),
            "ex_date": pd.to_datetime(hit["date"]),
            "amount": hit["dividend"].astype(float),
        }
    )
