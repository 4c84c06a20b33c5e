"""Intraday Bars: their bar size, sessions and annualisation, loaded by symbol and range."""

import numpy as np
import pandas as pd
import pytest

from engine.data import calendar
from engine.data.bars import Bars
from engine.data.ingest import ingest
from engine.data.repository import load_bars
from engine.data.sample import sample_bars
from engine.data.sources import SyntheticSource
from engine.errors import InputError, NotFoundError

NY = "America/New_York"


@pytest.fixture(scope="module")
def december(tmp_path_factory):
    from engine.store import Store

    store = Store.open(tmp_path_factory.mktemp("intraday"))
    ingest(store, SyntheticSource(), ["AAPL", "GE", "F"], "2013-11-25", "2013-12-31", bar_size="5m",
           progress=False)
    return store


def test_annualisation_counts_early_closes():
    five = calendar.annualisation("5m", "2023-03-01", "2024-10-01")
    assert (five.bars_per_session, five.bars_per_early_close) == (78, 42)
    assert five.sessions_per_year == 251.0 and five.early_closes_per_year == 2.5
    # 2023: 248 full sessions and 2 early closes; 2024: 249 and 3
    assert five.bars_per_year == ((248 * 78 + 2 * 42) + (249 * 78 + 3 * 42)) / 2
    assert "42 on an early close" in five.describe() and "NYSE calendar 2023-2024" in five.describe()
    hourly = calendar.annualisation("1h", "2024-01-01", "2024-12-31")
    assert (hourly.bars_per_session, hourly.bars_per_early_close) == (7, 4)
    assert calendar.annualisation("1d", "2024-01-01", "2024-12-31").bars_per_year == 252


def test_loaded_bars_know_their_size_sessions_and_close(december):
    bars = load_bars(december, ["GE", "AAPL"], "2013-12-23", "2013-12-26", bar_size="5m")
    assert bars.bar_size == "5m" and bars.freq == "5min" and bars.symbols == ["GE", "AAPL"]
    assert str(bars.index.tz) == NY and len(bars) == 78 + 42 + 78  # the 24th closes at 13:00
    assert bars.session_start.sum() == bars.session_end.sum() == 3
    last = bars.index[bars.session_end]
    assert [t.strftime("%m-%d %H:%M") for t in last] == ["12-23 15:55", "12-24 12:55", "12-26 15:55"]
    closes = bars.session_close[bars.session_end]
    assert [t.strftime("%H:%M") for t in closes] == ["16:00", "13:00", "16:00"]
    assert bars.annualisation().bars_per_session == 78
    one_day = bars.between("2013-12-24", "2013-12-24")
    assert len(one_day) == 42 and one_day.bar_size == "5m"


def test_only_the_symbols_and_range_asked_for_are_read(december):
    bars = load_bars(december, ["F"], "2013-12-24", "2013-12-24", bar_size="5m", adjust=False)
    assert bars.symbols == ["F"] and len(bars) == 42
    assert bars.index[0] == pd.Timestamp("2013-12-24 09:30", tz=NY)
    with pytest.raises(NotFoundError, match="no stored 15m bars for F") as caught:
        load_bars(december, ["F"], bar_size="15m")
    assert "--bar-size 15m" in caught.value.hint


def test_adjusted_intraday_prices_use_the_days_factor(december):
    raw = load_bars(december, ["GE"], "2013-12-02", "2013-12-02", bar_size="5m", adjust=False)
    adjusted = load_bars(december, ["GE"], "2013-12-02", "2013-12-02", bar_size="5m")
    factor = adjusted.close["GE"] / raw.close["GE"]
    assert np.allclose(factor, factor.iloc[0]) and factor.iloc[0] < 1  # later dividends scale it down


def test_daily_bars_are_unchanged():
    bars = sample_bars(["AAPL"], "2013-12-02", "2013-12-31")
    assert bars.bar_size == "1d" and bars.freq == "1D" and bars.index.tz is None
    assert bars.session_start.all() and bars.session_end.all()
    assert bars.annualisation().bars_per_year == 252


def test_intraday_bars_need_exchange_time():
    naive = pd.DataFrame({"X": [1.0]}, index=pd.DatetimeIndex(["2024-03-12 09:30"]))
    with pytest.raises(InputError, match="need a tz-aware index"):
        Bars(naive, naive, naive, naive, naive, bar_size="5m")
    with pytest.raises(InputError, match="unknown bar size '5min'") as caught:
        Bars(naive, naive, naive, naive, naive, bar_size="5min")
    assert "did you mean 5m" in caught.value.hint
