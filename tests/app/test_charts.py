"""The price chart's placement of fills and stops on daily and intraday bars (pure functions)."""

from __future__ import annotations

import pandas as pd

from app import charts

FIVE_MINUTES = pd.date_range(
    "2024-03-04 09:30", "2024-03-05 15:55", freq="5min", tz="America/New_York"
)
INTRADAY = FIVE_MINUTES[
    (FIVE_MINUTES.hour * 60 + FIVE_MINUTES.minute >= 570) & (FIVE_MINUTES.hour < 16)
]


def test_an_intraday_fill_lands_on_the_bar_that_holds_it_and_none_outside_the_bars():
    fills = pd.Series(pd.to_datetime([
        "2024-03-04 14:32:10",  # 09:32 New York: the 09:30 bar
        "2024-03-05 20:59:00",  # 15:59 New York: the last bar
        "2024-03-06 15:00:00",  # the next day: not on these bars
        "2024-03-01 15:00:00",  # before them
    ]))  # fmt: skip

    placed = charts.on_bar_axis(fills, INTRADAY)

    assert placed.iloc[0] == pd.Timestamp("2024-03-04 09:30", tz="America/New_York")
    assert placed.iloc[1] == pd.Timestamp("2024-03-05 15:55", tz="America/New_York")
    assert placed.iloc[2:].isna().all()


def test_a_daily_fill_lands_on_its_new_york_session():
    late = pd.Series(pd.to_datetime(["2024-03-05 00:30:00"]))  # 19:30 on the 4th in New York
    days = pd.bdate_range("2024-03-01", "2024-03-08")
    assert charts.on_bar_axis(late, days).iloc[0] == pd.Timestamp("2024-03-04")


def test_the_stop_kept_at_each_close_covers_every_bar_of_that_session():
    marked = pd.DataFrame({"bar_date": pd.to_datetime(["2024-03-04"]), "stop_price": [95.5]})

    stops = charts.stops_on_bars(marked, INTRADAY)

    first_day = INTRADAY.normalize().tz_localize(None) == pd.Timestamp("2024-03-04")
    assert (stops[first_day] == 95.5).all() and stops[~first_day].isna().all()


def test_the_chart_opens_around_the_fills_and_never_past_the_newest_bar():
    fills = pd.Series(pd.to_datetime(["2013-03-04", "2013-06-25"]))
    start, end = charts.default_window(fills, pd.Timestamp("2013-06-28"), "1d")
    assert start < pd.Timestamp("2013-03-04").date() and end == pd.Timestamp("2013-06-28").date()
    start, end = charts.default_window(
        fills.iloc[:0], pd.Timestamp("2024-03-05 15:55", tz="America/New_York"), "5m"
    )
    assert (start, end) == (pd.Timestamp("2024-02-27").date(), pd.Timestamp("2024-03-05").date())


def test_an_intraday_chart_draws_its_candles_at_their_times_with_each_fill_at_its_bar():
    bars = pd.DataFrame({"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5}, index=INTRADAY)
    filled = pd.Series(pd.to_datetime(["2024-03-04 15:02:00", "2024-03-05 19:47:30"]))
    fills = pd.DataFrame({"at": charts.on_bar_axis(filled, INTRADAY), "side": ["buy", "sell"],
                          "qty": [100, 100], "price": [10.2, 10.8], "purpose": ["entry", "exit"]})  # fmt: skip
    stops = pd.Series(float("nan"), index=INTRADAY)

    figure = charts.price_chart(bars, fills, stops, "XYZ")

    candles, buys, sells = figure.data
    assert len(candles.x) == len(INTRADAY) and pd.Timestamp(candles.x[0]).hour == 9
    assert pd.Timestamp(buys.x[0]) == pd.Timestamp("2024-03-04 10:00", tz="America/New_York")
    assert pd.Timestamp(sells.x[0]) == pd.Timestamp("2024-03-05 14:45", tz="America/New_York")
    assert "%H:%M" in buys.hovertemplate and "prices as traded" in figure.layout.title.text
    daily = pd.DataFrame({"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5},
                         index=pd.bdate_range("2024-03-01", "2024-03-08"))  # fmt: skip
    at_day = fills.assign(at=pd.to_datetime(["2024-03-04", "2024-03-05"]))
    figure = charts.price_chart(daily, at_day, pd.Series(float("nan"), index=daily.index), "XYZ")
    assert "%H:%M" not in figure.data[1].hovertemplate
