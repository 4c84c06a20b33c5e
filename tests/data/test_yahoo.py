"""The Yahoo source, fed recorded yfinance-shaped answers (never the internet)."""

import numpy as np
import pandas as pd
import pytest
from yfinance.exceptions import YFPricesMissingError, YFRateLimitError

from engine.data.ingest import ingest
from engine.data.sources import YahooSource, normalise_yahoo
from engine.errors import InputError, NetworkError, NotFoundError, TemporaryError


def yahoo_frame(start: str, end: str, base: float = 100.0) -> pd.DataFrame:
    """A frame shaped like yfinance's Ticker.history(auto_adjust=False) for daily bars."""
    days = pd.bdate_range(start, end, tz="America/New_York", name="Date")
    days = days[~days.strftime("%m-%d").isin(["12-25", "01-01"])]
    close = base + np.arange(len(days), dtype=float)
    return pd.DataFrame(
        {
            "Open": close - 0.5, "High": close + 1, "Low": close - 1, "Close": close,
            "Adj Close": close * 0.98, "Volume": np.full(len(days), 1_000_000, dtype="int64"),
        },
        index=days,
    )


class Recorded:
    """Replays answers per symbol and records what was asked."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []
        self.options = []

    def __call__(self, symbol, start, end, **options):
        self.calls.append((symbol, start, end))
        self.options.append(options)
        answer = self.answers[symbol]
        if isinstance(answer, list):
            answer = answer.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_dates_are_exchange_calendar_dates_without_timezone():
    rows = normalise_yahoo("AAPL", yahoo_frame("2024-03-04", "2024-03-08"))
    assert rows["date"].dt.tz is None
    assert rows["date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]
    assert (rows["adj_close"] < rows["close"]).all()  # raw close kept, adjusted separately


def test_yahoo_ingest_is_incremental_asking_only_for_new_dates(store):
    recorded = Recorded({"AAPL": [yahoo_frame("2024-03-04", "2024-03-08"),
                                  yahoo_frame("2024-03-11", "2024-03-15", base=105)]})
    source = YahooSource(recorded, backoff=0)
    first = ingest(store, source, ["AAPL"], start="2024-03-04", end="2024-03-08", progress=False)
    assert first.rows_added == 5
    second = ingest(store, source, ["AAPL"], end="2024-03-15", progress=False)
    assert second.rows_added == 5
    # the second call asked from the day after the last stored bar
    assert pd.Timestamp(recorded.calls[1][1]) == pd.Timestamp("2024-03-09")


def test_an_unknown_ticker_is_a_clear_input_error(store):
    source = YahooSource(Recorded({"NOPE": YFPricesMissingError("NOPE", "")}), backoff=0)
    with pytest.raises(NotFoundError) as caught:
        ingest(store, source, ["NOPE"], start="2024-01-01", progress=False)
    assert "NOPE" in caught.value.message and "BRK-B" in caught.value.hint


def test_an_empty_answer_is_a_clear_error(store):
    source = YahooSource(Recorded({"AAPL": yahoo_frame("2024-03-04", "2024-03-08").iloc[:0]}), backoff=0)
    with pytest.raises(NotFoundError, match="returned no bars for AAPL"):
        ingest(store, source, ["AAPL"], start="2024-03-04", progress=False)


def test_network_failures_are_retried_then_name_the_network(store):
    down = ConnectionError("Failed to resolve host")
    recorded = Recorded({"AAPL": [down, down, down, down]})
    with pytest.raises(NetworkError) as caught:
        ingest(store, YahooSource(recorded, retries=3, backoff=0), ["AAPL"], start="2024-01-01",
               progress=False)
    assert len(recorded.calls) == 4
    assert "cannot reach Yahoo Finance" in caught.value.message
    assert "--source sample" in caught.value.hint
    assert store.scalar("SELECT count(*) FROM bars") == 0


def test_a_passing_failure_is_retried_and_the_ingest_succeeds(store):
    recorded = Recorded({"AAPL": [YFRateLimitError(), TimeoutError("slow"),
                                  yahoo_frame("2024-03-04", "2024-03-08")]})
    result = ingest(store, YahooSource(recorded, backoff=0), ["AAPL"], start="2024-03-04",
                    end="2024-03-08", progress=False)
    assert result.rows_added == 5 and len(recorded.calls) == 3


def test_a_persistent_rate_limit_says_to_wait(store):
    recorded = Recorded({"AAPL": [YFRateLimitError() for _ in range(3)]})
    with pytest.raises(TemporaryError, match="rate-limited"):
        ingest(store, YahooSource(recorded, retries=2, backoff=0), ["AAPL"], start="2024-01-01",
               progress=False)


# -- intraday and split records ----------------------------------------------------------

NOW = pd.Timestamp("2024-03-15 17:00", tz="America/New_York")


def yahoo_intraday(day: str, interval: str = "5m", *, prepost=False, base=180.0) -> pd.DataFrame:
    """A frame shaped like yfinance's Ticker.history(interval=..., auto_adjust=False, actions=True)."""
    first, last = ("04:00", "20:00") if prepost else ("09:30", "16:00")
    minutes = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60}[interval]
    stamps = pd.date_range(f"{day} {first}", f"{day} {last}", freq=f"{minutes}min",
                           tz="America/New_York", inclusive="left", name="Datetime")
    close = base + np.arange(len(stamps)) * 0.01
    return pd.DataFrame({"Open": close - 0.01, "High": close + 0.05, "Low": close - 0.05, "Close": close,
                         "Adj Close": close, "Volume": np.full(len(stamps), 1000, dtype="int64"),
                         "Dividends": 0.0, "Stock Splits": 0.0}, index=stamps)


def test_intraday_bars_keep_the_exchange_time_of_each_bar(store):
    recorded = Recorded({"AAPL": [yahoo_intraday("2024-03-13"), yahoo_intraday("2024-03-14")]})
    source = YahooSource(recorded, backoff=0, now=lambda: NOW)
    first = ingest(store, source, ["AAPL"], start="2024-03-13", end="2024-03-13", bar_size="5m", progress=False)
    assert first.rows_added == 78 and recorded.options[0] == {"interval": "5m", "prepost": False}
    later = ingest(store, source, ["AAPL"], end="2024-03-14", bar_size="5m", progress=False)
    assert later.rows_added == 78 and pd.Timestamp(recorded.calls[1][1]) == pd.Timestamp("2024-03-13")
    stored = store.query("SELECT min(ts) AS first FROM intraday_bars")
    assert stored["first"].iloc[0] == pd.Timestamp("2024-03-13 13:30")  # 9:30 New York, in UTC (EDT)


def test_hourly_bars_from_yahoo_are_anchored_at_the_open(store):
    frame = yahoo_intraday("2024-03-13", "30m").iloc[::2]  # Yahoo's 1h bars: 9:30, 10:30, ... 15:30
    source = YahooSource(Recorded({"AAPL": frame}), backoff=0, now=lambda: NOW)
    result = ingest(store, source, ["AAPL"], start="2024-03-13", end="2024-03-13", bar_size="1h", progress=False)
    assert result.rows_added == 7 and result.report.errors.empty


@pytest.mark.parametrize("size, window, start", [
    ("1m", "the last 7 days", "2024-03-01"),
    ("5m", "the last 60 days", "2023-12-01"),
    ("1h", r"the last 730 days \(about two years\)", "2021-06-01"),
])
def test_a_request_outside_yahoos_window_names_the_window(store, size, window, start):
    recorded = Recorded({"AAPL": yahoo_intraday("2024-03-13")})
    with pytest.raises(InputError, match=f"Yahoo keeps {size} bars for {window} only") as caught:
        ingest(store, YahooSource(recorded, backoff=0, now=lambda: NOW), ["AAPL"], start=start,
               bar_size=size, progress=False)
    assert "--source alpaca" in caught.value.hint and recorded.calls == []


def nflx_around_earnings() -> pd.DataFrame:
    """NFLX's daily bars 2022-04-18..22 as yfinance shows them: the -35% day after earnings."""
    days = pd.DatetimeIndex(["2022-04-18", "2022-04-19", "2022-04-20", "2022-04-21", "2022-04-22"],
                            tz="America/New_York", name="Date")
    close = np.array([338.63, 348.61, 226.19, 218.22, 215.52])
    frame = pd.DataFrame({"Open": [333.2, 338.0, 245.0, 225.0, 219.0], "Close": close, "Adj Close": close,
                          "Volume": [7e6, 9e6, 1.3e8, 4e7, 2.5e7], "Dividends": 0.0,
                          "Stock Splits": 0.0}, index=days)
    return with_range(frame)


def with_range(frame: pd.DataFrame) -> pd.DataFrame:
    frame["High"] = frame[["Open", "Close"]].max(axis=1) + 3
    frame["Low"] = frame[["Open", "Close"]].min(axis=1) - 3
    return frame


def test_a_real_earnings_drop_is_a_jump_not_a_suspected_split(store):
    source = YahooSource(Recorded({"NFLX": nflx_around_earnings()}), backoff=0)
    result = ingest(store, source, ["NFLX"], start="2022-04-18", end="2022-04-22", progress=False)
    jumps = result.report.warnings
    assert list(jumps["check"]) == ["price_jump"]
    assert jumps["date"].iloc[0] == pd.Timestamp("2022-04-20")
    assert "a real jump" in jumps["reason"].iloc[0] and "unrecorded split" not in jumps["reason"].iloc[0]


def test_a_split_the_source_records_is_no_finding_and_is_kept(store):
    frame = nflx_around_earnings()
    frame["Close"] = [338.63, 348.61, 176.0, 178.0, 177.5]  # as if a 2:1 split on the 20th...
    frame["Open"] = [333.2, 338.0, 175.0, 176.0, 178.0]
    frame["Adj Close"] = frame["Close"] / np.array([2, 2, 1, 1, 1])  # ...that adj_close adjusts for
    frame["Stock Splits"] = [0.0, 0.0, 2.0, 0.0, 0.0]
    frame = with_range(frame)
    result = ingest(store, YahooSource(Recorded({"NFLX": frame}), backoff=0), ["NFLX"],
                    start="2022-04-18", end="2022-04-22", progress=False)
    assert result.report.findings.empty
    stored = store.query("SELECT symbol, date, ratio, source FROM splits")
    assert stored.to_dict("records") == [{"symbol": "NFLX", "date": pd.Timestamp("2022-04-20"),
                                          "ratio": 2.0, "source": "yahoo"}]
