"""The Alpaca data source: alpaca-py's real client against a loopback stand-in of Alpaca's
market-data API (pages, faults, errors), never the internet."""

import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from engine.data.ingest import ingest
from engine.data.repository import load_bars
from engine.data.resample import resample
from engine.data.sources.alpaca import AlpacaSource, DataRetry
from engine.errors import InputError, NetworkError, NotFoundError, TemporaryError
from tests.standins.alpaca_data import API_KEY, SECRET_KEY, AlpacaDataStandIn

NY = "America/New_York"
# Tue, Wed, the Friday after Thanksgiving (closes 13:00), Mon; Thursday is a holiday.
DAYS = ["2023-11-21", "2023-11-22", "2023-11-24", "2023-11-27"]
FAST = DataRetry(attempts=4, backoff=0.01, max_backoff=0.05, jitter=0.0, max_retry_after=5)


def minutes(symbol: str, seed: int) -> pd.DataFrame:
    """Minute bars 8:00-17:59 every day: the regular session (9:30-16:00, 13:00 on the half
    day) and some pre- and post-market trading, as Alpaca sends them."""
    rng = np.random.default_rng(seed)
    frames = []
    for day in DAYS:
        stamps = pd.date_range(f"{day} 08:00", f"{day} 17:59", freq="1min", tz=NY)
        price = 100 + np.cumsum(rng.normal(0, 0.05, len(stamps)))
        frames.append(pd.DataFrame({
            "timestamp": stamps, "open": price, "high": price + 0.03, "low": price - 0.03,
            "close": price + rng.normal(0, 0.01, len(stamps)),
            "volume": rng.integers(100, 5000, len(stamps)).astype(float),
        }))
    frame = pd.concat(frames, ignore_index=True)
    frame["high"] = frame[["open", "high", "close"]].max(axis=1)
    frame["low"] = frame[["open", "low", "close"]].min(axis=1)
    return frame


@pytest.fixture
def server():
    with AlpacaDataStandIn(page_size=300) as standin:
        standin.add_minutes("AAPL", minutes("AAPL", 1))
        standin.add_minutes("MSFT", minutes("MSFT", 2))
        yield standin


def source(server, **kwargs) -> AlpacaSource:
    options = {"api_key": API_KEY, "secret_key": SECRET_KEY, "url_override": server.url,
               "retry": FAST, "timeout": 2.0}
    return AlpacaSource(**{**options, **kwargs})


def regular(frame: pd.DataFrame) -> pd.DataFrame:
    local = frame["timestamp"].dt.tz_convert(NY)
    minute = local.dt.hour * 60 + local.dt.minute
    close = np.where(local.dt.strftime("%Y-%m-%d") == "2023-11-24", 780, 960)
    return frame[(minute >= 570) & (minute < close)]


def test_five_minute_bars_follow_every_page_and_match_the_minutes(server):
    rows = source(server).fetch(["AAPL", "MSFT"], "2023-11-21", "2023-11-27", bar_size="5m")
    pages = [r for r in server.requests if r.status == 200]
    assert len(pages) == 2 * 4  # 960 bars in pages of 300, raw and adjusted: every page followed
    assert rows.groupby("symbol").size().to_dict() == {"AAPL": 78 * 3 + 42, "MSFT": 78 * 3 + 42}
    assert not rows.duplicated(["symbol", "timestamp"]).any()
    expected = resample(regular(minutes("AAPL", 1)).assign(symbol="AAPL"), "5m")
    mine = rows[rows["symbol"] == "AAPL"].reset_index(drop=True)
    assert (mine["timestamp"] == expected["timestamp"]).all()
    assert mine["volume"].sum() == expected["volume"].sum()
    assert np.allclose(mine["close"], expected["close"]) and np.allclose(mine["high"], expected["high"])
    half_day = mine[mine["timestamp"].dt.strftime("%Y-%m-%d") == "2023-11-24"]
    assert half_day["timestamp"].iloc[-1].strftime("%H:%M") == "12:55"  # the 13:00 close


def test_hourly_bars_are_anchored_to_the_open_not_the_clock(server):
    rows = source(server).fetch(["AAPL"], "2023-11-22", "2023-11-24", bar_size="1h")
    starts = rows.groupby(rows["timestamp"].dt.strftime("%Y-%m-%d"))["timestamp"].apply(
        lambda s: [t.strftime("%H:%M") for t in s]).to_dict()
    assert starts["2023-11-22"] == ["09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30"]
    assert starts["2023-11-24"] == ["09:30", "10:30", "11:30", "12:30"]  # a short last bar to 13:00
    session = regular(minutes("AAPL", 1))
    session = session[session["timestamp"].dt.strftime("%Y-%m-%d").isin(["2023-11-22", "2023-11-24"])]
    assert rows["volume"].sum() == session["volume"].sum()


def test_extended_hours_only_when_asked_and_never_in_a_regular_bar(server):
    regular_rows = source(server).fetch(["AAPL"], "2023-11-21", "2023-11-21", bar_size="30m")
    extended_rows = source(server).fetch(["AAPL"], "2023-11-21", "2023-11-21", bar_size="30m",
                                         extended_hours=True)
    assert [t.strftime("%H:%M") for t in regular_rows["timestamp"]][::6] == ["09:30", "12:30", "15:30"]
    times = [t.strftime("%H:%M") for t in extended_rows["timestamp"]]
    assert times[0] == "08:00" and times[-1] == "17:30" and "16:00" in times
    same = extended_rows[extended_rows["timestamp"].isin(regular_rows["timestamp"])]
    assert np.allclose(same["volume"], regular_rows["volume"])  # regular bars hold no extended trades


def test_adj_close_comes_from_alpacas_split_adjusted_bars(server):
    server.add_split("AAPL", "2023-11-24", 2.0)
    rows = source(server).fetch(["AAPL"], "2023-11-21", "2023-11-27", bar_size="1d")
    assert list(rows["date"].dt.strftime("%Y-%m-%d")) == DAYS
    before, after = rows.iloc[:2], rows.iloc[2:]
    assert np.allclose(before["adj_close"], before["close"] / 2)  # as traded, with the factor beside it
    assert np.allclose(after["adj_close"], after["close"])
    local = minutes("AAPL", 1)["timestamp"].dt.tz_convert(NY)
    day_hours = (local.dt.hour * 60 + local.dt.minute).between(570, 959)  # the stand-in's day bar
    assert rows["volume"].sum() == minutes("AAPL", 1)[day_hours]["volume"].sum()  # as the source says


def test_a_429_is_retried_after_its_retry_after(server):
    server.faults.add("429", retry_after=1)
    started = time.monotonic()
    rows = source(server).fetch(["AAPL"], "2023-11-21", "2023-11-21", bar_size="15m")
    assert time.monotonic() - started >= 1.0
    assert len(rows) == 26 and server.faults.counts()["429"] == 1


@pytest.mark.parametrize("kind", ["500", "502", "503", "504"])
def test_server_errors_are_retried_with_backoff(server, kind):
    server.faults.add(kind, count=2)
    rows = source(server).fetch(["AAPL"], "2023-11-21", "2023-11-21", bar_size="15m")
    assert len(rows) == 26 and server.faults.counts()[kind] == 2


def test_a_dropped_page_is_fetched_again_without_losing_or_repeating_a_bar(server):
    server.faults.add("drop", path="*page=3")
    rows = source(server).fetch(["AAPL", "MSFT"], "2023-11-21", "2023-11-21", bar_size="1m")
    assert server.faults.counts()["drop"] == 1
    assert [r.page for r in server.requests][:5] == [1, 2, 3, 3, 4]  # page 3 again, then on
    assert not rows.duplicated(["symbol", "timestamp"]).any()
    assert len(rows) == 2 * 390


def test_a_slow_answer_times_out_and_is_asked_again(server):
    server.faults.add("slow", delay=1.5)
    rows = source(server, timeout=0.5).fetch(["AAPL"], "2023-11-21", "2023-11-21", bar_size="15m")
    assert len(rows) == 26 and server.faults.counts()["slow"] == 1


def test_an_outage_that_outlasts_the_retries_is_a_temporary_error(server):
    server.faults.add("503", count=None)
    with pytest.raises(NetworkError, match="kept failing"):
        source(server).fetch(["AAPL"], "2023-11-21", "2023-11-21", bar_size="15m")
    assert server.faults.counts()["503"] == FAST.attempts


def test_rate_limits_that_never_end_say_to_wait(server):
    server.faults.add("429", count=None)
    with pytest.raises(TemporaryError, match="rate-limiting") as caught:
        source(server).fetch(["AAPL"], "2023-11-21", "2023-11-21", bar_size="15m")
    assert "run the same ingest again" in caught.value.hint


def test_bad_keys_name_the_environment_variables(server):
    with pytest.raises(InputError, match="refused the API keys") as caught:
        source(server, secret_key="wrong").fetch(["AAPL"], "2023-11-21", "2023-11-21", bar_size="5m")
    assert "APCA_API_SECRET_KEY" in caught.value.hint


def test_missing_keys_are_refused_before_any_request(server, monkeypatch):
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    with pytest.raises(InputError, match="APCA_API_KEY_ID and APCA_API_SECRET_KEY not set"):
        AlpacaSource(url_override=server.url)
    assert server.requests == []


def test_a_feed_the_plan_does_not_include_says_so(server):
    with pytest.raises(InputError, match="may not use the SIP feed") as caught:
        source(server, feed="sip").fetch(["AAPL"], "2023-11-21", "2023-11-21", bar_size="5m")
    assert "--feed iex" in caught.value.hint
    server.sip_allowed = True
    assert len(source(server, feed="sip").fetch(["AAPL"], "2023-11-21", "2023-11-21", bar_size="5m")) == 78


def test_unknown_and_malformed_symbols_are_named(server):
    with pytest.raises(NotFoundError, match="no 5m bars for ZZZZ"):
        source(server).fetch(["AAPL", "ZZZZ"], "2023-11-21", "2023-11-21", bar_size="5m")
    with pytest.raises(InputError, match="invalid symbol: AA\\$PL"):
        source(server).fetch(["AA$PL"], "2023-11-21", "2023-11-21", bar_size="5m")


def test_a_first_intraday_fetch_must_say_how_far_back(server):
    with pytest.raises(InputError, match="say how far back") as caught:
        source(server).fetch(["AAPL"], None, "2023-11-27", bar_size="1m")
    assert "--start" in caught.value.hint and server.requests == []


def test_ingest_from_alpaca_is_incremental_and_loads_as_bars(server, store):
    first = ingest(store, source(server), ["AAPL", "MSFT"], "2023-11-21", "2023-11-22",
                   bar_size="5m", progress=False)
    assert first.rows_added == 2 * 78 * 2 and first.report.errors.empty
    later = ingest(store, source(server), ["AAPL", "MSFT"], end="2023-11-27", bar_size="5m", progress=False)
    # asked again from the last stored session on: that session is already stored, the rest is new
    assert later.rows_already_stored == 2 * 78 and later.rows_added == 2 * (42 + 78)
    bars = load_bars(store, ["AAPL", "MSFT"], "2023-11-24", "2023-11-24", bar_size="5m", adjust=False)
    assert bars.bar_size == "5m" and len(bars) == 42 and str(bars.index.tz) == NY
    assert bars.sources == ("alpaca",) and not bars.synthetic


def test_wb_ingest_from_alpaca_through_the_environment(server, tmp_path):
    env = {**os.environ, "APCA_API_KEY_ID": API_KEY, "APCA_API_SECRET_KEY": SECRET_KEY,
           "WB_ALPACA_DATA_URL": server.url}
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "--data-dir", str(tmp_path), "ingest", "--source", "alpaca",
         "--symbols", "AAPL", "--bar-size", "15m", "--start", "2023-11-21", "--end", "2023-11-24"],
        capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert "alpaca: 66 15m bars added" in result.stdout  # 26 + 26 + 14 on the 13:00 close
