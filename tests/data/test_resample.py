"""Resampling intraday bars: anchored to the 9:30 open, short last bins, never across a gap."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.data.bars import Bars
from engine.data.resample import resample
from engine.errors import InputError

NY = "America/New_York"
# A regular day, a 13:00 early close (day after Thanksgiving), a day after the DST change.
DAYS = ["2023-11-22", "2023-11-24", "2024-03-11"]


def minute_bars(days=DAYS, *, symbols=("AAPL",), start="09:30", seed=0, drop=0.0) -> pd.DataFrame:
    """One-minute bars through each day's session, with a random ``drop`` share missing."""
    rng = np.random.default_rng(seed)
    frames = []
    for symbol in symbols:
        for day in days:
            close = "13:00" if day == "2023-11-24" else "16:00"
            stamps = pd.date_range(f"{day} {start}", f"{day} {close}", freq="1min", tz=NY, inclusive="left")
            stamps = stamps[rng.random(len(stamps)) >= drop]
            mid = 50 + np.cumsum(rng.normal(0, 0.05, len(stamps)))
            open_, close_ = mid + rng.normal(0, 0.02, len(stamps)), mid + rng.normal(0, 0.02, len(stamps))
            frames.append(pd.DataFrame({
                "timestamp": stamps, "symbol": symbol, "open": open_,
                "high": np.maximum(open_, close_) + rng.uniform(0, 0.05, len(stamps)),
                "low": np.minimum(open_, close_) - rng.uniform(0, 0.05, len(stamps)),
                "close": close_, "volume": rng.integers(1, 1000, len(stamps)).astype(float),
            }))
    rows = pd.concat(frames, ignore_index=True)
    return rows.assign(adj_close=rows["close"] * 0.5)


def starts(rows: pd.DataFrame, day: str) -> list[str]:
    on_day = rows[rows["timestamp"].dt.strftime("%Y-%m-%d") == day]
    return [t.strftime("%H:%M") for t in on_day["timestamp"]]


def test_bins_start_at_the_open_and_the_last_one_is_short():
    hourly = resample(minute_bars(), "1h")
    assert starts(hourly, "2023-11-22") == ["09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30"]
    assert starts(hourly, "2023-11-24") == ["09:30", "10:30", "11:30", "12:30"]  # 12:30-13:00
    assert starts(hourly, "2024-03-11")[0] == "09:30"  # exchange time, through the DST change
    assert str(hourly["timestamp"].dt.tz) == NY
    five = resample(minute_bars(), "5m")
    assert len(five) == 78 + 42 + 78
    assert starts(five, "2023-11-24")[-1] == "12:55"


def test_each_bin_is_its_minutes():
    rows = minute_bars()
    thirty = resample(rows, "30m")
    first = rows.iloc[:30]
    bar = thirty.iloc[0]
    assert (bar["open"], bar["close"]) == (first["open"].iloc[0], first["close"].iloc[-1])
    assert (bar["high"], bar["low"]) == (first["high"].max(), first["low"].min())
    assert bar["volume"] == first["volume"].sum() and bar["adj_close"] == first["adj_close"].iloc[-1]


def test_to_daily_makes_one_bar_per_session_from_regular_hours():
    daily = resample(minute_bars(symbols=("AAPL", "MSFT")), "1d")
    assert list(daily.columns[:2]) == ["date", "symbol"]
    assert len(daily) == 6 and daily["date"].dt.tz is None


def test_extended_hours_bins_stop_at_the_open_and_start_at_the_close():
    rows = minute_bars(["2023-11-22"], start="04:00")
    post = pd.date_range("2023-11-22 16:00", "2023-11-22 20:00", freq="1min", tz=NY, inclusive="left")
    rows = pd.concat([rows, rows.iloc[:len(post)].assign(timestamp=post)], ignore_index=True)
    hourly = resample(rows, "1h")
    times = starts(hourly, "2023-11-22")
    assert times[:7] == ["04:00", "05:00", "06:00", "07:00", "08:00", "09:00", "09:30"]  # 9:00-9:30 short
    assert "15:30" in times and times[-4:] == ["16:00", "17:00", "18:00", "19:00"]
    assert hourly.loc[hourly["timestamp"].dt.strftime("%H:%M") == "15:30", "volume"].iloc[0] == \
        rows[(rows["timestamp"] >= pd.Timestamp("2023-11-22 15:30", tz=NY))
             & (rows["timestamp"] < pd.Timestamp("2023-11-22 16:00", tz=NY))]["volume"].sum()


def test_bars_resample_keeps_what_the_bars_are():
    rows = minute_bars()
    bars = Bars.from_long(rows, bar_size="1m", adjust=False, sources=("sample-synthetic",))
    five = bars.resample("15m")
    assert five.bar_size == "15m" and five.synthetic and len(five) == 26 + 14 + 26
    assert five.volume["AAPL"].sum() == rows["volume"].sum()


@pytest.mark.parametrize("source, target", [("5m", "1m"), ("30m", "15m"), ("1d", "1h")])
def test_only_coarser_multiples_can_be_built(source, target):
    with pytest.raises(InputError, match="cannot build"):
        resample(minute_bars(), target, source_size=source)


def test_bars_outside_the_sessions_are_refused():
    rows = minute_bars(["2023-11-22"])
    holiday = rows.iloc[:1].assign(timestamp=pd.Timestamp("2023-11-23 10:00", tz=NY))
    with pytest.raises(InputError, match="NYSE was shut"):
        resample(pd.concat([rows, holiday]), "5m")
    night = rows.iloc[:1].assign(timestamp=pd.Timestamp("2023-11-22 21:00", tz=NY))
    with pytest.raises(InputError, match="outside the session"):
        resample(pd.concat([rows, night]), "5m")


sizes = st.sampled_from(["5m", "15m", "30m", "1h", "1d"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=sizes, seed=st.integers(0, 10_000), drop=st.floats(0.0, 0.9), shuffled=st.booleans())
def test_properties_volume_kept_ranges_bounded_bins_within_one_session(size, seed, drop, shuffled):
    rows = minute_bars(symbols=("AAPL", "MSFT"), seed=seed, drop=drop)
    if shuffled:
        rows = rows.sample(frac=1.0, random_state=seed)
    out = resample(rows, size)
    when = "date" if size == "1d" else "timestamp"
    # volume is conserved, per symbol and per session
    day = rows["timestamp"].dt.tz_convert(NY).dt.tz_localize(None).dt.normalize()
    out_day = out["date"] if size == "1d" else out["timestamp"].dt.tz_localize(None).dt.normalize()
    assert np.allclose(rows.groupby([rows["symbol"], day])["volume"].sum().to_numpy(),
                       out.groupby([out["symbol"], out_day])["volume"].sum().to_numpy())
    # every bar's range holds its open and close, and lies within its minutes' range
    assert (out["high"] >= out[["open", "close"]].max(axis=1)).all()
    assert (out["low"] <= out[["open", "close"]].min(axis=1)).all()
    assert out.groupby("symbol")["high"].max().equals(rows.groupby("symbol")["high"].max())
    assert out.groupby("symbol")["low"].min().equals(rows.groupby("symbol")["low"].min())
    assert not out.duplicated(["symbol", when]).any()
    if size != "1d":
        # a bin never starts before its session's open nor reaches past the session's day
        local = out["timestamp"].dt.tz_localize(None)
        minute = local.dt.hour * 60 + local.dt.minute
        assert (minute >= 570).all() and (minute < 960).all()
        minutes_per_bin = {"5m": 5, "15m": 15, "30m": 30, "1h": 60}[size]
        assert ((minute - 570) % minutes_per_bin == 0).all()
