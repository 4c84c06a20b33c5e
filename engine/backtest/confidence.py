"""Confidence, not a point estimate: bootstrap intervals and trade-order Monte Carlo.

    >>> spread = out_of_sample_confidence(result.oos_equity, result.oos_trades,
    ...                                   init_cash=100_000, bars_per_year=252)  # doctest: +SKIP
    >>> spread.summary()["sharpe"]                                            # doctest: +SKIP
    {'p05': -0.12, 'median': 0.61, 'p95': 1.33}

- **Sharpe and max drawdown** come from a *stationary block bootstrap* (Politis & Romano,
  1994) of the out-of-sample bar returns: blocks of consecutive bars, of random length with
  mean ``mean_block`` (default n^(1/3), about 14 bars for eleven years of daily bars), are
  drawn with replacement and joined until the history's length is reached. Daily strategy
  returns are serially dependent (volatility clusters, multi-day trades); resampling single
  bars would break that and understate the spread. A drawdown is a path, so it is the figure
  that most needs the blocks.
- **Profit factor** is a figure of trades, so the closed trades are resampled (with
  replacement, one trade at a time: a trade is already the unit of dependence).
- **Reshuffled drawdown**: the same closed trades' P&L taken in random orders (permutations,
  Monte Carlo) from the starting cash, each order's deepest fall from a peak: what the trades
  that did happen could have cost in another sequence.

Every draw comes from one seeded generator, so the same inputs give the same intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.errors import InputError

RESAMPLES = 2000
SEED = 19
PERCENTILES = (5.0, 50.0, 95.0)


@dataclass(frozen=True)
class OutOfSampleConfidence:
    """The resampled distributions of the out-of-sample figures (arrays, one value per draw)."""

    sharpe: np.ndarray
    max_drawdown: np.ndarray
    profit_factor: np.ndarray
    reshuffled_drawdown: np.ndarray
    mean_block: float
    resamples: int
    seed: int

    @property
    def method(self) -> str:
        return (
            f"stationary block bootstrap of the out-of-sample bar returns (mean block "
            f"{self.mean_block:.0f} bars) for Sharpe and max drawdown; closed trades resampled "
            "for profit factor; trade order reshuffled for drawdown; "
            f"{self.resamples} draws, seed {self.seed}"
        )

    def summary(self) -> dict[str, dict[str, float | None]]:
        """Each figure's 5th percentile, median and 95th percentile (None: no draws to tell)."""
        return {
            name: _percentiles(getattr(self, name))
            for name in ("sharpe", "max_drawdown", "profit_factor", "reshuffled_drawdown")
        }


def out_of_sample_confidence(
    equity: pd.Series | np.ndarray,
    trades: pd.DataFrame | None,
    *,
    init_cash: float,
    bars_per_year: int,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    mean_block: float | None = None,
) -> OutOfSampleConfidence:
    """The bootstrap and Monte Carlo distributions of an out-of-sample run (see the module docs).

    ``equity`` is the equity at each bar's close from ``init_cash``; ``trades`` has a ``pnl``
    and a ``status`` column (only ``closed`` trades count), or is None.
    """
    if resamples < 1:
        raise InputError(f"resamples must be at least 1, not {resamples}")
    value = np.asarray(equity, dtype=float)
    if value.ndim != 1 or len(value) < 2:
        raise InputError("the bootstrap needs an equity curve of at least 2 bars")
    returns = value / np.r_[init_cash, value[:-1]] - 1.0
    block = float(mean_block) if mean_block is not None else max(1.0, len(returns) ** (1 / 3))
    rng = np.random.default_rng(seed)

    resampled = returns[stationary_bootstrap(len(returns), resamples, block, rng)]
    pnl = _closed_pnl(trades)
    if len(pnl):
        drawn = pnl[rng.integers(0, len(pnl), size=(resamples, len(pnl)))]
        orders = rng.permuted(np.broadcast_to(pnl, (resamples, len(pnl))), axis=1)
        reshuffled = max_drawdowns(init_cash + np.cumsum(orders, axis=1), init_cash)
    else:
        drawn = np.zeros((resamples, 0))
        reshuffled = np.full(resamples, np.nan)
    return OutOfSampleConfidence(
        sharpe=sharpe_ratios(resampled, bars_per_year),
        max_drawdown=max_drawdowns(init_cash * np.cumprod(1.0 + resampled, axis=1), init_cash),
        profit_factor=profit_factors(drawn),
        reshuffled_drawdown=reshuffled,
        mean_block=block,
        resamples=resamples,
        seed=seed,
    )


def stationary_bootstrap(
    n: int, resamples: int, mean_block: float, rng: np.random.Generator
) -> np.ndarray:
    """Positions (resamples x n) of a stationary bootstrap: blocks of geometric length with mean
    ``mean_block`` starting at uniform positions, wrapping round the end of the history."""
    if mean_block < 1:
        raise InputError(f"the mean block must be at least 1 bar, not {mean_block}")
    starts = rng.integers(0, n, size=(resamples, n))
    new_block = rng.random((resamples, n)) < 1.0 / mean_block
    new_block[:, 0] = True
    # Each position continues its block (previous position + 1) unless a new block starts:
    # position = start of the current block + bars since it started.
    block_first = np.maximum.accumulate(np.where(new_block, np.arange(n), 0), axis=1)
    first_start = np.take_along_axis(starts, block_first, axis=1)
    return (first_start + np.arange(n) - block_first) % n


def sharpe_ratios(returns: np.ndarray, bars_per_year: int) -> np.ndarray:
    """Each row's annualised Sharpe ratio (mean over standard deviation, ddof=1); NaN if flat."""
    std = returns.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, returns.mean(axis=1) / std * np.sqrt(bars_per_year), np.nan)


def max_drawdowns(value: np.ndarray, init_cash: float) -> np.ndarray:
    """Each row's deepest fall from a peak (the starting cash counts as one), a positive fraction."""
    peaks = np.maximum.accumulate(np.maximum(value, init_cash), axis=1)
    return np.max(1.0 - value / peaks, axis=1).clip(min=0.0)


def profit_factors(pnl: np.ndarray) -> np.ndarray:
    """Each row's gross wins over gross losses (inf with no loss, NaN with no trades)."""
    wins = np.where(pnl > 0, pnl, 0.0).sum(axis=1)
    losses = -np.where(pnl < 0, pnl, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(losses > 0, wins / losses, np.inf)
    return np.where((wins == 0) & (losses == 0), np.nan, factor)


def _closed_pnl(trades: pd.DataFrame | None) -> np.ndarray:
    if trades is None or trades.empty:
        return np.zeros(0)
    closed = trades[trades["status"] == "closed"] if "status" in trades else trades
    return closed["pnl"].to_numpy(dtype=float)


def _percentiles(draws: np.ndarray) -> dict[str, float | None]:
    # An infinite profit factor (a draw with no loss) is a real outcome: it sorts above all.
    finite_or_inf = draws[~np.isnan(draws)]
    if len(finite_or_inf) == 0:
        return {"p05": None, "median": None, "p95": None}
    low, mid, high = np.percentile(finite_or_inf, PERCENTILES, method="lower")
    return {"p05": float(low), "median": float(mid), "p95": float(high)}
