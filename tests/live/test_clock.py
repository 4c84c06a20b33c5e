"""Bar closes from the NYSE calendar: every bar size, DST changes, early closes, holidays."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from engine.backtest.flat import flat_bars
from engine.data import calendar
from engine.data.bars import Bars
from engine.data.resample import resample
from engine.live.clock import (
    BarClose,
    MarketClock,
    ReplayClock,
    bars_between,
    entry_refusal,
    flat_bar,
    flat_due,
    next_bar,
    session_bars,
    session_close,
)

NY = "America/New_York"


def ny(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=NY)


def hours(bars: list[BarClose]) -> list[str]:
    return [f"{b.start:%H:%M}-{b.close:%H:%M}" for b in bars]


@pytest.mark.parametrize(
    "before, after",
    [
        pytest.param("2024-03-08", "2024-03-11", id="spring-forward"),
        pytest.param("2024-11-01", "2024-11-04", id="fall-back"),
    ],
)
def test_bars_close_at_the_same_new_york_times_on_both_sides_of_a_dst_change(before, after):
    first, second = session_bars(before, "5m"), session_bars(after, "5m")
    assert len(first) == len(second) == 78
    assert hours(first) == hours(second)
    assert (first[0].close.hour, first[0].close.minute) == (9, 35)
    assert (first[-1].close.hour, first[-1].last, first[-2].last) == (16, True, False)
    # ...which are an hour apart in UTC: the clock must not step at the old offset.
    utc = [b.close.tz_convert("UTC") - pd.Timestamp(b.session, tz="UTC") for b in (first[-1], second[-1])]
    assert abs(utc[0] - utc[1]) == pd.Timedelta(hours=1)


@pytest.mark.parametrize(
    "bar_size, count, last",
    [
        ("1m", 210, "12:59-13:00"),
        ("5m", 42, "12:55-13:00"),
        ("15m", 14, "12:45-13:00"),
        ("30m", 7, "12:30-13:00"),
        ("1h", 4, "12:30-13:00"),  # short: half an hour
        ("1d", 1, "09:30-13:00"),
    ],
)
def test_the_day_after_thanksgiving_closes_at_one_and_its_last_bar_may_be_short(bar_size, count, last):
    bars = session_bars("2024-11-29", bar_size)
    assert len(bars) == count
    assert hours(bars)[-1] == last and bars[-1].last
    assert [b.last for b in bars].count(True) == 1


def test_an_hourly_session_ends_with_a_half_hour_bar():
    assert hours(session_bars("2024-03-12", "1h")) == [
        "09:30-10:30", "10:30-11:30", "11:30-12:30", "12:30-13:30", "13:30-14:30",
        "14:30-15:30", "15:30-16:00",
    ]  # fmt: skip


def test_holidays_and_weekends_have_no_bars():
    for closed in ("2024-11-28", "2024-07-04", "2024-03-29", "2024-03-09"):  # Thanksgiving,
        assert session_bars(closed, "5m") == []  # Independence Day, Good Friday, a Saturday


@pytest.mark.parametrize(
    "after, bar_size, expected",
    [
        pytest.param("2024-03-12 10:04:59", "5m", "2024-03-12 10:05", id="before-a-close"),
        pytest.param("2024-03-12 10:05", "5m", "2024-03-12 10:10", id="at-a-close"),
        pytest.param("2024-03-12 09:00", "15m", "2024-03-12 09:45", id="pre-market"),
        pytest.param("2024-11-27 16:00", "5m", "2024-11-29 09:35", id="over-thanksgiving"),
        pytest.param("2024-07-03 13:00", "1h", "2024-07-05 10:30", id="early-close-then-holiday"),
        pytest.param("2024-03-08 16:30", "1m", "2024-03-11 09:31", id="over-a-weekend-and-dst"),
        pytest.param("2024-11-29 12:45", "1h", "2024-11-29 13:00", id="short-last-hour"),
        pytest.param("2024-03-12 16:00", "1d", "2024-03-13 16:00", id="daily"),
    ],
)
def test_the_next_bar_close(after, bar_size, expected):
    assert next_bar(ny(after), bar_size).close == ny(expected)


def test_the_next_bar_close_after_a_naive_utc_time():
    assert next_bar(datetime(2024, 3, 11, 13, 32), "5m").close == ny("2024-03-11 09:35")  # EDT


def test_a_year_of_bar_closes_is_the_calendars_count_of_bars():
    for bar_size in ("5m", "1h"):
        bars = bars_between("2024-01-01", "2024-12-31", bar_size)
        assert len(bars) == calendar.annualisation(bar_size, "2024", "2024").bars_per_year
        assert all(a.close < b.close for a, b in zip(bars, bars[1:], strict=False))


def test_bar_labels_are_the_rows_the_resampler_makes():
    """A step's bar must be a row of its feed's Bars: the same start, the same short last bin."""
    day = "2024-11-29"
    stamps = pd.date_range(f"{day} 09:30", f"{day} 12:59", freq="1min", tz=NY)
    rows = pd.DataFrame({"timestamp": stamps, "symbol": "AAA", "open": 1.0, "high": 1.0,
                         "low": 1.0, "close": 1.0, "volume": 1.0})  # fmt: skip
    for bar_size in ("5m", "30m", "1h"):
        built = resample(rows, bar_size)
        assert list(built["timestamp"]) == [b.label for b in session_bars(day, bar_size)]
    assert session_bars(day, "1d")[0].label == pd.Timestamp(day)


class FakeTime:
    def __init__(self, start):
        self.now = pd.Timestamp(start).tz_convert("UTC").tz_localize(None).to_pydatetime()

    def sleep(self, seconds):
        self.now += timedelta(seconds=seconds)


def test_an_intraday_market_clock_steps_each_bar_a_few_seconds_after_its_close():
    time = FakeTime(ny("2024-03-12 10:02"))
    clock = MarketClock(bar_size="5m", delay=timedelta(seconds=5), now=lambda: time.now,
                        sleep=time.sleep)  # fmt: skip
    bar = clock.next_bar(None)
    assert bar.close == ny("2024-03-12 10:05")
    assert clock.bar_due(bar) == datetime(2024, 3, 12, 14, 5, 5)  # UTC, EDT
    ticks = []
    clock.wait_until(clock.bar_due(bar), tick=30, on_tick=lambda: ticks.append(time.now))
    assert time.now == clock.bar_due(bar) and len(ticks) == 7  # 3 min 5 s in 30 s ticks
    # Just before that bar's step is due it is still the one to step; just after, the next.
    time.now = clock.bar_due(bar) - timedelta(seconds=1)
    assert clock.next_bar(None) == bar
    time.now = clock.bar_due(bar) + timedelta(seconds=1)
    assert clock.next_bar(None).close == ny("2024-03-12 10:10")


def test_an_intraday_clock_does_not_step_bars_whose_moment_has_passed():
    time = FakeTime(ny("2024-03-12 10:21"))
    clock = MarketClock(bar_size="5m", now=lambda: time.now)
    done = session_bars("2024-03-12", "5m")[5]  # 9:55-10:00
    assert clock.next_bar(done).close == ny("2024-03-12 10:25")
    time.now = datetime(2024, 3, 12, 14, 1)  # 10:01: the loop is on time
    assert clock.next_bar(done).close == ny("2024-03-12 10:05")


def test_a_daily_market_clock_keeps_its_sessions_and_times():
    time = FakeTime(ny("2024-11-27 18:00"))
    clock = MarketClock(now=lambda: time.now)
    today = clock.next_bar(None)
    assert today.session == date(2024, 11, 27) and today.bar_size == "1d"
    assert clock.bar_due(today) == clock.due(date(2024, 11, 27))
    after = clock.next_bar(today)
    assert after.session == date(2024, 11, 29) and after.close == ny("2024-11-29 13:00")


def test_a_replay_clock_stands_just_after_each_bar():
    clock = ReplayClock(delay=timedelta(seconds=5))
    intraday = session_bars("2024-03-12", "15m")[3]
    assert clock.at_bar(intraday) == datetime(2024, 3, 12, 14, 30, 5)
    daily = session_bars("2024-03-12", "1d")[0]
    assert clock.at_bar(daily) == clock.at(date(2024, 3, 12)) == session_close(
        date(2024, 3, 12)
    ) + ReplayClock.AFTER_CLOSE
    assert clock.now() == clock.at(date(2024, 3, 12))


# -- which session an entry would fill in ------------------------------------------------


@pytest.mark.parametrize(
    "bar, sent, policy, refused",
    [
        pytest.param(("2024-03-12", "5m", 10), "2024-03-12 10:25:05", "refuse", None,
                     id="in-session"),
        pytest.param(("2024-03-12", "5m", -1), "2024-03-12 16:00:05", "refuse",
                     "session's last bar", id="last-bar-refused"),
        pytest.param(("2024-03-12", "5m", -1), "2024-03-12 16:00:05", "next_open", None,
                     id="last-bar-to-the-next-open"),
        pytest.param(("2024-11-29", "1h", -1), "2024-11-29 13:00:05", "refuse",
                     "the open of Mon 2024-12-02", id="early-close-last-hour"),
        pytest.param(("2024-03-12", "5m", 70), "2024-03-12 16:02", "next_open",
                     "after the session closed", id="a-late-step"),
        pytest.param(("2024-03-12", "1d", 0), "2024-03-12 16:20", "refuse", None, id="daily"),
    ],
)  # fmt: skip
def test_an_intraday_entry_fills_in_its_session_or_the_config_says_what_happens(
    bar, sent, policy, refused
):
    day, bar_size, nth = bar
    reason = entry_refusal(session_bars(day, bar_size)[nth], ny(sent), policy)
    if refused is None:
        assert reason is None
    else:
        assert refused in reason


@pytest.mark.parametrize("bar_size", ["5m", "15m", "1h"])
@pytest.mark.parametrize("minutes", [0, 5, 30, 45, 200])
def test_the_loops_flat_bar_is_the_backtests_on_every_kind_of_session(bar_size, minutes):
    # The Monday after a DST change, the early close of July 3rd, the eve of Thanksgiving
    # and the early close after it.
    days = ["2024-03-11", "2024-07-03", "2024-11-27", "2024-11-29"]
    bars = [b for day in days for b in session_bars(day, bar_size)]
    index = pd.DatetimeIndex([b.start for b in bars], name="timestamp").as_unit("ns")
    frame = pd.DataFrame(1.0, index=index, columns=["AAA"])
    sold_at, barred = flat_bars(Bars(frame, frame, frame, frame, frame, bar_size=bar_size),
                                minutes)  # fmt: skip

    for day in days:
        expected = [b for b, at in zip(bars, sold_at, strict=True) if at and str(b.session) == day]
        assert [flat_bar(date.fromisoformat(day), bar_size, minutes)] == (expected or [None])
    # Due on the bars whose entries would fill on a bar the backtest bars entries from.
    for k, bar in enumerate(bars[:-1]):
        if not bar.last:
            assert flat_due(bar, minutes) == bool(barred[k + 1]), bar
