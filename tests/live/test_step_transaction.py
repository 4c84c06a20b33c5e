"""A step on the paper broker is one transaction: the broker's bar, cancels and submits and
the loop's record commit together, or not at all.

Real processes (`wb live --mode replay`, the paper broker in the store file) are killed
with SIGKILL right after each of the writes that used to commit one by one (the bar, the
cancels, the submits, the record before its commit): the store then holds neither part of
the step (the broker is never a bar ahead of the book), and the loop started again ends
with an uninterrupted run's orders, fills and positions. In this process, a step that fails
after the broker took its bar leaves the store and what the broker and the loop keep in
memory as they were, and the step run again carries on as if nothing had happened.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engine.brokers import OrderRequest, PaperBroker
from engine.brokers._paper_memory import load
from engine.data.bar_sizes import MINUTES
from engine.errors import OperatorError, StoreBusyError
from engine.live.loop import LiveLoop
from engine.live.runner import run_replay, step_with_retries
from engine.live.setup import open_loop
from engine.store import Store, read_events
from engine.store.db import DB_FILE
from tests.live.conftest import allow_replay, approve, approve_donchian, open_replay
from tests.live.test_crash_safety import ENV, _assert_book_is, _book
from tests.live.test_kept_books import kept_and_fresh

pytestmark = pytest.mark.slow  # real processes: run early (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
#: Where a step used to commit, and the how-manyth such write of the replay dies there.
POINTS = {"bar": 3, "cancel": 2, "submit": 3, "record": 4}


def _replay_args(data_dir: Path, config, start: str, end: str) -> list[str]:
    return ["--data-dir", str(data_dir), "live", "--config", config.config_id, "--start", start,
            "--end", end, "--no-progress"]  # fmt: skip


def _stepped_together(data_dir: Path, account: str, bar_size: str) -> tuple:
    """(the bar the paper account last took, the bar the loop's book last recorded), each as
    its session and its close (None for a daily bar)."""
    store = Store.open(data_dir)
    ((session, start),) = store.rows(
        "SELECT last_bar_date, last_bar_at FROM paper_accounts WHERE account = ?", [account]
    )
    if start is not None:  # the account keeps a bar's start, the book its close
        start += pd.Timedelta(minutes=MINUTES[bar_size])
    book = store.rows(
        "SELECT bar_date, bar_at FROM live_books WHERE book = ?", [f"paper:{account}"]
    )
    return (session, start), (book[0] if book else (None, None))


def _kill_at_each_point(data_dir: Path, config, start: str, end: str, tmp_path: Path) -> None:
    """For each of :data:`POINTS`: a copy of ``data_dir`` replayed by a process that dies
    there, whose store holds neither part of the step it died in, then replayed to the
    end; its book must be the uninterrupted replay's."""
    pristine = tmp_path / "pristine"
    pristine.mkdir()
    shutil.copy(data_dir / DB_FILE, pristine / DB_FILE)
    reference = open_loop(Store.open(data_dir), mode="replay", config_ids=[config.config_id],
                          start=start, end=end)  # fmt: skip
    run_replay(reference.loop, reference.days)
    account = reference.loop.broker.account_name
    _, _, want_orders, want_fills = _book(data_dir, account)
    assert len(want_fills) > 4, "the replay should trade"

    for point, nth in POINTS.items():
        crashed = tmp_path / point
        crashed.mkdir()
        shutil.copy(pristine / DB_FILE, crashed / DB_FILE)
        args = _replay_args(crashed, config, start, end)
        killed = subprocess.run(
            [sys.executable, "-m", "tests.live.crash_point", point, str(nth), *args],
            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert killed.returncode == -9, f"{point}: not killed there\n{killed.stderr[-2000:]}"
        broker_bar, book_bar = _stepped_together(crashed, account, config.bar_size)
        # The step it died in left nothing: the broker is not a bar ahead of the book.
        assert broker_bar == book_bar, f"killed after the {point}: {broker_bar} != {book_bar}"

        again = subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=ENV,
                               capture_output=True, text=True, timeout=300)  # fmt: skip
        assert again.returncode == 0, again.stderr[-2000:]
        store, broker, orders, fills = _book(crashed, account)
        # No order twice, none lost: exactly the uninterrupted run's orders and fills.
        assert orders["client_order_id"].is_unique
        pd.testing.assert_frame_equal(orders, want_orders, obj=f"orders, killed at {point}")
        pd.testing.assert_frame_equal(fills, want_fills, obj=f"fills, killed at {point}")
        _assert_book_is(store, f"paper:{account}", {p.symbol: p.qty for p in broker.positions()})


def test_a_daily_step_killed_between_its_writes_leaves_neither_and_restarts_cleanly(
    sample_store, data_dir, tmp_path
):
    config = approve_donchian(sample_store)
    allow_replay(sample_store)
    _kill_at_each_point(data_dir, config, "2012-02-01", "2012-03-16", tmp_path)


def test_an_intraday_step_killed_between_its_writes_leaves_neither_and_restarts_cleanly(
    intraday_store, data_dir, tmp_path
):
    config = approve(
        intraday_store, "donchian_breakout", {"entry_window": 6, "exit_window": 3, "atr_window": 6},
        ["AAPL", "F", "GE"], bar_size="5m", stop="strategy", size="fraction", fraction=0.3,
        max_positions=3, trailing_stop=True,
    )  # fmt: skip
    allow_replay(intraday_store)
    _kill_at_each_point(data_dir, config, "2013-11-27", "2013-11-29", tmp_path)


def _stored(store: Store, account: str) -> dict[str, pd.DataFrame]:
    """Everything a step writes, as the store holds it."""
    book = f"paper:{account}"
    tables = {
        "paper_accounts": ("account", account), "paper_orders": ("account", account),
        "paper_fills": ("account", account), "live_orders": ("book", book),
        "live_positions": ("book", book), "live_books": ("book", book),
    }  # fmt: skip
    stored = {
        name: store.query(f"SELECT * FROM {name} WHERE {key} = ? ORDER BY ALL", [value])
        for name, (key, value) in tables.items()
    }
    stored["events"] = store.query("SELECT kind, subject, payload FROM events ORDER BY id")
    stored["equity"] = store.query("SELECT * FROM equity_snapshots ORDER BY ALL")
    return stored


def _kept_is_the_store(broker, store: Store) -> bool:
    """True when the paper account the broker keeps (if any) is the store's, field by field."""
    kept = broker._kept
    if kept is None:
        return True  # dropped: read again at its next use
    with store.connect() as con:
        fresh = load(con, broker.account_name, broker.starting_cash)
    fields = ("generation", "cash", "held", "book", "marks", "last_bar", "last_bar_at", "open",
              "client_ids", "applied")  # fmt: skip
    return all(getattr(kept, f) == getattr(fresh, f) for f in fields)


def test_a_step_failing_after_the_bar_leaves_store_and_memory_as_before_and_runs_again(
    replay_store, data_dir, tmp_path, monkeypatch
):
    twin = tmp_path / "uninterrupted"
    twin.mkdir()
    shutil.copy(data_dir / DB_FILE, twin / DB_FILE)
    opened = open_replay(replay_store, start="2012-01-03", end="2012-03-30")
    loop, broker = opened.loop, opened.loop.broker
    account, book = broker.account_name, opened.loop.book

    # Each step fails once: before its record (after the broker's bar, cancels and
    # submits) or after the record's writes, in turn; then runs again.
    record = LiveLoop._record_step
    failing = [None]

    def failing_record(self, *args, **kwargs):
        where, failing[0] = failing[0], None
        if where == "before":
            raise StoreBusyError("the store stayed locked")
        record(self, *args, **kwargs)
        if where == "after":
            raise StoreBusyError("the store stayed locked")

    monkeypatch.setattr(LiveLoop, "_record_step", failing_record)
    undone = 0  # failed steps whose bar had filled orders
    with replay_store.hold():
        loop.start(opened.days[0])
        for number, day in enumerate(opened.days):
            before = _stored(replay_store, account)
            held = {p.symbol: p.qty for p in broker.positions()}
            resting = sorted(o.client_order_id for o in broker.orders("open"))
            failing[0] = ("before", "after")[number % 2]
            with pytest.raises(StoreBusyError):
                loop.step(day)
            # The bar, the cancels, the orders and the record: none of it stored ...
            after = _stored(replay_store, account)
            for name, frame in before.items():
                pd.testing.assert_frame_equal(after[name], frame, obj=f"{name} after {day}")
            # ... nor kept: the broker's account and the loop's books are the store's.
            assert _kept_is_the_store(broker, replay_store)
            assert {p.symbol: p.qty for p in broker.positions()} == held
            assert sorted(o.client_order_id for o in broker.orders("open")) == resting
            kept, fresh = kept_and_fresh(loop, replay_store)
            assert kept == fresh and loop.last_bar != day
            # Run again (as the runner does), the step carries on.
            step_with_retries(loop, day, sleep=lambda seconds: None)
            assert loop.last_bar == day
            filled = _stored(replay_store, account)["paper_fills"]
            undone += len(filled) > len(before["paper_fills"])
        loop.stop("replay finished")
    assert undone >= 5, "some failed steps should have filled orders at their bar"

    uninterrupted = Store.open(twin)
    uninterrupted.config = replay_store.config
    reference = open_replay(uninterrupted, start="2012-01-03", end="2012-03-30")
    run_replay(reference.loop, reference.days)
    positions = []
    for directory in (data_dir, twin):
        store, broker_of, orders, fills = _book(directory, account)
        held = {p.symbol: p.qty for p in broker_of.positions()}
        _assert_book_is(store, book, held)
        positions.append((orders, fills, held))
    (orders, fills, held), (want_orders, want_fills, want_held) = positions
    assert len(want_fills) > 6, "the replay should trade"
    pd.testing.assert_frame_equal(orders, want_orders)
    pd.testing.assert_frame_equal(fills, want_fills)
    assert held == want_held


def test_a_step_refused_on_a_difference_rolls_back_and_still_says_why(
    replay_store, data_dir, caplog
):
    caplog.set_level(logging.INFO, logger="engine.live")
    opened = open_replay(replay_store, start="2012-01-03", end="2012-03-30")
    loop, days = opened.loop, opened.days
    account = loop.broker.account_name
    with replay_store.hold():
        loop.start(days[0])
        for day in days[:20]:
            loop.step(day)
        # Between two steps, an order placed at the paper account by hand.
        by_hand = OrderRequest(symbol="GE", side="buy", qty=5, client_order_id="by-hand-1")
        PaperBroker(replay_store, account=account).submit(by_hand)
        with pytest.raises(OperatorError, match="the broker holds .* GE"):
            loop.step(days[20])
    # The loop's broker kept the account from before that order: its bar found it stale,
    # and the whole step ran again on the store's account (where it found the difference).
    assert f"step {days[20]} runs again" in caplog.text
    # The step's bar and record rolled back together; why the loop stopped is kept.
    assert _stepped_together(data_dir, account, "1d") == ((days[19], None),) * 2
    refused = read_events(replay_store, kinds=["loop.refused"])
    assert len(refused) == 1 and "the broker holds" in refused["payload"].iloc[0]
