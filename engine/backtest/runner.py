"""One backtest: a strategy with one set of params over a universe traded as one book.

>>> from engine.data.sample import sample_bars
>>> result = run_backtest(sample_bars(["AAPL", "GE"]), "sma_crossover",
...                       {"fast": 10, "slow": 30})                     # doctest: +SKIP
>>> result.metrics["total_return"], len(result.trades)                 # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine.backtest._execution import Simulation, prepare_orders, simulate
from engine.backtest._simulate import (
    REASON_CLOSE,
    REASON_END,
    REASON_SIGNAL,
    REASON_STOP,
    REASON_TARGET,
)
from engine.backtest.annualisation import YearOfBars
from engine.backtest.metrics import compute_metrics, metrics_dict
from engine.backtest.settings import BacktestSettings
from engine.data.bars import Bars
from engine.strategies import compute_signals, get, make_params
from engine.strategies.base import Strategy, StrategyParams

if TYPE_CHECKING:
    import vectorbt as vbt

TRADE_COLUMNS = [
    "symbol",
    "entry_date",
    "exit_date",
    "size",
    "entry_price",
    "exit_price",
    "fees",
    "pnl",
    "return",
    "status",
    "exit_reason",
]
_EXIT_REASONS = {
    REASON_SIGNAL: "signal",
    REASON_STOP: "stop",
    REASON_END: "end",
    REASON_CLOSE: "close",  # flat by the close
    REASON_TARGET: "target",
}


@dataclass(frozen=True)
class BacktestResult:
    """What a backtest did: its metrics, trades and equity curve, and its vectorbt portfolio."""

    strategy: str
    params: StrategyParams
    bars: Bars
    simulation: Simulation

    @property
    def settings(self) -> BacktestSettings:
        """The rules it ran under (their ``freq`` that of the bars)."""
        return self.simulation.settings

    @property
    def annualisation(self) -> YearOfBars:
        """What the annualised figures are annualised by (bars a year, and where that comes from)."""
        return self.simulation.orders.year

    @cached_property
    def metrics(self) -> dict[str, float | int]:
        """The book's figures (see :mod:`engine.backtest.metrics` for what each means)."""
        return metrics_dict(compute_metrics(self.simulation, freq=self.settings.freq).iloc[0])

    @cached_property
    def trades(self) -> pd.DataFrame:
        """One row per trade (see TRADE_COLUMNS); an open trade is marked at the last close."""
        return trade_table(self.simulation, self.bars.symbols)

    @cached_property
    def equity(self) -> pd.Series:
        """The book's value at each bar's close."""
        return self.simulation.equity.iloc[:, 0].rename("equity")

    @property
    def portfolio(self) -> vbt.Portfolio:
        """The vectorbt Portfolio of the fills, for plots and vectorbt's own analytics.

        Built on first use: it needs vectorbt, which takes seconds to import.
        """
        return self.simulation.portfolio()

    def summary(self) -> dict[str, Any]:
        """The result as plain data, for ``--json`` and notebooks."""
        return {
            "strategy": self.strategy,
            "params": self.params.model_dump(mode="json"),
            "symbols": self.bars.symbols,
            "start": bar_time(self.equity.index[0], self.bars.is_intraday),
            "end": bar_time(self.equity.index[-1], self.bars.is_intraday),
            "bar_size": self.bars.bar_size,
            "freq": self.settings.freq,
            "synthetic_bars": self.bars.synthetic,
            "annualisation": self.annualisation.to_dict(),
            "settings": self.settings.model_dump(mode="json"),
            "final_equity": float(self.equity.iloc[-1]),
            **self.metrics,
        }


def run_backtest(
    bars: Bars,
    strategy: str | Strategy,
    params: StrategyParams | Mapping[str, Any] | None = None,
    settings: BacktestSettings | None = None,
) -> BacktestResult:
    """The backtest of ``strategy`` with ``params`` on ``bars``, all symbols in one book.

    ``params`` may be the strategy's params model or a dict (None: its defaults);
    ``settings`` the execution, cost and sizing rules (None: the defaults, which fill a
    signal at the next bar's open); their ``freq``, unless set, follows the bars.
    """
    strategy = get(strategy)
    params = make_params(strategy, params)
    settings = (settings or BacktestSettings()).for_freq(bars.freq)
    signals = compute_signals(strategy, bars, params)
    orders = prepare_orders(bars, signals, settings)
    simulation = simulate(orders, settings, books="one", book_labels=pd.Index(["book"]))
    return BacktestResult(strategy.name, params, bars, simulation)


def bar_time(stamp: pd.Timestamp, intraday: bool) -> str:
    """A bar as a person reads it: its date, or for intraday bars its start in New York time."""
    return stamp.strftime("%Y-%m-%d %H:%M") if intraday else stamp.date().isoformat()


def trade_table(simulation: Simulation, symbols: list[str]) -> pd.DataFrame:
    """The simulation's trades in a trader's words, with why each one was closed."""
    trades = simulation.trades()
    if not len(trades["col"]):
        return pd.DataFrame(columns=TRADE_COLUMNS)
    index = simulation.orders.index
    closed = trades["closed"]
    cost = trades["size"] * trades["entry_price"]
    table = pd.DataFrame(
        {
            "symbol": np.asarray(symbols, dtype=object)[trades["col"] % len(symbols)],
            "entry_date": index[trades["entry_idx"]],
            "exit_date": pd.DatetimeIndex(np.where(closed, index[trades["exit_idx"]], pd.NaT)),
            "size": trades["size"],
            "entry_price": trades["entry_price"],
            "exit_price": trades["exit_price"],
            "fees": trades["fees"],
            "pnl": trades["pnl"],
            "return": trades["pnl"] / cost,
            "status": np.where(closed, "closed", "open"),
            "exit_reason": [_EXIT_REASONS.get(int(code), "open") for code in trades["exit_reason"]],
        }
    )
    if simulation.settings.ladder:  # each leg is a trade: 1 the signal's, 2 the next, ...
        table["leg"] = trades["leg"] + 1
        return table.sort_values(["entry_date", "symbol", "leg"], ignore_index=True)
    return table.sort_values(["entry_date", "symbol"], ignore_index=True)
