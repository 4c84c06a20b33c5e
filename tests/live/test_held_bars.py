"""The bars the Alpaca feed holds between steps (arrays, not long rows): a corrected bar
replaces the one held, a symbol with no bar yet is NaN, a window handed out stays as it was."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.bars import INTRADAY_COLUMNS, LONG_COLUMNS, Bars
from engine.live.alpaca_feed import HeldBars
from engine.live.clock import session_bars
from engine.live.feed import through

DAY = "2024-03-12"
SYMBOLS = ["AAA", "BBB", "CCC"]


def bars_of(bar_size: str = "1m", day: str = DAY):
    return session_bars(day, bar_size)


def rows(bars, symbols, seed: int = 0, *, split: float = 1.0) -> pd.DataFrame:
    """One long row per bar and symbol; ``split`` scales adj_close (history adjusted)."""
    rng = np.random.default_rng(seed)
    records = []
    for bar in bars:
        for symbol in symbols:
            close = float(rng.uniform(10, 20))
            records.append((bar.label, symbol, close - 0.1, close + 0.2, close - 0.3, close,
                            float(rng.integers(100, 1000)), close / split))  # fmt: skip
    daily = bars and bars[0].bar_size == "1d"
    return pd.DataFrame(records, columns=LONG_COLUMNS if daily else INTRADAY_COLUMNS)


def expected(seen: list[pd.DataFrame], bar, lookback: int, symbols=SYMBOLS) -> Bars:
    """What the feed held before it kept arrays: every row seen, the last of each bar and
    symbol, built wide by Bars.from_long, every symbol a column, the last lookback to bar."""
    when = "date" if bar.bar_size == "1d" else "timestamp"
    both = pd.concat(seen, ignore_index=True).drop_duplicates([when, "symbol"], keep="last")
    both = both[both[when] <= bar.label]
    wide = Bars.from_long(both, bar_size=bar.bar_size, sources=("alpaca",))
    wide = wide.with_frames(**{f: getattr(wide, f).reindex(columns=symbols)
                               for f in ("open", "high", "low", "close", "volume")})  # fmt: skip
    return through(wide, bar, lookback)


def assert_same(window: Bars, want: Bars) -> None:
    assert list(window.symbols) == list(want.symbols)
    assert window.sources == want.sources and window.bar_size == want.bar_size
    for field in ("open", "high", "low", "close", "volume"):
        pd.testing.assert_frame_equal(getattr(window, field), getattr(want, field),
                                      check_freq=False, check_index_type=False)  # fmt: skip


def test_a_corrected_bar_replaces_the_one_held():
    minutes = bars_of()[:10]
    held = HeldBars(SYMBOLS, "1m", 5, "alpaca")
    first = rows(minutes, SYMBOLS, seed=1)
    held.add(first)
    corrected = first[first["timestamp"] == minutes[8].label].assign(close=99.0, adj_close=99.0)
    held.add(corrected)

    window = held.window(minutes[9])
    assert (window.close.loc[minutes[8].label] == 99.0).all()  # the source's correction, once
    assert len(window) == 5 and window.index[-1] == minutes[9].label
    assert_same(window, expected([first, corrected], minutes[9], 5))


def test_a_symbol_with_no_bar_yet_is_a_column_of_nan_and_has_not_arrived():
    minutes = bars_of()[:4]
    held = HeldBars(SYMBOLS, "1m", 10, "alpaca")
    held.add(rows(minutes, ["AAA", "BBB"], seed=2))

    window = held.window(minutes[-1])
    assert list(window.symbols) == SYMBOLS
    assert window.close["CCC"].isna().all()  # never guessed
    assert held.arrived(minutes[-1]) == {"AAA", "BBB"}
    late = rows(minutes[-1:], ["CCC"], seed=3)
    held.add(late)  # CCC's bar comes late, at a bar already held
    assert held.arrived(minutes[-1]) == set(SYMBOLS)
    assert held.window(minutes[-1]).close["CCC"].iloc[-1] == late["close"].iloc[0]


def test_a_window_handed_out_stays_as_it_was_after_later_adds_and_corrections():
    minutes = bars_of()[:40]
    held = HeldBars(SYMBOLS, "1m", 8, "alpaca")
    held.add(rows(minutes[:10], SYMBOLS, seed=4))
    window = held.window(minutes[9])
    before = {f: getattr(window, f).copy() for f in ("open", "close", "volume")}

    changed = rows(minutes[5:10], SYMBOLS, seed=5)  # every bar of the window corrected
    held.add(changed)
    for i in range(10, 40):  # and the buffer filled and moved on
        held.add(rows(minutes[i : i + 1], SYMBOLS, seed=i))
        held.window(minutes[i])

    for field, frame in before.items():
        pd.testing.assert_frame_equal(getattr(window, field), frame)
    with pytest.raises(ValueError):  # nobody can write through a window either
        window.close.iloc[0, 0] = 0.0


def test_nothing_held_up_to_the_bar_is_an_empty_window_with_every_symbol():
    minutes = bars_of()[:3]
    held = HeldBars(SYMBOLS, "1m", 10, "alpaca")
    assert held.newest() is None and held.arrived(minutes[0]) == set()
    window = held.window(minutes[0])
    assert len(window) == 0 and list(window.symbols) == SYMBOLS
    held.add(rows(minutes[1:], SYMBOLS))
    assert len(held.window(minutes[0])) == 0
    assert held.newest() == minutes[-1].label


@pytest.mark.parametrize("bar_size", ["1m", "5m", "1d"])
def test_any_order_of_adds_gives_what_long_rows_gave(bar_size):
    """Adds as the feeds make them, and worse: history adjusted for a split, a session's
    bars as traded, the last bar sent again (changed or not), a late symbol, a bar older
    than the newest, a symbol not followed, a bar twice in one add."""
    if bar_size == "1d":
        sessions = pd.bdate_range("2024-01-02", "2024-03-12")
        bars = [b for d in sessions for b in session_bars(d.date(), "1d")]
    else:
        bars = [b for d in ("2024-03-08", "2024-03-11", DAY) for b in session_bars(d, bar_size)]
    rng = np.random.default_rng(11)
    lookback = 25
    held = HeldBars(SYMBOLS, bar_size, lookback, "alpaca")
    history = rows(bars[:30], SYMBOLS + ["ZZZ"], seed=1, split=4.0)
    held.reset(history)
    seen, last = [history], history.iloc[-3:]
    for i in range(30, min(len(bars), 90)):
        batch = [rows(bars[i : i + 1], [s for s in SYMBOLS if rng.random() < 0.8], seed=i)]
        if rng.random() < 0.5:  # the last bar again: as it was, or corrected
            batch.append(last if rng.random() < 0.5 else rows(bars[i - 1 : i], SYMBOLS, seed=5000 + i))
        if rng.random() < 0.2:
            older = int(rng.integers(i - lookback + 1, i))
            batch.append(rows(bars[older : older + 1], ["CCC"], seed=1000 + i))
        if rng.random() < 0.2:
            batch.append(batch[0].iloc[:1].assign(close=1.0, adj_close=1.0))
        add, last = pd.concat(batch, ignore_index=True), batch[0]
        held.add(add)
        seen.append(add)
        window = held.window(bars[i])
        assert_same(window, expected(seen, bars[i], lookback))
        assert held.arrived(bars[i]) == set(add.loc[add["timestamp" if bar_size != "1d" else "date"]
                                                    == bars[i].label, "symbol"]) - {"ZZZ"}  # fmt: skip
