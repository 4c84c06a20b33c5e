"""Day-trade figures: counted per book, and the most in any five sessions, as the rule counts them."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backtest import day_trades
from engine.risk.limits import PDT_WINDOW_SESSIONS


def test_the_window_is_the_pattern_day_trader_rules():
    assert day_trades.PDT_WINDOW_SESSIONS == PDT_WINDOW_SESSIONS == 5


trades = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 30), st.integers(0, 2), st.booleans()),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(trades)
def test_day_trades_are_counted_as_a_trader_would_count_them(rows):
    """Against the plain reading: for each book, each window of 5 sessions, count."""
    book = np.array([r[0] for r in rows], dtype=np.int64)
    entry = np.array([r[1] for r in rows], dtype=np.int64)
    exit_ = entry + np.array([r[2] for r in rows], dtype=np.int64)  # held 0-2 sessions
    closed = np.array([r[3] for r in rows], dtype=bool)
    counts, most = day_trades.day_trade_figures(book, entry, exit_, closed, n_books=3)

    for b in range(3):
        sessions = [e for bk, e, x, c in zip(book, entry, exit_, closed, strict=True)
                    if bk == b and c and e == x]  # fmt: skip
        assert counts[b] == len(sessions)
        windows = [sum(start <= s < start + 5 for s in sessions) for start in range(-4, 35)]
        assert most[b] == max(windows)
