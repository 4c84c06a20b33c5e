"""The store feed reads a step's bars once, and never serves a read older than the bar asked for."""

import pandas as pd

from engine.data import calendar
from engine.data.repository import load_bars, load_bars_both
from engine.live import feed as feed_module
from engine.live.feed import StoreFeed, ends_at

SYMBOLS = ["AAPL", "GE"]


def _counted(monkeypatch) -> list:
    reads = []
    real = feed_module.load_bars_both

    def counting(*args, **kwargs):
        reads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(feed_module, "load_bars_both", counting)
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
