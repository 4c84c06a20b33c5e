"""A replay's feed hands each step the bars up to its bar, adjusted and as traded, as views of arrays."""

import pandas as pd
import pytest

from engine.data.sample import sample_bars
from engine.live.clock import bars_between
from engine.live.feed import FrameFeed, through

SYMBOLS = ["AAPL", "GE", "MSFT"]


def _traded(bars):
    """The same bars as traded: prices another basis than the adjusted (a split's quarter)."""
    return bars.with_frames(**{f: getattr(bars, f) * 4 for f in ("open", "high", "low", "close")})


@pytest.mark.parametrize("lookback", [None, 40])
def test_each_step_sees_the_bars_up_to_its_own_and_their_traded_twins(lookback):
    bars = sample_bars(SYMBOLS, "2012-01-03", "2012-12-31")
    traded = _traded(bars)
    feed = FrameFeed(bars, lookback=lookback, traded=traded)
    for day in (bars.index[0], bars.index[30], bars.index[120], bars.index[-1]):
        window, as_traded = feed.window(day.date()), feed.traded(day.date())
        for got, want in ((window, through(bars, day.date(), lookback)),
                          (as_traded, through(traded, day.date(), lookback))):  # fmt: skip
            for field in ("open", "high", "low", "close", "volume"):
                pd.testing.assert_frame_equal(getattr(got, field), getattr(want, field))
        assert window.index[-1] == day and window.sources == bars.sources


def test_intraday_bars_are_seen_up_to_the_bar_that_closed(intraday_store):
    from engine.data.repository import load_bars

    bars = load_bars(intraday_store, ["AAPL", "F"], "2013-10-01", "2013-10-04", bar_size="5m")
    feed = FrameFeed(bars, lookback=30)
    bar = next(b for b in bars_between("2013-10-01", "2013-10-04", "5m") if b.label == bars.index[100])
    window = feed.window(bar)
    assert window.index[-1] == bars.index[100] and len(window) == 30
    assert window.index.tz is not None and window.bar_size == "5m"
    pd.testing.assert_frame_equal(window.close, bars.close.iloc[71:101])
