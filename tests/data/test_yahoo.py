"""The Yahoo source, fed recorded yfinance-shaped answers (never the internet)."""

import numpy as np
import pandas as pd
import pytest
from yfinance.exceptions import YFPricesMissingError, YFRateLimitError

from engine.data.ingest import ingest
from engine.data.sources import YahooSource, normalise_yahoo
from engine.errors import NetworkError, NotFoundError, TemporaryError


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
