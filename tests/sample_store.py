"""A data dir holding some of the bundled sample bars, written straight into the store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.data.sample import sample_rows
from engine.store import Store

COLUMNS = ["symbol", "date", "open", "high", "low", "close", "volume", "adj_close"]


def store_sample_bars(path: Path, symbols: list[str], start: str, end: str) -> Path:
    """``path``, a data dir whose store holds ``symbols``' sample bars from ``start`` to ``end``.

    Inserted directly (no ingest, no quality checks), for tests of what reads them.
    """
    rows = sample_rows(symbols, start=start, end=end)[COLUMNS].assign(
        source="sample", ingested_at=pd.Timestamp("2024-01-01")
    )

    def insert(con):
        con.register("sample_rows", rows)
        con.execute("INSERT INTO bars SELECT * FROM sample_rows")

    Store.open(path).transaction(insert)
    return path
