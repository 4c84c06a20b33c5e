"""The gate's view of the market from bars: last price and dollar volume per symbol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.bars import Bars
from engine.risk import market_snapshot


def _bars(close: dict[str, list[float]], volume: dict[str, list[float]]) -> Bars:
    index = pd.date_range("2024-03-04", periods=len(next(iter(close.values()))), freq="B")
    close, volume = pd.DataFrame(close, index), pd.DataFrame(volume, index)
    return Bars(close, close, close, close, volume)


def test_a_symbol_that_did_not_trade_on_the_last_bar_keeps_its_last_close():
    nan = np.nan
    bars = _bars(
        {"AAA": [10.0, 11.0, nan], "BBB": [nan, nan, nan], "CCC": [20.0, 21.0, 22.0]},
        {"AAA": [100.0, 200.0, nan], "BBB": [5.0, 5.0, 5.0], "CCC": [10.0, nan, 10.0]},
    )
    snapshot = market_snapshot(bars, window=3)
    # No close in the window: no price, so the gate refuses to buy it.
    assert set(snapshot) == {"AAA", "CCC"}
    assert snapshot["AAA"].last_price == 11.0
    # Dollar volume averages the bars that have both a close and a volume.
    assert snapshot["AAA"].avg_dollar_volume == pytest.approx((1000 + 2200) / 2)
    assert snapshot["CCC"].avg_dollar_volume == pytest.approx((200 + 220) / 2)


def test_a_price_without_any_volume_has_no_dollar_volume_and_a_short_window_looks_back_only_so_far():
    nan = np.nan
    bars = _bars({"AAA": [10.0, 11.0, 12.0], "BBB": [5.0, nan, nan]},
                 {"AAA": [nan, nan, nan], "BBB": [1.0, 1.0, 1.0]})  # fmt: skip
    snapshot = market_snapshot(bars, window=2)
    assert snapshot["AAA"].last_price == 12.0 and snapshot["AAA"].avg_dollar_volume is None
    assert "BBB" not in snapshot  # its last close is older than the window
    assert market_snapshot(bars, at="2024-01-01") == {}  # no bar yet
