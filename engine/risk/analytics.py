"""Portfolio risk for the control room: VaR and CVaR, correlations, exposure, drawdowns.

Pure functions of positions and returns (or equity marks); nothing here reads the store.

Conventions, stated because every desk picks its own:

- **Loss is positive.** VaR and CVaR are losses (a VaR of 1,200 means "lose 1,200 or
  more with probability 1 - confidence"), in the units of the P&L given (dollars when
  positions are in dollars).
- **Historical VaR** over ``n`` outcomes with tail size ``k = n * (1 - confidence)``: VaR
  is the ``ceil(k)``-th worst loss, and CVaR (expected shortfall) the average of the
  worst ``k`` outcomes, the ``ceil(k)``-th weighted by the fraction of ``k`` left
  (Acerbi and Tasche, 2002). With 100 outcomes at 95%, VaR is the 5th worst loss and
  CVaR the mean of the 5 worst. A horizon of ``h`` bars uses overlapping ``h``-bar sums
  of P&L, not a square-root-of-time rule.
- **Parametric VaR** assumes normal P&L with the sample mean and standard deviation
  (``ddof=1``) per bar, scaled to ``h`` bars by ``h`` and ``sqrt(h)``:
  ``VaR = z * sigma * sqrt(h) - mu * h`` and
  ``CVaR = sigma * sqrt(h) * pdf(z) / (1 - confidence) - mu * h``.
- Returns are simple returns per bar; a missing return (a symbol not yet listed) counts
  as no move for a held position.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import NormalDist
from typing import Literal

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.risk import drawdown as _drawdown
from engine.risk import sessions
from engine.risk.gate_inputs import EquityMark, Position, as_utc

Method = Literal["historical", "parametric"]


@dataclass(frozen=True)
class VarEstimate:
    """A VaR/CVaR pair: losses (positive) over ``horizon`` bars at ``confidence``."""

    method: str
    confidence: float
    horizon: int
    var: float
    cvar: float
    observations: int


def _check(confidence: float, horizon: int) -> None:
    if not 0.5 <= confidence < 1:
        raise InputError(
            f"confidence {confidence} must be a probability in [0.5, 1)", hint="e.g. 0.95 or 0.99"
        )
    if int(horizon) != horizon or horizon < 1:
        raise InputError(f"horizon {horizon} must be a whole number of bars >= 1")


def _clean(pnl: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    values = np.asarray(pnl, dtype=float).ravel()
    return values[np.isfinite(values)]


def historical_var(
    pnl: Sequence[float] | np.ndarray | pd.Series, confidence: float = 0.95, horizon: int = 1
) -> VarEstimate:
    """Historical VaR and CVaR of a series of per-bar P&L (or returns)."""
    _check(confidence, horizon)
    values = _clean(pnl)
    if horizon > 1:
        if len(values) < horizon:
            values = values[:0]
        else:
            sums = np.cumsum(np.concatenate([[0.0], values]))
            values = sums[horizon:] - sums[:-horizon]
    n = len(values)
    if n == 0:
        raise InputError(
            f"no P&L to measure VaR on (need at least {horizon} bars)",
            hint="pass a longer history of returns",
        )
    losses = np.sort(-values)[::-1]  # worst first
    k = round(n * (1 - confidence), 9)  # 100 * (1 - 0.95) is 5.000000000000004 in floats
    k = max(k, 1e-12)
    var = float(losses[min(math.ceil(k), n) - 1])
    whole = min(math.floor(k), n)
    tail = float(losses[:whole].sum())
    if whole < n and k > whole:
        tail += (k - whole) * float(losses[whole])
    cvar = tail / min(k, n)
    return VarEstimate("historical", confidence, horizon, var, cvar, n)


def parametric_var(
    pnl: Sequence[float] | np.ndarray | pd.Series, confidence: float = 0.95, horizon: int = 1
) -> VarEstimate:
    """Normal (variance-covariance) VaR and CVaR of a series of per-bar P&L (or returns)."""
    _check(confidence, horizon)
    values = _clean(pnl)
    if len(values) < 2:
        raise InputError("parametric VaR needs at least 2 bars of P&L")
    return _normal(
        float(values.mean()), float(values.std(ddof=1)), confidence, horizon, len(values)
    )


def _normal(mu: float, sigma: float, confidence: float, horizon: int, n: int) -> VarEstimate:
    z = NormalDist().inv_cdf(confidence)
    spread = sigma * math.sqrt(horizon)
    drift = mu * horizon
    var = z * spread - drift
    cvar = spread * NormalDist().pdf(z) / (1 - confidence) - drift
    return VarEstimate("parametric", confidence, horizon, var, cvar, n)


def returns_from_close(close: pd.DataFrame) -> pd.DataFrame:
    """Simple returns per bar from closes (dates x symbols); the first bar is dropped."""
    return close.pct_change(fill_method=None).iloc[1:]


def _weights(holdings: Mapping[str, float], returns: pd.DataFrame) -> pd.Series:
    missing = sorted(set(holdings) - set(returns.columns))
    if missing:
        raise InputError(
            f"no returns for held {', '.join(missing)}",
            hint="load bars for every held symbol before measuring the book's risk",
        )
    return pd.Series(holdings, dtype=float)


def portfolio_pnl(holdings: Mapping[str, float], returns: pd.DataFrame) -> pd.Series:
    """The book's P&L per bar in dollars, had ``holdings`` (symbol -> dollars) been held."""
    weights = _weights(holdings, returns)
    frame = returns[list(weights.index)].to_numpy(dtype=float)
    pnl = np.nan_to_num(frame, nan=0.0) @ weights.to_numpy()
    return pd.Series(pnl, index=returns.index, name="pnl")


def portfolio_var(
    holdings: Mapping[str, float],
    returns: pd.DataFrame,
    confidence: float = 0.95,
    horizon: int = 1,
    method: Method = "historical",
) -> VarEstimate:
    """VaR and CVaR in dollars of a book of ``holdings`` (symbol -> market value in dollars).

    Historical: the book's P&L replayed over ``returns``. Parametric: normal, with the
    mean and standard deviation of that same P&L series; its variance is exactly
    ``w' C w`` for the returns' covariance ``C``, without building the 500 x 500 ``C``.
    """
    pnl = portfolio_pnl(holdings, returns)
    if method == "historical":
        return historical_var(pnl, confidence, horizon)
    if method == "parametric":
        return parametric_var(pnl, confidence, horizon)
    raise InputError(f"unknown VaR method {method!r}", hint="use historical or parametric")


def correlation_matrix(
    returns: pd.DataFrame, symbols: Sequence[str] | None = None, *, min_periods: int = 20
) -> pd.DataFrame:
    """Pairwise correlations of the symbols' returns (NaN where they share < ``min_periods`` bars).

    Each pair uses the bars where both have a return, as ``DataFrame.corr`` does, but with
    a few matrix products instead of a loop over pairs (500 symbols in milliseconds).
    """
    frame = returns if symbols is None else returns[list(symbols)]
    values = frame.to_numpy(dtype=float)
    valid = np.isfinite(values)
    if valid.all() and len(values) >= max(min_periods, 2) and (values.std(axis=0) > 0).all():
        # A full panel: every pair shares every bar, so one product does it.
        matrix = np.atleast_2d(np.corrcoef(values, rowvar=False))
        return pd.DataFrame(matrix, index=frame.columns, columns=frame.columns)
    x = np.where(valid, values, 0.0)
    # Centring first keeps the sums below small, so the differences stay accurate.
    x -= x.sum(axis=0) / np.maximum(valid.sum(axis=0), 1)
    x[~valid] = 0.0
    m = valid.astype(float)
    xt, mt = np.ascontiguousarray(x.T), np.ascontiguousarray(m.T)
    n = mt @ m  # bars shared by each pair
    sx = xt @ m  # [i, j]: sum of i's returns over the bars shared with j
    sxx = np.ascontiguousarray((x * x).T) @ m
    sxy = xt @ x
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = n * sxy - sx * sx.T
        var_i = n * sxx - sx * sx
        corr = cov / np.sqrt(var_i * var_i.T)
    corr[(n < max(min_periods, 2)) | ~(var_i > 0) | ~(var_i.T > 0)] = np.nan
    corr = np.clip(corr, -1.0, 1.0)
    np.fill_diagonal(corr, np.where(np.isnan(np.diag(corr)), np.nan, 1.0))
    return pd.DataFrame(corr, index=frame.columns, columns=frame.columns)


def exposure(
    positions: Mapping[str, Position] | Sequence[Position],
    prices: Mapping[str, float],
    equity: float,
    *,
    sectors: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exposure by symbol and by sector: market value and its share of equity.

    A position without a price in ``prices`` is valued at its average price (and marked
    ``priced: False``); a symbol without a sector is in sector ``"unknown"``.
    """
    if isinstance(positions, Mapping):
        positions = list(positions.values())
    sectors = sectors or {}
    rows = []
    for p in positions:
        price = prices.get(p.symbol)
        priced = price is not None and math.isfinite(price)
        price = float(price) if priced else p.avg_price
        value = p.qty * price
        rows.append(
            {
                "symbol": p.symbol,
                "qty": p.qty,
                "price": price,
                "priced": priced,
                "market_value": value,
                "weight": value / equity if equity > 0 else math.nan,
                "unrealised_pnl": (price - p.avg_price) * p.qty,
                "stop_price": p.stop_price,
                "risk_to_stop": (price - p.stop_price) * p.qty if p.stop_price else math.nan,
                "sector": sectors.get(p.symbol) or "unknown",
            }
        )
    columns = [
        "symbol",
        "qty",
        "price",
        "priced",
        "market_value",
        "weight",
        "unrealised_pnl",
        "stop_price",
        "risk_to_stop",
        "sector",
    ]
    by_symbol = pd.DataFrame(rows, columns=columns)
    by_symbol = by_symbol.sort_values("market_value", ascending=False, ignore_index=True)
    by_sector = (
        by_symbol.groupby("sector", as_index=False)[["market_value", "weight"]]
        .sum()
        .sort_values("market_value", ascending=False, ignore_index=True)
    )
    by_sector.insert(
        1, "positions", by_symbol.groupby("sector").size().reindex(by_sector["sector"]).to_numpy()
    )
    return by_symbol, by_sector


# -- drawdowns ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawdownReport:
    """Where the account stands against its loss limits, and its worst fall so far.

    ``daily`` and ``weekly`` are the losses the gate acts on (positive is down, see
    :mod:`engine.risk.drawdown`); ``current`` is the fall from the highest mark so far and
    ``max_drawdown`` the deepest such fall, from ``peak_at`` to ``trough_at``.
    """

    equity: float
    daily: float
    weekly: float
    current: float
    max_drawdown: float
    peak_at: pd.Timestamp | None
    trough_at: pd.Timestamp | None


def marks_series(marks: Sequence[EquityMark] | pd.Series) -> pd.Series:
    """Equity marks as a time-sorted Series indexed by UTC timestamps."""
    if isinstance(marks, pd.Series):
        series = marks.astype(float)
        index = pd.DatetimeIndex(series.index)
        series.index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        return series.sort_index()
    return pd.Series(
        [m.equity for m in marks],
        index=pd.DatetimeIndex([as_utc(m.at) for m in marks]),
        dtype=float,
        name="equity",
    ).sort_index()


def drawdown_curve(equity: pd.Series) -> pd.Series:
    """The fall from the running peak at each mark, as a positive fraction (0 at a new high)."""
    return 1.0 - equity / equity.cummax()


def drawdown_report(marks: Sequence[EquityMark] | pd.Series, now: datetime) -> DrawdownReport:
    """Daily, weekly and peak-to-trough drawdown of the equity marks as of ``now``."""
    series = marks_series(marks)
    series = series[series.index <= pd.Timestamp(as_utc(now))]
    if series.empty:
        raise InputError("no equity marks yet", hint="the live loop marks equity every step")
    as_marks = [EquityMark(at.to_pydatetime(), float(v)) for at, v in series.items()]
    equity = as_marks[-1].equity
    losses = _drawdown.period_losses(as_marks, equity, sessions.trade_date(now))
    curve = drawdown_curve(series)
    trough_at = curve.idxmax()
    depth = float(curve.max())
    peak_at = series.loc[:trough_at].idxmax() if depth > 0 else None
    return DrawdownReport(
        equity=equity,
        daily=losses.daily,
        weekly=losses.weekly,
        current=float(curve.iloc[-1]),
        max_drawdown=depth,
        peak_at=peak_at,
        trough_at=trough_at if depth > 0 else None,
    )


def period_returns(marks: Sequence[EquityMark] | pd.Series, period: str = "D") -> pd.Series:
    """Returns of equity per New York trading day (``"D"``) or week ending Friday (``"W"``)."""
    if period not in ("D", "W"):
        raise InputError(f"unknown period {period!r}", hint="use 'D' (daily) or 'W' (weekly)")
    series = marks_series(marks)
    local = series.tz_convert(sessions.NEW_YORK.key)
    closes = local.groupby(local.index.date).last()
    closes.index = pd.DatetimeIndex(closes.index)
    if period == "W":
        closes = closes.resample("W-FRI").last().dropna()
    return closes.pct_change().iloc[1:]
