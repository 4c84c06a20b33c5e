"""The REST feed: alpaca-py's real data client against the loopback stand-in of Alpaca's
data API, asked right after each close; a bar late at the source waited for, never guessed."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from engine.data.sources.alpaca import AlpacaSource, DataRetry
from engine.errors import NetworkError
from engine.live.alpaca_feed import AlpacaFeed
from engine.live.clock import session_bars
from engine.live.feed import ends_at, missing_symbols
from tests.standins.alpaca_data import API_KEY, SECRET_KEY, AlpacaDataStandIn

NY = "America/New_York"
DAYS = ["2024-03-06", "2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12"]
DAY = "2024-03-12"
FAST = DataRetry(attempts=2, backoff=0.01, max_backoff=0.02, jitter=0.0, max_retry_after=1)


def minutes(seed: int, days=DAYS) -> pd.DataFrame:
    """Regular-session minute bars, a random walk, every minute traded."""
    rng = np.random.default_rng(seed)
    frames = []
    for day in days:
        stamps = pd.date_range(f"{day} 09:30", f"{day} 16:00", freq="1min", tz=NY, inclusive="left")
        price = 50 + np.cumsum(rng.normal(0, 0.05, len(stamps)))
        close = price + rng.normal(0, 0.02, len(stamps))
        frames.append(pd.DataFrame({
            "timestamp": stamps, "open": price, "high": np.maximum(price, close) + 0.01,
            "low": np.minimum(price, close) - 0.01, "close": close,
            "volume": rng.integers(100, 5000, len(stamps)).astype(float),
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def without(frame: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    """``frame`` without its minutes from ``start`` to before ``end`` (New York time)."""
    gone = (frame["timestamp"] >= pd.Timestamp(start, tz=NY)) & (
        frame["timestamp"] < pd.Timestamp(end, tz=NY)
    )
    return frame[~gone]


class FakeTime:
    """The wall clock, moved by the feed's own sleeps; ``on_sleep`` runs at each."""

    def __init__(self, start: pd.Timestamp, on_sleep=None):
        self.now = start.tz_convert("UTC").tz_localize(None).to_pydatetime()
        self.slept: list[float] = []
        self.on_sleep = on_sleep

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)
        if self.on_sleep:
            self.on_sleep(len(self.slept))


@pytest.fixture
def server():
    with AlpacaDataStandIn(page_size=2000) as standin:
        standin.add_minutes("AAA", minutes(1))
        standin.add_minutes("BBB", minutes(2))
        yield standin


def source(server) -> AlpacaSource:
    return AlpacaSource(api_key=API_KEY, secret_key=SECRET_KEY, url_override=server.url,
                        retry=FAST, timeout=2.0)  # fmt: skip


def bar_at(start: str, bar_size: str = "5m"):
    (bar,) = [b for b in session_bars(DAY, bar_size) if b.start == pd.Timestamp(f"{DAY} {start}", tz=NY)]
    return bar


def feed(server, time: FakeTime, **options) -> AlpacaFeed:
    settings = {"bar_size": "5m", "lookback": 100, "wait": timedelta(seconds=20), "poll": 2.0}
    return AlpacaFeed(source(server), ["AAA", "BBB"], sleep=time.sleep, now=lambda: time.now,
                      **{**settings, **options})  # fmt: skip


def test_a_step_sees_the_lookback_ending_at_its_bar_as_alpaca_builds_it(server):
    bar = bar_at("10:05")
    time = FakeTime(bar.close + pd.Timedelta(seconds=5))
    window = feed(server, time).window(bar)

    assert ends_at(window, bar) and len(window) == 100 and window.bar_size == "5m"
    assert window.index[0].date() < pd.Timestamp(DAY).date()  # the lookback spans sessions
    expected = source(server).fetch(["AAA", "BBB"], DAYS[0], DAY, bar_size="5m")
    expected = expected[expected["timestamp"] <= bar.start].pivot(
        index="timestamp", columns="symbol", values="close"
    )
    pd.testing.assert_frame_equal(
        window.close, expected.iloc[-100:], check_names=False, check_freq=False
    )
    assert time.slept == []  # every bar was in: no waiting


def test_history_is_split_adjusted_for_decisions(server):
    traded = minutes(1)
    today = traded["timestamp"].dt.strftime("%Y-%m-%d") == DAY
    traded.loc[today, ["open", "high", "low", "close"]] /= 4.0  # a 4-for-1 split at today's open
    server.add_minutes("AAA", traded)
    server.add_split("AAA", DAY, 4.0)
    bar = bar_at("09:45")
    closes = feed(server, FakeTime(bar.close)).window(bar).close["AAA"]

    before, after = closes[closes.index.date < bar.session], closes[closes.index.date == bar.session]
    assert before.iloc[-1] == pytest.approx(traded.loc[~today, "close"].iloc[-1] / 4.0)
    assert after.iloc[-1] == pytest.approx(traded.loc[today, "close"].iloc[19])  # 9:49, as traded
    # No crash on the split day: the overnight move is the random walk's, not -75%.
    assert abs(after.iloc[0] / before.iloc[-1] - 1) < 0.05


def test_a_bar_late_at_the_source_is_waited_for(server):
    complete = minutes(2)
    server.add_minutes("BBB", without(complete, f"{DAY} 10:05", f"{DAY} 10:10"))
    bar = bar_at("10:05")

    def arrives(sleeps: int) -> None:  # BBB's bar reaches Alpaca during the third wait
        if sleeps == 3:
            server.add_minutes("BBB", complete)

    time = FakeTime(bar.close + pd.Timedelta(seconds=5), on_sleep=arrives)
    window = feed(server, time).window(bar)

    assert missing_symbols(window, bar) == []
    assert time.slept == [2.0, 2.0, 2.0]  # asked again every poll until it came
    assert window.close["BBB"].iloc[-1] == pytest.approx(
        complete[complete["timestamp"] < bar.close]["close"].iloc[-1]
    )


def test_a_bar_that_never_comes_is_missing_not_guessed(server):
    server.add_minutes("BBB", without(minutes(2), f"{DAY} 10:05", f"{DAY} 10:10"))
    bar = bar_at("10:05")
    time = FakeTime(bar.close + pd.Timedelta(seconds=5))
    alpaca = feed(server, time)
    window = alpaca.window(bar)

    assert sum(time.slept) == pytest.approx(20.0)  # waited the bound, no longer
    assert ends_at(window, bar) and missing_symbols(window, bar) == ["BBB"]
    assert alpaca.missing(bar) == ["BBB"]
    assert np.isnan(window.close["BBB"].iloc[-1])  # not the last close carried forward
    assert not np.isnan(window.close["AAA"].iloc[-1])


def test_when_no_symbol_has_the_bar_the_window_ends_before_it(server):
    for symbol, seed in (("AAA", 1), ("BBB", 2)):
        server.add_minutes(symbol, without(minutes(seed), f"{DAY} 10:05", f"{DAY} 10:10"))
    bar = bar_at("10:05")
    window = feed(server, FakeTime(bar.close), wait=timedelta(seconds=4)).window(bar)
    assert not ends_at(window, bar)  # the loop's stale-data skip
    assert window.index[-1] == bar.start - pd.Timedelta(minutes=5)


def test_alpaca_unreachable_through_the_wait_is_an_error_not_a_missing_bar(server):
    bar = bar_at("10:05")
    server.faults.add("503", count=None)
    with pytest.raises(NetworkError, match="kept failing"):
        feed(server, FakeTime(bar.close), wait=timedelta(seconds=4)).window(bar)


def test_later_steps_of_a_session_ask_only_for_the_new_bars_as_traded(server):
    first, second = bar_at("10:05"), bar_at("10:15")
    time = FakeTime(first.close)
    alpaca = feed(server, time)
    alpaca.window(first)
    asked = len(server.requests)
    window = alpaca.window(second)

    later = server.requests[asked:]
    assert [r.query["adjustment"] for r in later] == ["raw"]  # one request, no adjusted copy
    assert pd.Timestamp(later[0].query["start"]) == first.start  # from the last step's bar on
    assert ends_at(window, second) and window.index[-2] == bar_at("10:10").start


def test_a_daily_feed_gives_the_sessions_bar_after_the_close(server):
    alpaca = feed(server, FakeTime(pd.Timestamp(f"{DAY} 16:20", tz=NY)), bar_size="1d",
                  lookback=3)  # fmt: skip
    window = alpaca.window(pd.Timestamp(DAY).date())
    assert list(window.index) == [pd.Timestamp(d) for d in DAYS[-3:]]
    day = minutes(1)
    day = day[day["timestamp"].dt.strftime("%Y-%m-%d") == DAY]
    assert window.close["AAA"].iloc[-1] == pytest.approx(day["close"].iloc[-1])
    assert window.volume["AAA"].iloc[-1] == pytest.approx(day["volume"].sum())
