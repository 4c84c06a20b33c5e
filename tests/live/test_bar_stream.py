"""The stream feed: alpaca-py's real StockDataStream against a loopback stand-in of Alpaca's
market-data stream, with the REST stand-in beside it for history and what the stream missed.

Faults on demand: a dropped connection (alpaca-py reconnects with backoff), a duplicate
bar (kept once), a late bar (missing, never guessed from the minutes that did come).
"""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from engine.data.sources.alpaca import AlpacaSource, DataRetry
from engine.errors import InputError
from engine.live.alpaca_feed import AlpacaFeed
from engine.live.bar_stream import Connection, MinuteBook, StreamFeed
from engine.live.clock import session_bars
from engine.live.feed import ends_at, missing_symbols
from tests.live.test_alpaca_feed import DAY, minutes, without
from tests.standins import alpaca_data, alpaca_stream
from tests.standins.alpaca_data import AlpacaDataStandIn
from tests.standins.alpaca_stream import AlpacaStreamStandIn

NY = "America/New_York"
SYMBOLS = ["AAA", "BBB"]
WAIT = timedelta(seconds=1.5)


def bar_at(start: str, bar_size: str = "5m"):
    (bar,) = [b for b in session_bars(DAY, bar_size) if b.start == pd.Timestamp(f"{DAY} {start}", tz=NY)]
    return bar


def between(frame: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    """The minutes of ``frame`` from ``start`` to before ``end`` on DAY, New York time."""
    stamps = frame["timestamp"]
    return frame[(stamps >= pd.Timestamp(f"{DAY} {start}", tz=NY))
                 & (stamps < pd.Timestamp(f"{DAY} {end}", tz=NY))]  # fmt: skip


@pytest.fixture
def market():
    """Both stand-ins over the same minute bars: the REST API and the stream."""
    data = {"AAA": minutes(1), "BBB": minutes(2)}
    with AlpacaDataStandIn(page_size=5000) as rest, AlpacaStreamStandIn() as stream:
        for symbol, frame in data.items():
            rest.add_minutes(symbol, frame)
        yield rest, stream, data


def open_feed(rest, stream, bar_size: str = "5m") -> StreamFeed:
    source = AlpacaSource(
        api_key=alpaca_data.API_KEY, secret_key=alpaca_data.SECRET_KEY, url_override=rest.url,
        retry=DataRetry(attempts=2, backoff=0.01, max_backoff=0.02, jitter=0.0), timeout=2.0,
    )  # fmt: skip
    history = AlpacaFeed(source, SYMBOLS, bar_size=bar_size, lookback=50)
    feed = StreamFeed(
        history, api_key=alpaca_stream.API_KEY, secret_key=alpaca_stream.SECRET_KEY,
        url_override=stream.url, wait=WAIT, reconnect=(0.05, 0.2),
    )  # fmt: skip
    feed.start()
    stream.wait_subscribed(1)
    return feed


def publish(stream, data: dict, start: str, end: str) -> None:
    rows = [between(frame, start, end).assign(symbol=symbol) for symbol, frame in data.items()]
    stream.publish(pd.concat(rows, ignore_index=True))


def rest_bars(rest, bar_size: str = "5m") -> pd.DataFrame:
    """Alpaca's own bars over the whole day, by the REST API: what the stream must equal."""
    source = AlpacaSource(api_key=alpaca_data.API_KEY, secret_key=alpaca_data.SECRET_KEY,
                          url_override=rest.url)  # fmt: skip
    return source.fetch(SYMBOLS, DAY, DAY, bar_size=bar_size)


def assert_bar_equals_rest(window, bar, expected: pd.DataFrame, symbols=SYMBOLS) -> None:
    row = expected[expected["timestamp"] == bar.start].set_index("symbol")
    for field in ("open", "high", "low", "close", "volume"):
        got = getattr(window, field).iloc[-1]
        np.testing.assert_allclose(got[symbols].to_numpy(float), row.loc[symbols, field].to_numpy(float),
                                   rtol=1e-12, err_msg=field)  # fmt: skip


def backfilled(rest, bar) -> bool:
    """True when the feed asked the REST API for ``bar`` itself (the stream could not vouch)."""
    return any(pd.Timestamp(r.query.get("start", "1970")) == bar.start for r in rest.requests)


@pytest.mark.parametrize("bar_size, start, until", [("5m", "10:05", "10:11"),
                                                    ("15m", "10:15", "10:31")])
def test_the_streams_minutes_resampled_are_alpacas_own_bars(market, bar_size, start, until):
    rest, stream, data = market
    with open_feed(rest, stream, bar_size) as feed:
        publish(stream, data, "09:30", until)
        bar = bar_at(start, bar_size)
        window = feed.window(bar)

        assert ends_at(window, bar) and missing_symbols(window, bar) == []
        assert_bar_equals_rest(window, bar, rest_bars(rest, bar_size))
        assert not backfilled(rest, bar)  # built from the stream, not asked of the REST API
        assert len(window) == 50  # the history before it came from the REST API


def test_a_duplicate_bar_is_kept_once(market):
    rest, stream, data = market
    stream.faults.add("duplicate", path="AAA@*T10:07")
    with open_feed(rest, stream) as feed:
        publish(stream, data, "09:30", "10:11")
        bar = bar_at("10:05")
        window = feed.window(bar)
    assert feed.book.duplicates == 1 and stream.faults.counts()["duplicate"] == 1
    assert_bar_equals_rest(window, bar, rest_bars(rest))  # the volume not counted twice


def test_a_late_bar_is_missing_never_built_from_the_minutes_that_came(market):
    rest, stream, data = market
    rest.add_minutes("AAA", without(data["AAA"], f"{DAY} 10:05", f"{DAY} 10:10"))  # late at Alpaca
    stream.faults.add("late", path="AAA@*T10:09", delay=WAIT.total_seconds() + 1.5)
    with open_feed(rest, stream) as feed:
        publish(stream, data, "09:30", "10:10")  # BBB whole; AAA's last minute late
        bar = bar_at("10:05")
        began = time.monotonic()
        window = feed.window(bar)
        waited = time.monotonic() - began

        assert waited >= WAIT.total_seconds()  # it waited the bound for AAA
        assert ends_at(window, bar) and missing_symbols(window, bar) == ["AAA"]
        assert np.isnan(window.close["AAA"].iloc[-1])  # four of five minutes came: no bar
        assert_bar_equals_rest(window, bar, rest_bars(rest), symbols=["BBB"])
        deadline = time.monotonic() + 5
        while feed.book.late == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert feed.book.late == 1  # it came after the decision, and is counted as late


def test_a_bar_late_on_the_stream_comes_from_the_rest_api_when_alpaca_has_it(market):
    rest, stream, data = market
    stream.faults.add("late", path="AAA@*T10:09", delay=WAIT.total_seconds() + 1.5)
    with open_feed(rest, stream) as feed:
        publish(stream, data, "09:30", "10:10")
        bar = bar_at("10:05")
        window = feed.window(bar)
    assert backfilled(rest, bar) and missing_symbols(window, bar) == []
    assert_bar_equals_rest(window, bar, rest_bars(rest))


def test_a_dropped_connection_reconnects_and_what_it_lost_comes_from_the_rest_api(market):
    rest, stream, data = market
    stream.faults.add("drop", path="AAA@*T10:03")  # the connection drops before 10:03's bars
    with open_feed(rest, stream) as feed:
        publish(stream, data, "09:30", "10:04")  # 10:03 is lost with the connection
        stream.wait_subscribed(2)  # alpaca-py reconnected, after its backoff, and subscribed
        publish(stream, data, "10:04", "10:11")
        lost, after = bar_at("10:00"), bar_at("10:05")
        expected = rest_bars(rest)

        window = feed.window(lost)
        assert stream.connections == 2
        assert backfilled(rest, lost)  # the stream cannot vouch for a bar it was down in
        assert_bar_equals_rest(window, lost, expected)

        window = feed.window(after)
        assert not backfilled(rest, after)  # the new connection carried this one whole
        assert_bar_equals_rest(window, after, expected)


# -- when a stream-built bar is whole: the rule by itself -----------------------------------


def minute(text: str) -> pd.Timestamp:
    return pd.Timestamp(f"{DAY} {text}", tz=NY)


def book_with(connections: list[Connection], minutes_of: dict[str, list[str]]) -> MinuteBook:
    book = MinuteBook()
    book.connections = connections
    book.minutes = {s: {minute(m): (1.0, 1.0, 1.0, 1.0, 1.0) for m in ms} for s, ms in minutes_of.items()}
    return book


@pytest.mark.parametrize(
    "connections, whole",
    [
        pytest.param([Connection(minute("10:06"), minute("10:09"))], set(), id="began-mid-bar"),
        pytest.param([Connection(minute("10:05"), minute("10:09"))], set(), id="began-at-its-start"),
        pytest.param([Connection(minute("10:04"), minute("10:09"))], {"AAA"}, id="last-minute-in"),
        pytest.param([Connection(minute("10:04"), minute("10:10"))], {"AAA", "BBB"},
                     id="stream-went-past"),
        pytest.param([Connection(minute("10:04"), minute("10:07"), up=False),
                      Connection(minute("10:08"), minute("10:12"))], set(), id="dropped-inside"),
        pytest.param([Connection(minute("10:04"), minute("10:10"), up=False),
                      Connection(minute("10:12"), minute("10:12"))], {"AAA", "BBB"},
                     id="dropped-after"),
    ],
)
def test_a_bar_is_whole_only_when_one_connection_carried_all_its_minutes(connections, whole):
    book = book_with(connections, {"AAA": ["10:05", "10:09"], "BBB": ["10:05", "10:08"]})
    assert book.whole(SYMBOLS, bar_at("10:05")) == whole


def test_the_stream_without_keys_says_which_to_set(market, monkeypatch):
    rest, _, _ = market
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    source = AlpacaSource(api_key=alpaca_data.API_KEY, secret_key=alpaca_data.SECRET_KEY,
                          url_override=rest.url)  # fmt: skip
    with pytest.raises(InputError, match="needs API keys") as caught:
        StreamFeed(AlpacaFeed(source, SYMBOLS, bar_size="5m"))
    assert "APCA_API_KEY_ID" in caught.value.hint
