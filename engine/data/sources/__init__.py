"""Where bars come from: the bundled sample, a CSV file, Yahoo Finance, or Alpaca.

Every source answers ``fetch(symbols, start, end, *, bar_size, extended_hours)`` with
long rows as traded, plus the source's adjusted close:

- daily: ``date, symbol, open, high, low, close, volume, adj_close`` (tz-naive dates);
- intraday: ``timestamp`` (the bar's start, tz-aware America/New_York) instead of ``date``;
- optionally ``split_ratio``: the split the source records on that row's date (new shares
  per old share; NaN when none), which ingest keeps in the ``splits`` table;
- optionally ``dividend``: the cash dividend per share going ex on that row's date (NaN
  when none), kept in ``dividends`` (see :mod:`engine.data.corporate_actions`).

What a source can do is declared once on its class: ``bar_sizes`` it serves, whether it
is ``remote`` (asked only for bars the store lacks), and ``symbols()`` when it can list
them. Regular hours unless ``extended_hours``: a source trims what its vendor sends.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from engine.data.bar_sizes import DAILY, check_bar_size
from engine.errors import InputError

if TYPE_CHECKING:
    from engine.data.sources._common import window
    from engine.data.sources.alpaca import AlpacaSource
    from engine.data.sources.csv_file import CsvSource
    from engine.data.sources.sample import SampleSource, SyntheticSource
    from engine.data.sources.yahoo import YahooSource, normalise_yahoo

SOURCES = ("sample", "csv", "yahoo", "alpaca")
#: Sources whose bars are generated, not traded: shown as SYNTHETIC wherever they appear.
SYNTHETIC_SOURCES = frozenset({"sample-synthetic"})

# Each source's module (and its vendor library: yfinance, alpaca-py) loads when it is made
# or named, so naming the sources costs nothing (the command line's --help lists them).
_HOMES = {
    "window": "_common", "AlpacaSource": "alpaca", "CsvSource": "csv_file",
    "SampleSource": "sample", "SyntheticSource": "sample", "YahooSource": "yahoo",
    "normalise_yahoo": "yahoo",
}  # fmt: skip


def __getattr__(name: str):
    if name in _HOMES:
        module = importlib.import_module(f"engine.data.sources.{_HOMES[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'engine.data.sources' has no attribute {name!r}")

__all__ = ["SOURCES", "SYNTHETIC_SOURCES", "AlpacaSource", "CsvSource", "SampleSource", "SyntheticSource",
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
    from engine.data.sources import alpaca, csv_file, sample, yahoo  # noqa: F401 (see _HOMES)

    if name == "sample":
        return sample.SampleSource() if bar_size == DAILY else sample.SyntheticSource()
    if name == "csv":
        if path is None:
            raise InputError("--source csv needs a file", hint="add --path FILE.csv")
        return csv_file.CsvSource(path, date_format=date_format)
    if name == "yahoo":
        return yahoo.YahooSource()
    if name == "alpaca":
        return alpaca.AlpacaSource(feed=feed)
    raise InputError(f"unknown source {name!r}", hint=f"use one of {', '.join(SOURCES)}")
