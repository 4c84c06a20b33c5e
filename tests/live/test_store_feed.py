"""The store feed reads a step's bars once, and never serves a read older than the bar asked for."""

from engine.data.repository import load_bars
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
    feed.traded(day)  # asked again: read again, never an old read served twice
    assert len(reads) == 2


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
