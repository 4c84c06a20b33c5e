"""An intraday loop end to end: a 5-minute config replayed on the paper broker over the
SYNTHETIC intraday sample, stepping every bar close of the calendar (a holiday and an
early close), its orders filling at the next bar's open within the session, a restart
resuming at the next bar, and an entry signalled on a session's last bar judged by the
session it would execute in."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.data.repository import load_bars
from engine.live import ids
from engine.live.clock import bars_between
from engine.live.runner import run_replay
from engine.strategies import compute_signals
from tests.live.conftest import allow_replay, approve, open_replay

SYMBOLS = ["AAPL", "F", "GE"]
PARAMS = {"entry_window": 6, "exit_window": 3, "atr_window": 6}
NEW_YORK = "America/New_York"


def approve_intraday(store, **settings):
    store.config = approve(store, "donchian_breakout", PARAMS, SYMBOLS, bar_size="5m",
                           size="fraction", fraction=0.3, max_positions=3, **settings)  # fmt: skip
    allow_replay(store)
    return store.config


def paper_fills(store) -> pd.DataFrame:
    return store.query("SELECT client_order_id, symbol, side, price, filled_at FROM paper_fills")


def decided(cid: str) -> ids.Decision | None:
    decision = ids.parse_decision_id(cid)
    return decision if decision and decision.action in ("buy", "sell") else None


def test_an_intraday_config_replays_every_bar_close_and_fills_at_the_next_bars_open(
    intraday_store,
):
    config = approve_intraday(intraday_store)
    start, end = "2013-11-27", "2013-11-29"  # Thanksgiving between, then a 13:00 early close
    first = open_replay(intraday_store, start=start, end=end)
    # Stopped after 50 bars (mid-session), then started again: it resumes at the next bar.
    before = run_replay(first.loop, first.days[:50])
    again = open_replay(intraday_store, start=start, end=end)
    after = run_replay(again.loop, again.days)
    assert after[0].bar == first.days[50]

    # One step per bar close of the calendar: 78 five-minute bars on the 27th, none on
    # Thanksgiving, 42 on the early close, the last closing at 13:00.
    reports = [*before, *after]
    assert [r.bar for r in reports] == bars_between(start, end, "5m")
    assert len(reports) == 78 + 42 and not any(r.skipped for r in reports)
    assert f"{reports[-1].bar.close:%Y-%m-%d %H:%M}" == "2013-11-29 13:00"

    # Each strategy order is named by its 5-minute bar and fills at the open of the bar
    # after it (the one starting at its close), in the same session, at that bar's
    # traded open plus slippage.
    fills = paper_fills(intraday_store)
    assert fills.client_order_id.is_unique
    traded = load_bars(intraday_store, SYMBOLS, start, end, bar_size="5m", adjust=False)
    strategy_fills = [f for f in fills.itertuples() if decided(f.client_order_id)]
    assert len(strategy_fills) >= 4 and {f.side for f in strategy_fills} == {"buy", "sell"}
    for fill in strategy_fills:
        decision = decided(fill.client_order_id)
        bar_start = pd.Timestamp(decision.decided_at).tz_localize("UTC").tz_convert(NEW_YORK)
        assert bar_start.date() == decision.bar  # within the session it was decided in
        assert pd.Timestamp(fill.filled_at).tz_localize("UTC") == bar_start
        slip = config.settings.slippage * (1 if fill.side == "buy" else -1)
        assert fill.price == pytest.approx(traded.open.loc[bar_start, fill.symbol] * (1 + slip))

    # The book remembers the last bar it stepped, not only its session.
    book = intraday_store.query("SELECT bar_date, bar_at FROM live_books WHERE book = ?",
                                [again.loop.book])  # fmt: skip
    assert f"{book.bar_date[0]:%Y-%m-%d} {pd.Timestamp(book.bar_at[0]):%H:%M}" == "2013-11-29 18:00"


def _last_bar_entry(store) -> pd.Timestamp:
    """The start of a session's last 5-minute bar on which the config signals an entry."""
    bars = load_bars(store, SYMBOLS, "2013-10-01", "2013-11-27", bar_size="5m")
    signals = compute_signals("donchian_breakout", bars, PARAMS)
    times = bars.index.tz_convert(NEW_YORK)
    last = (times.hour == 15) & (times.minute == 55)
    found = np.flatnonzero(signals.entries.any(axis=1).to_numpy() & last)
    assert len(found), "no entry on a last bar in the sample: pick other parameters"
    return bars.index[found[0]]


@pytest.mark.parametrize("last_bar_entries", ["refuse", "next_open"])
def test_an_entry_on_the_sessions_last_bar_is_judged_by_the_session_it_would_fill_in(
    intraday_store, last_bar_entries
):
    approve_intraday(intraday_store, last_bar_entries=last_bar_entries)
    signal = _last_bar_entry(intraday_store)
    opened = open_replay(intraday_store, start="2013-10-01", end="2013-11-27")
    at = next(i for i, bar in enumerate(opened.days) if bar.start == signal)
    run_replay(opened.loop, opened.days[at : at + 2])  # the last bar, the next session's first

    denied = intraday_store.query("SELECT payload FROM events WHERE kind = 'order.denied'")
    by_session = [p for p in map(json.loads, denied.payload) if p["rule"] == "session"]
    buys = [f for f in paper_fills(intraday_store).itertuples()
            if (d := decided(f.client_order_id)) and d.action == "buy" and d.at == "1600"]  # fmt: skip
    if last_bar_entries == "refuse":
        assert by_session and not buys
        assert "session's last bar" in by_session[0]["reason"]
        assert "last_bar_entries: refuse" in by_session[0]["reason"]
    else:
        # Sent after the close, it fills at the next session's open, through the gap.
        assert buys and not by_session
        filled_at = pd.Timestamp(buys[0].filled_at).tz_localize("UTC").tz_convert(NEW_YORK)
        assert filled_at.date() > signal.date() and f"{filled_at:%H:%M}" == "09:30"
