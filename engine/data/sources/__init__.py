"""Where bars come from: the bundled sample, a CSV file, Yahoo Finance, or Alpaca.

Every source answers ``fetch(symbols, start, end, *, bar_size, extended_hours)`` with
long rows as traded, plus the source's adjusted close:

- daily: ``date, symbol, open, high, low, close, volume, adj_close`` (tz-naive dates);
- intraday: ``timestamp`` (the bar's start, tz-aware America/New_York) instead of ``date``;
- optionally ``split_ratio``: the split the source records on that row's date (new shares
  per old share; NaN when none), which ingest keeps in the ``splits`` table.

What a source can do is declared once on its class: ``bar_sizes`` it serves, whether it
is ``remote`` (asked only for bars the store lacks), and ``symbols()`` when it can list
them. Regular hours unless ``extended_hours``: a source trims what its vendor sends.
"""

from __future__ import annotations

from pathlib import Path

from engine.data.bar_sizes import DAILY, check_bar_size
from engine.data.sources._common import window
from engine.data.sources.alpaca import AlpacaSource
from engine.data.sources.csv_file import CsvSource
from engine.data.sources.sample import SampleSource, SyntheticSource
from engine.data.sources.yahoo import YahooSource, normalise_yahoo
from engine.errors import InputError

SOURCES = ("sample", "csv", "yahoo", "alpaca")

__all__ = ["SOURCES", "AlpacaSource", "CsvSource", "SampleSource", "SyntheticSource",
           "YahooSource", "make_source", "normalise_yahoo", "window"]


def make_source(
    name: str,
    *,
    path: str | Path | None = None,
    bar_size: str = DAILY,
    date_format: str | None = None,
    feed: str | None = None,
):
    """The source called ``name`` (sample, csv, yahoo or alpaca) for bars of ``bar_size``.

    ``sample`` with an intraday bar size is the SYNTHETIC intraday sample generated from
    the bundled daily bars.
    """
    bar_size = check_bar_size(bar_size)
    if name == "sample":
        return SampleSource() if bar_size == DAILY else SyntheticSource()
    if name == "csv":
        if path is None:
            raise InputError("--source csv needs a file", hint="add --path FILE.csv")
        return CsvSource(path, date_format=date_format)
    if name == "yahoo":
        return YahooSource()
    if name == "alpaca":
        return AlpacaSource(feed=feed)
    raise InputError(f"unknown source {name!r}", hint=f"use one of {', '.join(SOURCES)}")
