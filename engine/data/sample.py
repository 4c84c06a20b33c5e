"""The real daily bars bundled with the workbench (public domain, see data/sample/SOURCE.md)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from engine.data.bars import Bars

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"
SAMPLE_FILE = SAMPLE_DIR / "bars.csv.gz"
#: Symbols with full 2000-2013 history (FB, GOOG, IBM and MSFT are shorter).
CORE_SYMBOLS = ["AAPL", "BA", "CAT", "DELL", "EBAY", "F", "GE"]


@lru_cache(maxsize=1)
def _sample_rows() -> pd.DataFrame:
    if not SAMPLE_FILE.exists():
        from engine.errors import OperatorError

        raise OperatorError(
            f"the bundled sample bars are missing: {SAMPLE_FILE}",
            hint="restore data/sample/ from the repository (git checkout -- data/sample)",
        )
    rows = pd.read_csv(SAMPLE_FILE, dtype={"symbol": str})
    rows["date"] = pd.to_datetime(rows["date"])
    return rows


def sample_rows(symbols: list[str] | None = None, start=None, end=None) -> pd.DataFrame:
    """Long rows of the bundled bars, unadjusted, as a source would deliver them."""
    rows = _sample_rows()
    if symbols:
        rows = rows[rows["symbol"].isin(symbols)]
    if start is not None:
        rows = rows[rows["date"] >= pd.Timestamp(start)]
    if end is not None:
        rows = rows[rows["date"] <= pd.Timestamp(end)]
    return rows.reset_index(drop=True)


def sample_bars(symbols: list[str] | None = None, start=None, end=None, *, adjust=True) -> Bars:
    """The bundled bars as :class:`Bars`, adjusted for splits and dividends by default.

    For tests and examples that need real bars without a store.
    """
    return Bars.from_long(sample_rows(symbols or CORE_SYMBOLS, start, end), adjust=adjust)


@lru_cache(maxsize=1)
def _sample_actions() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DIR / "actions.csv.gz", dtype={"symbol": str}, parse_dates=["date"])


def sample_dividends() -> pd.DataFrame:
    """The cash dividends WIKI records for the sample's symbols (symbol, date, amount per
    share as traded on the ex-date)."""
    actions = _sample_actions()
    paid = actions[actions["ex_dividend"] > 0]
    return paid.rename(columns={"ex_dividend": "amount"})[["symbol", "date", "amount"]].reset_index(drop=True)


def sample_splits() -> pd.DataFrame:
    """The splits WIKI records for the sample's symbols (symbol, date, ratio).

    Only AAPL, BA, CAT, DELL, EBAY, F and GE come with split records; FB, GOOG, IBM and
    MSFT have only their adj_close (see data/sample/SOURCE.md).
    """
    actions = _sample_actions()
    splits = actions[actions["split_ratio"] != 1.0]
    return splits.rename(columns={"split_ratio": "ratio"})[["symbol", "date", "ratio"]].reset_index(drop=True)
