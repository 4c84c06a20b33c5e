"""How many bars make a year for the bars a backtest runs on, and the sentence that says so.

Every annualised figure (CAGR, Sharpe, Sortino, turnover) is stated with its basis:

- daily bars: 252 a year, the trading-day convention (the calendar's own count, 250-253,
  is not used, so that daily figures stay comparable from year to year);
- intraday bars: counted on the NYSE calendar over the whole calendar years the bars
  span, session by session, early closes included (a 13:00 close has 42 five-minute
  bars, not 78): see :func:`engine.data.calendar.annualisation`.

    >>> from engine.backtest.annualisation import year_of                # doctest: +SKIP
    >>> year_of(bars).describe()                                         # doctest: +SKIP
    'annualised at 5m bars: 78 per session, 42 on an early close; ...: 19,548 bars a year ...'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from engine.backtest.settings import BARS_PER_YEAR
from engine.data.bars import Bars


@dataclass(frozen=True)
class YearOfBars:
    """Bars in a year at one bar size, and where that number comes from."""

    bar_size: str
    bars_per_year: float
    #: How the number was counted, in a trader's words (the calendar's sentence, intraday).
    basis: str

    def describe(self) -> str:
        """``annualised at 1d bars: 252 a year (the trading-day convention)``."""
        return f"annualised at {self.basis}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {**asdict(self), "statement": self.describe()}


DAILY = YearOfBars(
    "1d", float(BARS_PER_YEAR["1D"]), "1d bars: 252 a year (the trading-day convention)"
)


def year_of(bars: Bars) -> YearOfBars:
    """The annualisation of every figure computed on ``bars``."""
    if not bars.is_intraday:
        return DAILY
    calendar_year = bars.annualisation()
    return YearOfBars(bars.bar_size, calendar_year.bars_per_year, calendar_year.describe())
