"""The bundled sample: real daily bars, and SYNTHETIC intraday bars generated from them."""

from __future__ import annotations

import pandas as pd

from engine.data.bar_sizes import DAILY, INTRADAY
from engine.data.bars import INTRADAY_COLUMNS, LONG_COLUMNS
from engine.data.sources._common import served
from engine.errors import NotFoundError


def _known(symbols: list[str] | None) -> list[str]:
    """``symbols`` when the sample has them all (every sample symbol for None)."""
    from engine.data.sample import sample_rows

    available = sorted(sample_rows()["symbol"].unique())
    if not symbols:
        return available
    unknown = [s for s in symbols if s not in available]
    if unknown:
        raise NotFoundError(
            f"the sample bars have no {', '.join(unknown)}",
            hint=f"the sample has {', '.join(available)}; use --source yahoo, alpaca or csv for others",
        )
    return list(symbols)


class SampleSource:
    """The real daily bars bundled with the workbench (see data/sample/SOURCE.md)."""

    name = "sample"
    bar_sizes = frozenset({DAILY})
    remote = False

    def symbols(self) -> list[str]:
        return _known(None)

    def fetch(self, symbols: list[str] | None, start=None, end=None, *,
              bar_size: str = DAILY, extended_hours: bool = False) -> pd.DataFrame:
        from engine.data.sample import sample_dividends, sample_rows, sample_splits

        served(self, bar_size)
        rows = sample_rows(_known(symbols), start, end)[LONG_COLUMNS]
        splits = sample_splits().set_index(["symbol", "date"])["ratio"]
        dividends = sample_dividends().set_index(["symbol", "date"])["amount"]
        keys = pd.MultiIndex.from_arrays([rows["symbol"], rows["date"]])
        return rows.assign(
            split_ratio=splits.reindex(keys).to_numpy(), dividend=dividends.reindex(keys).to_numpy()
        ).reset_index(drop=True)


class SyntheticSource:
    """SYNTHETIC intraday bars generated from the bundled real daily bars, seeded.

    Each day's bars open at its real open, close at its real close, and reach exactly its
    real high and low; its real volume is split over the session by a U-shaped profile
    (see :mod:`engine.data.synthetic`). Stored under the source name
    ``sample-synthetic`` so that everything showing them can say they are not real.
    """

    name = "sample-synthetic"
    bar_sizes = frozenset(INTRADAY)
    remote = False

    def __init__(self, seed: int = 0):
        self.seed = seed

    def symbols(self) -> list[str]:
        return _known(None)

    def fetch(self, symbols: list[str] | None, start=None, end=None, *,
              bar_size: str = "5m", extended_hours: bool = False) -> pd.DataFrame:
        from engine.data.sample import sample_rows
        from engine.data.synthetic import intraday_from_daily

        bar_size = served(self, bar_size)
        daily = sample_rows(_known(symbols), start, end)
        if daily.empty:
            return pd.DataFrame(columns=INTRADAY_COLUMNS)
        return intraday_from_daily(daily, bar_size, seed=self.seed)
