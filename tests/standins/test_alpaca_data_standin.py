"""The market-data stand-in itself speaks Alpaca's wire format: keys, pages, limits, faults."""

import numpy as np
import pandas as pd
import requests

from tests.standins.alpaca_data import API_KEY, SECRET_KEY, AlpacaDataStandIn

HEADERS = {"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY}


def one_session(day="2024-03-12") -> pd.DataFrame:
    stamps = pd.date_range(f"{day} 09:30", f"{day} 16:00", freq="1min", tz="America/New_York",
                           inclusive="left")
    price = 10 + np.arange(len(stamps)) * 0.01
    return pd.DataFrame({"timestamp": stamps, "open": price, "high": price + 0.02, "low": price - 0.02,
                         "close": price + 0.01, "volume": 100.0})


def get(server, **params):
    return requests.get(f"{server.url}/v2/stocks/bars", params=params, headers=HEADERS, timeout=5)


def test_limit_counts_bars_across_symbols_and_tokens_chain_the_pages():
    with AlpacaDataStandIn() as server:
        server.add_minutes("AAA", one_session())
        server.add_minutes("BBB", one_session())
        query = {"symbols": "BBB,AAA", "timeframe": "30Min", "start": "2024-03-12T00:00:00Z",
                 "end": "2024-03-13T00:00:00Z", "limit": 10}
        first = get(server, **query).json()
        assert list(first["bars"]) == ["AAA"] and len(first["bars"]["AAA"]) == 10
        assert first["bars"]["AAA"][0]["t"] == "2024-03-12T13:30:00Z"  # 9:30 New York (EDT)
        assert set(first["bars"]["AAA"][0]) == {"t", "o", "h", "l", "c", "v", "n", "vw"}
        second = get(server, **query, page_token=first["next_page_token"]).json()
        assert [len(v) for v in second["bars"].values()] == [3, 7]  # the rest of AAA, then BBB
        third = get(server, **query, page_token=second["next_page_token"]).json()
        assert len(third["bars"]["BBB"]) == 6 and third["next_page_token"] is None


def test_keys_feed_and_faults_are_answered_like_alpaca():
    with AlpacaDataStandIn() as server:
        server.add_minutes("AAA", one_session())
        query = {"symbols": "AAA", "timeframe": "1Day"}
        bad = requests.get(f"{server.url}/v2/stocks/bars", params=query, timeout=5,
                           headers={**HEADERS, "APCA-API-SECRET-KEY": "nope"})
        assert bad.status_code == 401
        assert get(server, **query, feed="sip").status_code == 403
        server.faults.add("429", retry_after=2)
        limited = get(server, **query)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
        day = get(server, **query).json()["bars"]["AAA"]
        assert day[0]["t"] == "2024-03-12T04:00:00Z" and day[0]["v"] == 390 * 100.0
