"""SYNTHETIC intraday sample bars: bounded by each real day, U-shaped volume, seeded, labelled."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.data.ingest import ingest
from engine.data.repository import load_bars
from engine.data.resample import resample
from engine.data.sample import sample_rows
from engine.data.sources import SyntheticSource, make_source
from engine.data.synthetic import intraday_from_daily, volume_profile

REAL = sample_rows(["AAPL", "GE", "MSFT"], "2012-11-01", "2013-01-31")  # an early close and a split-free stretch


@pytest.fixture(scope="module")
def five():
    return intraday_from_daily(REAL, "5m", seed=0)


def test_each_day_is_the_real_days_open_high_low_close_and_volume(five):
    days = resample(five, "1d", source_size="5m").merge(REAL, on=["date", "symbol"], suffixes=("", "_real"))
    assert len(days) == len(REAL)
    for field in ("open", "high", "low", "close", "volume"):
        assert (days[field] == days[f"{field}_real"]).all(), field


def test_every_bar_is_a_valid_bar_inside_its_days_range(five):
    assert (five["high"] >= five[["open", "close"]].max(axis=1)).all()
    assert (five["low"] <= five[["open", "close"]].min(axis=1)).all()
    assert (five["volume"] >= 0).all() and (five["volume"] == np.floor(five["volume"])).all()


def test_an_early_close_has_42_five_minute_bars(five):
    day = five[(five["symbol"] == "AAPL") & (five["timestamp"].dt.strftime("%Y-%m-%d") == "2012-11-23")]
    assert len(day) == 42 and day["timestamp"].iloc[-1].strftime("%H:%M") == "12:55"


def test_volume_is_busiest_at_the_open_and_the_close(five):
    share = five.groupby(five["timestamp"].dt.strftime("%H:%M"))["volume"].sum()
    share = share / share.sum()
    assert share["09:30"] > 2 * share["12:30"] and share["15:55"] > 2 * share["12:30"]
    profile = volume_profile(np.arange(570, 960, 5), np.arange(575, 961, 5), 570, 960)
    assert profile.sum() == pytest.approx(1.0) and profile[0] == pytest.approx(profile[-1])


def test_the_same_day_comes_out_the_same_whatever_range_is_asked_for(five):
    december = intraday_from_daily(REAL[REAL["date"].dt.month == 12], "5m", seed=0)
    mine = five[five["timestamp"].dt.month == 12].reset_index(drop=True)
    pd.testing.assert_frame_equal(december.reset_index(drop=True), mine)
    other = intraday_from_daily(REAL[REAL["date"].dt.month == 12], "5m", seed=1)
    assert not np.allclose(other["close"], december["close"])


def test_adj_close_carries_the_days_adjustment_factor(five):
    bar = five[five["symbol"] == "GE"].iloc[0]
    real = REAL[(REAL["symbol"] == "GE")].iloc[0]
    assert bar["adj_close"] / bar["close"] == pytest.approx(real["adj_close"] / real["close"])


def test_the_sample_source_gives_synthetic_bars_for_intraday_sizes(store):
    source = make_source("sample", bar_size="15m")
    assert isinstance(source, SyntheticSource) and source.name == "sample-synthetic"
    result = ingest(store, source, ["AAPL"], "2013-12-02", "2013-12-31", bar_size="15m", progress=False)
    assert result.synthetic and result.rows_added == 26 * 20 + 14 * 1  # Christmas Eve closes at 13:00
    again = ingest(store, source, ["AAPL"], "2013-12-02", "2013-12-31", bar_size="15m", progress=False)
    assert again.rows_added == 0 and again.rows_already_stored == result.rows_added
    bars = load_bars(store, ["AAPL"], bar_size="15m")
    assert bars.synthetic and bars.sources == ("sample-synthetic",)


def wb(*args, data_dir):
    return subprocess.run([sys.executable, "-m", "engine.cli", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=300)


def test_wb_says_synthetic_wherever_it_shows_the_bars(tmp_path):
    ingested = wb("ingest", "--source", "sample", "--bar-size", "5m", "--symbols", "GE",
                  "--start", "2013-12-23", "--end", "2013-12-24", data_dir=tmp_path)
    assert ingested.returncode == 0, ingested.stderr
    assert "sample-synthetic (SYNTHETIC: generated from real daily bars, not real trades): 120 5m bars added" \
        in ingested.stdout
    shown = wb("bars", "GE", "--bar-size", "5m", "--start", "2013-12-24", data_dir=tmp_path)
    header = shown.stdout.splitlines()[0]
    assert header.startswith("GE 5m bars, as traded, New York time, regular hours; source: sample-synthetic")
    assert "SYNTHETIC" in header and "2013-12-24 12:55" in shown.stdout
    as_json = json.loads(wb("bars", "GE", "--bar-size", "5m", "--json", data_dir=tmp_path).stdout)
    assert as_json["synthetic"] is True and as_json["timezone"] == "America/New_York"
    assert as_json["bars"][0]["timestamp"] == "2013-12-23T09:30:00-05:00"
    check = wb("data", "check", "--bar-size", "5m", data_dir=tmp_path)
    assert check.returncode == 0 and "SYNTHETIC" in check.stdout and "clean" in check.stdout


@settings(max_examples=60, deadline=None)
@given(low=st.floats(0.5, 500), span=st.floats(0.0, 0.5), at=st.tuples(st.floats(0, 1), st.floats(0, 1)),
       volume=st.one_of(st.integers(0, 10**9).map(float), st.floats(0, 1e6)),
       size=st.sampled_from(["1m", "5m", "30m", "1h"]), day=st.sampled_from(["2013-11-29", "2013-12-02"]))
def test_property_any_valid_day_is_kept_exactly(low, span, at, volume, size, day):
    high = low * (1 + span)
    open_, close = (low + (high - low) * f for f in at)
    daily = pd.DataFrame({"date": [pd.Timestamp(day)], "symbol": ["X"], "open": [open_], "high": [high],
                          "low": [low], "close": [close], "volume": [volume], "adj_close": [close]})
    bars = intraday_from_daily(daily, size)
    back = resample(bars, "1d", source_size=size).iloc[0]
    assert (back["open"], back["high"], back["low"], back["close"]) == (open_, high, low, close)
    assert back["volume"] == pytest.approx(volume, rel=1e-12, abs=1e-6)
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
