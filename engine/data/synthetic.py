"""SYNTHETIC intraday bars generated from real daily bars, for offline intraday research.

No redistributable set of real intraday bars ships offline, so the sample's intraday bars
are made up, within what each real day allows:

- the day's first bar opens at its real open, the last bar closes at its real close, and
  the bars' highest high and lowest low are the day's real high and low;
- the path in between is a random walk pinned to those four prices (a Brownian bridge
  from open to close, stretched onto the day's range by a monotone map, so every bar
  stays a valid bar);
- the day's real volume is split over its bars by a U-shaped intraday profile (busy at
  the open and the close, quiet at midday) with some noise, and sums to it exactly;
- each day is seeded by (seed, symbol, date), so a day comes out the same whatever range
  is asked for, and re-ingesting is idempotent.

Every bar is labelled with the source name ``sample-synthetic``; it is not real trading.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from engine.data import calendar
from engine.data.bar_sizes import DAILY, MINUTES, check_bar_size
from engine.data.bars import INTRADAY_COLUMNS
from engine.errors import InputError

SOURCE_NAME = "sample-synthetic"
#: How much busier the open and the close are than midday (the U's depth).
U_DEPTH = 3.0


def volume_profile(starts: np.ndarray, ends: np.ndarray, open_minute: int, close_minute: int) -> np.ndarray:
    """Share of the day's volume in each bin [start, end) of a session: U-shaped, sums to 1.

    The rate is ``1 + U_DEPTH * (2x - 1)**2`` at fraction ``x`` of the session, integrated
    over each bin, so a short last bin gets a share in proportion to its length.
    """
    length = close_minute - open_minute

    def cumulative(minute):
        x = (np.asarray(minute, dtype=float) - open_minute) / length
        return x + U_DEPTH * (2 * x - 1) ** 3 / 6

    share = cumulative(ends) - cumulative(starts)
    return share / share.sum()


def _split_volume(totals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each day's total split by its row of ``weights`` (rows sum to 1), summing to it exactly:
    in whole shares (largest remainders first) when the total is whole."""
    raw = totals[:, None] * weights
    whole = np.floor(raw)
    left = np.rint(totals - whole.sum(axis=1)).astype(int)
    rank = np.argsort(np.argsort(whole - raw, axis=1), axis=1)  # 0 = largest remainder
    whole += rank < left[:, None]
    integral = totals == np.floor(totals)
    return np.where(integral[:, None], whole, raw)


def _stretch(values, low, bottom, top, high, raw_low, raw_high):
    """Map ``values`` monotonically, per day (row): raw_low -> low, raw_high -> high, and
    [bottom, top] (the open and the close) left where they are."""
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(raw_high > top, (high - top) / (raw_high - top), 0.0)
        down = np.where(raw_low < bottom, (bottom - low) / (bottom - raw_low), 0.0)
    out = np.where(values > top, top + (values - top) * up, values)
    return np.where(values < bottom, bottom - (bottom - values) * down, out)


def sessions_of_bars(day: dict[str, np.ndarray], starts: np.ndarray, ends: np.ndarray,
                     open_minute: int, close_minute: int, draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """OHLCV (days x bins) for days sharing one session shape, bounded by each day's real bar.

    ``day``: arrays open, high, low, close, volume (one value per day); ``draws``: the
    days' seeded random numbers, ``normal`` (days x bins), ``wick`` (2 x days x bins)
    and ``noise`` (days x bins).
    """
    d_open, d_close = day["open"][:, None], day["close"][:, None]
    top, bottom = np.maximum(d_open, d_close), np.minimum(d_open, d_close)
    high = np.maximum(day["high"][:, None], top)  # tolerate a close above its high
    low = np.minimum(day["low"][:, None], bottom)
    spread = np.maximum(high - low, 1e-9)
    lengths = (ends - starts).astype(float)
    elapsed = np.r_[0.0, np.cumsum(lengths)]
    total = elapsed[-1]
    walk = np.c_[np.zeros(len(d_open)), np.cumsum(draws["normal"] * np.sqrt(lengths), axis=1)]
    bridge = walk - elapsed / total * walk[:, -1:]
    path = d_open + (d_close - d_open) * elapsed / total + bridge * spread / (2 * np.sqrt(total))
    path[:, 0], path[:, -1] = d_open[:, 0], d_close[:, 0]
    opens, closes = path[:, :-1], path[:, 1:]
    wick = spread * 0.02 * (draws["wick"] + 1e-3)
    highs = np.maximum(opens, closes) + wick[0]
    lows = np.minimum(opens, closes) - wick[1]
    args = (low, bottom, top, high, lows.min(axis=1, keepdims=True), highs.max(axis=1, keepdims=True))
    bars = {k: np.clip(np.round(_stretch(v, *args), 4), low, high)  # rounding never leaves the range
            for k, v in (("open", opens), ("high", highs), ("low", lows), ("close", closes))}
    bars["open"][:, 0], bars["close"][:, -1] = d_open[:, 0], d_close[:, 0]
    rows = np.arange(len(d_open))
    bars["high"][rows, bars["high"].argmax(axis=1)] = high[:, 0]
    bars["low"][rows, bars["low"].argmin(axis=1)] = low[:, 0]
    bars["high"] = np.maximum.reduce([bars["high"], bars["open"], bars["close"]])
    bars["low"] = np.minimum.reduce([bars["low"], bars["open"], bars["close"]])
    weights = volume_profile(starts, ends, open_minute, close_minute) * draws["noise"]
    bars["volume"] = _split_volume(day["volume"].astype(float), weights / weights.sum(axis=1, keepdims=True))
    return bars


def _draws(symbols, dates, bins: int, seed: int) -> dict[str, np.ndarray]:
    """Each day's random numbers from its own generator, seeded by (seed, symbol, date)."""
    normal, wick, noise = [], [], []
    for symbol, day in zip(symbols, dates, strict=True):
        rng = np.random.default_rng([seed, zlib.crc32(symbol.encode()), day.toordinal()])
        normal.append(rng.normal(0.0, 1.0, bins))
        wick.append(rng.exponential(1.0, (2, bins)))
        noise.append(rng.lognormal(0.0, 0.25, bins))
    return {"normal": np.array(normal), "wick": np.stack(wick, axis=1), "noise": np.array(noise)}


def intraday_from_daily(daily: pd.DataFrame, bar_size: str, *, seed: int = 0) -> pd.DataFrame:
    """SYNTHETIC intraday rows (``timestamp``, symbol, OHLCV, adj_close) from daily rows.

    ``daily``: date, symbol, open, high, low, close, volume[, adj_close], on NYSE sessions.
    Regular hours only; each bar's adj_close carries its day's adjustment factor.
    """
    bar_size = check_bar_size(bar_size)
    if bar_size == DAILY:
        raise InputError("synthetic bars are intraday; the daily bars are the real ones",
                         hint="use --source sample without --bar-size for daily bars")
    if daily.empty:
        return pd.DataFrame(columns=INTRADAY_COLUMNS)
    size = MINUTES[bar_size]
    daily = daily.assign(date=pd.to_datetime(daily["date"]))
    times = calendar.session_times(daily["date"].min(), daily["date"].max())
    shut = ~daily["date"].isin(times.index)
    if shut.any():
        bad = daily[shut].iloc[0]
        raise InputError(f"{bad['symbol']} has a daily bar on {bad['date'].date()}, not an NYSE session")
    shape = times.reindex(daily["date"])
    daily = daily.assign(open_minute=shape["open"].to_numpy(), close_minute=shape["close"].to_numpy())
    parts = []
    for (open_minute, close_minute), days in daily.groupby(["open_minute", "close_minute"], sort=False):
        starts = np.arange(open_minute, close_minute, size)
        ends = np.minimum(starts + size, close_minute)
        draws = _draws(days["symbol"], days["date"], len(starts), seed)
        values = {k: days[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close", "volume")}
        bars = sessions_of_bars(values, starts, ends, open_minute, close_minute, draws)
        factor = (days["adj_close"] / days["close"]).to_numpy() if "adj_close" in days else np.ones(len(days))
        wall = (days["date"].to_numpy()[:, None] + (starts * np.timedelta64(1, "m"))[None, :]).ravel()
        parts.append(pd.DataFrame({
            "timestamp": pd.DatetimeIndex(wall).tz_localize(calendar.TZ),
            "symbol": np.repeat(days["symbol"].to_numpy(), len(starts)),
            **{k: bars[k].ravel() for k in ("open", "high", "low", "close", "volume")},
            "adj_close": (bars["close"] * factor[:, None]).ravel(),
        }))
    out = pd.concat(parts, ignore_index=True).sort_values(["symbol", "timestamp"], ignore_index=True)
    return out[INTRADAY_COLUMNS]
