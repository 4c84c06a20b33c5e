"""Bars from a CSV file: daily with a ``date`` column, intraday with a ``timestamp`` column.

Dates are read as ISO 8601 (``2014-02-01``, ``2014-02-01 09:30``, with an optional UTC
offset) unless the file's format is given: ``02/01/2014`` is refused rather than guessed
as 1 February or 2 January. Intraday times without an offset are New York time.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from engine.data.bar_sizes import BAR_SIZES, DAILY
from engine.data.bars import INTRADAY_COLUMNS, LONG_COLUMNS
from engine.data.calendar import TZ
from engine.data.sources._common import served, window
from engine.errors import InputError

_OFFSET = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")


def _lines(labels, values) -> str:
    """``line 5: '02/01/2014', ...`` for the first few offending cells (line 1 is the header)."""
    return ", ".join(f"line {i + 2}: {v!r}" for i, v in list(zip(labels, values, strict=True))[:5])


class CsvSource:
    """A CSV file of bars: ``date`` (daily) or ``timestamp`` (intraday, the bar's start),
    then symbol, open, high, low, close, volume, and optionally adj_close and split_ratio.

    ``date_format``: a strptime format (e.g. ``%d/%m/%Y``) for files not in ISO 8601.
    """

    name = "csv"
    bar_sizes = frozenset(BAR_SIZES)
    remote = False

    def __init__(self, path: str | Path, *, date_format: str | None = None):
        self.path = Path(path)
        self.date_format = date_format

    def fetch(self, symbols: list[str] | None, start=None, end=None, *,
              bar_size: str = DAILY, extended_hours: bool = False) -> pd.DataFrame:
        bar_size = served(self, bar_size)
        when = "date" if bar_size == DAILY else "timestamp"
        rows = self._read(when, bar_size)
        rows["symbol"] = rows["symbol"].astype("string").str.strip().str.upper()
        empty = rows["symbol"].isna() | (rows["symbol"] == "")
        if empty.any():
            lines = ", ".join(str(i + 2) for i in rows.index[empty][:5])
            raise InputError(
                f"{self.path.name}: {int(empty.sum())} row(s) have no symbol (line {lines})",
                hint="fill in the symbol of every row, or delete those rows",
            )
        rows["symbol"] = rows["symbol"].astype(object)
        rows[when] = self._dates(rows[when], intraday=when == "timestamp")
        if "adj_close" not in rows.columns:
            rows["adj_close"] = rows["close"]
        numeric = ["open", "high", "low", "close", "volume", "adj_close"]
        if "split_ratio" in rows.columns:
            numeric.append("split_ratio")
        for col in numeric:
            rows[col] = pd.to_numeric(rows[col], errors="coerce")  # unreadable -> NaN -> quality error
        if symbols:
            rows = rows[rows["symbol"].isin(symbols)]
        columns = LONG_COLUMNS if when == "date" else INTRADAY_COLUMNS
        columns = columns + (["split_ratio"] if "split_ratio" in rows.columns else [])
        return window(rows, start, end)[columns].reset_index(drop=True)

    def _read(self, when: str, bar_size: str) -> pd.DataFrame:
        if not self.path.is_file():
            raise InputError(f"no such CSV file: {self.path}", hint="check the --path argument")
        try:
            rows = pd.read_csv(self.path, dtype={"symbol": str, "date": str, "timestamp": str})
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise InputError(
                f"{self.path} is not a readable CSV: {exc}",
                hint=f"expected a header row {when},symbol,open,high,low,close,volume[,adj_close]",
            ) from exc
        rows.columns = [str(c).strip().lower().replace(" ", "_") for c in rows.columns]
        required = [when, "symbol", "open", "high", "low", "close", "volume"]
        missing = [c for c in required if c not in rows.columns]
        if missing:
            other = "timestamp" if when == "date" else "date"
            hint = f"the header must name {','.join(required)} (adj_close optional)"
            if other in rows.columns:
                hint = (f"this file has {other!r}: " + ("pass --bar-size for intraday bars" if when == "date"
                        else "daily bars take --bar-size 1d"))
            raise InputError(f"{self.path.name} lacks column(s) {', '.join(missing)} for {bar_size} bars",
                             hint=hint)
        return rows

    def _dates(self, text: pd.Series, *, intraday: bool) -> pd.Series:
        """The date column read strictly: ISO 8601 unless a format is given.

        Daily: tz-naive dates. Intraday: tz-aware New York times (a time in the hour the
        clocks skip or repeat cannot be read).
        """
        text = text.astype("string").str.strip()
        if self.date_format:
            try:
                parsed = pd.to_datetime(text, format=self.date_format, errors="coerce",
                                        utc="%z" in self.date_format)
            except ValueError as exc:
                raise InputError(f"--date-format {self.date_format!r} cannot read dates: {exc}",
                                 hint="give a strptime format such as %d/%m/%Y or %m/%d/%Y %H:%M") from exc
            if parsed.dt.tz is not None:
                parsed = parsed.dt.tz_convert(TZ).dt.tz_localize(None)
        else:
            parsed = _iso_new_york(text)
        if intraday:
            parsed = parsed.dt.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT")
        bad = parsed.isna() & text.notna()
        if bad.any():
            shown = "the right --date-format" if self.date_format else "its format with --date-format, e.g. %d/%m/%Y"
            raise InputError(
                f"{self.path.name}: {int(bad.sum())} date(s) could not be read "
                f"({_lines(text.index[bad], text[bad])})",
                hint=f"write dates as YYYY-MM-DD (times as YYYY-MM-DD HH:MM, New York time), or give {shown}",
            )
        return parsed if intraday else parsed.dt.normalize()


def _iso_new_york(text: pd.Series) -> pd.Series:
    """ISO 8601 text as New York wall times (tz-naive): offsets are converted, others kept."""
    has_offset = text.str.contains(_OFFSET, na=False)
    naive = pd.to_datetime(text.where(~has_offset), format="ISO8601", errors="coerce")
    if not has_offset.any():
        return naive
    aware = pd.to_datetime(text.where(has_offset), format="ISO8601", errors="coerce", utc=True)
    return naive.where(~has_offset, aware.dt.tz_convert(TZ).dt.tz_localize(None))
