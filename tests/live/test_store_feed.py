"""The store feed reads a step's bars once, and never serves a read older than the bar asked for."""

import pandas as pd
import pytest

from engine.data import calendar
from engine.data.repository import load_bars, load_bars_both
from engine.live import feed as feed_module
from engine.live.feed import StoreFeed, ends_at

SYMBOLS = ["AAPL", "GE"]


def _counted(monkeypatch) -> list:
    """The whole reads of a window the feed makes from now on (a step that extends its
    kept window by the bars stored since reads none)."""
    reads = []
    real = feed_module.read_daily_arrays

    def counting(*args, **kwargs):
        reads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(feed_module, "read_daily_arrays", counting)
    return reads


def test_a_step_reads_its_bars_once_adjusted_and_as_traded(sample_store, monkeypatch):
    feed = StoreFeed(sample_store, SYMBOLS, lookback=60)
    day = feed.latest()
    reads = _counted(monkeypatch)
    window = feed.window(day)
    traded = feed.traded(day)
    assert len(reads) == 1
    assert ends_at(window, day) and ends_at(traded, day)
    # as traded: the stored prices, not the split- and dividend-adjusted ones
    stored = load_bars(sample_store, SYMBOLS, window.index[0], day, adjust=False)
    assert traded.close.equals(stored.close)
    assert not traded.close.equals(window.close)
    # Asked again: read again, never an old read served twice (a bar changed since is seen).
    sample_store.execute(
        "UPDATE bars SET close = close + 1, ingested_at = now() WHERE symbol = 'GE' AND date = ?",
        [day],
    )
    assert feed.traded(day).close["GE"].iloc[-1] == traded.close["GE"].iloc[-1] + 1


def test_a_bar_that_arrives_after_a_stale_window_is_seen(sample_store, monkeypatch):
    feed = StoreFeed(sample_store, SYMBOLS, lookback=60)
    day = feed.latest()
    late = sample_store.query("SELECT * FROM bars WHERE date = ?", [day])
    sample_store.execute("DELETE FROM bars WHERE date = ?", [day])
    assert not ends_at(feed.window(day), day)  # the step skips: its bar has not come

    def arrive(con):
        con.register("late", late)
        con.execute("INSERT INTO bars SELECT * FROM late")

    sample_store.transaction(arrive)
    assert ends_at(feed.traded(day), day)
    assert ends_at(feed.window(day), day)


def _whole(store, day, lookback: int):
    """The window a step at ``day`` sees, read whole from the store (adjusted, as traded)."""
    start = pd.Timestamp(day) - pd.Timedelta(days=int(lookback * feed_module.DAYS_PER_BAR) + 10)
    both = load_bars_both(store, SYMBOLS, start, day)
    return tuple(b.iloc(slice(max(len(b) - lookback, 0), None)) for b in both)


def test_each_step_extends_the_kept_window_to_exactly_what_a_whole_read_gives(
    sample_store, monkeypatch
):
    feed = StoreFeed(sample_store, SYMBOLS, lookback=60)
    days = [d.date() for d in calendar.sessions("2012-03-01", "2012-05-31")]
    reads = _counted(monkeypatch)
    for i, day in enumerate(days):
        if i == 30:  # a bar inside the window ingested again (new prices): seen at once
            sample_store.execute(
                "UPDATE bars SET adj_close = adj_close * 0.9, ingested_at = now()"
                " WHERE symbol = 'AAPL' AND date = ?",
                [days[20]],
            )
        if i == 40:  # a bar that came late, inside the window
            gone = sample_store.query("SELECT * FROM bars WHERE symbol = 'GE' AND date = ?",
                                      [days[38]])  # fmt: skip
            sample_store.execute("DELETE FROM bars WHERE symbol = 'GE' AND date = ?", [days[38]])
        if i == 42:
            sample_store.transaction(
                lambda con, late=gone: con.register("gone", late).execute(
                    "INSERT INTO bars SELECT * FROM gone"
                )
            )
        window, traded = feed.window(day), feed.traded(day)
        whole = _whole(sample_store, day, 60)
        for got, want in zip((window, traded), whole, strict=True):
            for field in ("open", "high", "low", "close", "volume"):
                pd.testing.assert_frame_equal(getattr(got, field), getattr(want, field))
    # The first step, and each step after the store changed under the window, read whole.
    assert len(reads) == 4


def _same_as_whole(store, feed, day, lookback: int = 60) -> None:
    """The feed's window at ``day``, adjusted and as traded, is what a whole read gives."""
    window, traded = feed.window(day), feed.traded(day)
    for got, want in zip((window, traded), _whole(store, day, lookback), strict=True):
        for field in ("open", "high", "low", "close", "volume"):
            pd.testing.assert_frame_equal(getattr(got, field), getattr(want, field))


def test_a_bar_corrected_after_the_feed_read_past_it_is_seen_when_its_day_comes(
    sample_store, monkeypatch
):
    # A replay of stored days: the feed reads the days after its bar ahead, once.
    feed = StoreFeed(sample_store, SYMBOLS, lookback=60)
    days = [d.date() for d in calendar.sessions("2012-03-01", "2012-04-30")]
    for day in days[:5]:
        _same_as_whole(sample_store, feed, day)
    reads = _counted(monkeypatch)
    sample_store.execute(
        "UPDATE bars SET close = close * 1.1, ingested_at = now() WHERE symbol = 'GE' AND date = ?",
        [days[8]],
    )
    for day in days[5:12]:
        _same_as_whole(sample_store, feed, day)
    assert len(reads) == 1  # the correction of a bar it held: read whole once
    assert feed.traded(days[8]).close["GE"].iloc[-1] == pytest.approx(
        load_bars(sample_store, ["GE"], days[8], days[8], adjust=False).close["GE"].iloc[0]
    )


def test_each_evening_s_new_bars_extend_the_window_without_reading_it_whole(
    sample_store, monkeypatch
):
    # Paper trading: the refresh job stores each day's bars after the close, then the step reads.
    days = [d.date() for d in calendar.sessions("2012-05-01", "2012-05-31")]
    later = sample_store.query("SELECT * FROM bars WHERE date >= ?", [days[1]])
    sample_store.execute("DELETE FROM bars WHERE date >= ?", [days[1]])
    feed = StoreFeed(sample_store, SYMBOLS, lookback=60)
    _same_as_whole(sample_store, feed, days[0])
    reads = _counted(monkeypatch)
    for day in days[1:]:
        evening = later[later["date"] == pd.Timestamp(day)].assign(ingested_at=pd.Timestamp.now())
        sample_store.transaction(
            lambda con, rows=evening: con.register("evening", rows).execute(
                "INSERT INTO bars SELECT * FROM evening"
            )
        )
        _same_as_whole(sample_store, feed, day)
    assert reads == []


def test_a_split_that_re_adjusts_the_history_re_adjusts_the_whole_window(sample_store):
    feed = StoreFeed(sample_store, SYMBOLS, lookback=60)
    days = [d.date() for d in calendar.sessions("2012-05-01", "2012-05-31")]
    before = feed.window(days[0])
    # The source's history again after a 4-for-1 split on days[1]: every earlier adjusted
    # close a quarter of what it was (the traded prices as they were).
    sample_store.execute(
        "UPDATE bars SET adj_close = adj_close / 4, ingested_at = now()"
        " WHERE symbol = 'AAPL' AND date < ?",
        [days[1]],
    )
    after = feed.window(days[1])
    _same_as_whole(sample_store, feed, days[1])
    shared = before.index.intersection(after.index)
    ratio = after.close.loc[shared, "AAPL"] / before.close.loc[shared, "AAPL"]
    assert ratio.to_numpy() == pytest.approx(0.25)
    pd.testing.assert_series_equal(after.close.loc[shared, "GE"], before.close.loc[shared, "GE"])


def test_a_window_handed_out_stays_what_it_was_while_the_feed_steps_on(sample_store):
    feed = StoreFeed(sample_store, SYMBOLS, lookback=20)
    days = [d.date() for d in calendar.sessions("2012-03-01", "2012-08-31")]
    first = feed.window(days[0])
    copy = first.close.copy()
    for day in days[1:]:  # enough steps that the feed's arrays fill and move
        feed.window(day)
    pd.testing.assert_frame_equal(first.close, copy)
    with pytest.raises(ValueError, match="read-only"):  # a step cannot change the feed's bars
        first.close.iloc[0, 0] = 0.0
    mine = first.select(SYMBOLS)  # bars of its own: a write copies
    mine.close.iloc[0, 0] = 0.0
    pd.testing.assert_frame_equal(first.close, copy)
