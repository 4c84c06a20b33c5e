"""Crash safety: the loop killed with SIGKILL at random points of its steps, again and again.

Real processes (`wb live --mode replay`) on a store file. Each run is killed at a random
moment while it steps, then started again with the same command, until one run finishes.
The killed runs are forks of a helper that has imported the engine once
(tests/live/warm_start.py: the same command, without a second of imports per start), each
noting the steps it finishes in a file the test watches (a look into the store would keep
the loop waiting: DuckDB opens its file in one process at a time); the run that finishes
is a fresh interpreter, as a person starts it.
The book must then be exactly what an uninterrupted run makes: the same orders (none
twice), the same fills; positions equal to the broker's; the event log replaying to them.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pandas as pd
import pytest

from engine.brokers import PaperBroker
from engine.live import ids, ledger
from engine.live.runner import run_replay
from engine.live.setup import open_loop
from engine.store import Store
from engine.store.db import DB_FILE
from tests.live import alpaca_replay
from tests.live.conftest import INTRADAY_15M, allow_replay, approve, approve_donchian
from tests.live.test_alpaca_brackets import TARGETS, unprotected
from tests.live.warm_start import WarmStarter, steps_noted
from tests.standins.alpaca import AlpacaStandIn

pytestmark = pytest.mark.slow  # real processes or long replays: run early (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
START, END = "2012-02-01", "2012-03-16"
KILLS = 15


#: What the killed runs import before they start: the command and what its steps use (and
#: the calendar its start reads).
PRELOAD = ["engine.cli", "engine.cli.live", "engine.live.runner", "engine.live.setup",
           "engine.brokers.paper", "engine.research.config_registry",
           "engine.strategies.builtins.signals.donchian_breakout", "engine.brokers.alpaca",
           "tests.standins.alpaca", "tests.live.warm_start:warm_calendar"]  # fmt: skip


@pytest.fixture(scope="module")
def starter():
    """The warm-start helper the module's killed runs are forked from: its imports paid once."""
    with WarmStarter(PRELOAD, env=ENV, cwd=ROOT) as helper:
        yield helper


def _step_seconds(steps: list[tuple[float, float]]) -> float:
    """How long a step takes here and now: the median wall time of the steps noted so far,
    at most a second (a quarter of one before the first step)."""
    took = sorted(ended - began for began, ended in steps)
    return min(took[len(took) // 2], 1.0) if took else 0.25


def _book(data_dir: Path, account: str):
    store = Store.open(data_dir)
    broker = PaperBroker(store, account=account)
    orders = store.query(
        "SELECT client_order_id, symbol, side, qty, type, stop_price, take_profit_price, status"
        " FROM paper_orders"
        " WHERE account = ? ORDER BY client_order_id",
        [account],
    )
    fills = store.query(
        "SELECT client_order_id, symbol, side, qty, price, bar_date FROM paper_fills"
        " WHERE account = ? ORDER BY bar_date, client_order_id",
        [account],
    )
    return store, broker, orders, fills


#: The config's exits: trailing stops, and trailing stops each resting with a profit
#: target as one bracket (re-placed together whenever the stop moves up); or a scale-in
#: ladder's fixed stops, one per leg.
EXITS = {
    "stops": {},
    "brackets": {"take_profit": "reward_risk", "take_profit_at": 1.5},
    "ladder": {"trailing_stop": False, "size": "fraction", "fraction": 0.15,
               "ladder": [{"at": 0.005, "size": 0.5}, {"at": 0.015, "size": 0.5, "stop": 0.02}]},
}  # fmt: skip


@pytest.fixture(params=list(EXITS))
def crash_dir(request, sample_store, data_dir, tmp_path):
    """A data dir with the sample bars, a frequently trading approved config and replay limits,
    and an identical copy of it for the uninterrupted run."""
    config = approve_donchian(sample_store, **EXITS[request.param])
    return _with_twin(sample_store, data_dir, tmp_path, config)


def _with_twin(store, data_dir, tmp_path, config):
    """(the data dir, an identical copy of it for the uninterrupted run, ``config``), with
    replays allowed."""
    allow_replay(store)
    twin = tmp_path / "uninterrupted"
    twin.mkdir()
    shutil.copy(data_dir / DB_FILE, twin / DB_FILE)
    return data_dir, twin, config


def test_sigkill_at_random_points_never_duplicates_an_order_or_loses_a_fill(
    crash_dir, starter, tmp_path
):
    data_dir, twin, config = crash_dir
    _kill_again_and_again(starter, data_dir, twin, config, START, END, tmp_path, kills=KILLS)


@pytest.fixture
def intraday_crash_dir(intraday_store, data_dir, tmp_path):
    """:func:`crash_dir` for a 5-minute config on the SYNTHETIC intraday sample."""
    config = approve(
        intraday_store, "donchian_breakout", {"entry_window": 6, "exit_window": 3, "atr_window": 6},
        ["AAPL", "F", "GE"], bar_size="5m", stop="strategy", size="fraction", fraction=0.3,
        max_positions=3,
    )  # fmt: skip
    return _with_twin(intraday_store, data_dir, tmp_path, config)


def test_an_intraday_loop_killed_mid_session_loses_and_duplicates_no_order(
    intraday_crash_dir, starter, tmp_path
):
    data_dir, twin, config = intraday_crash_dir
    # The early-close session: 42 five-minute steps, killed inside some of them.
    _kill_again_and_again(starter, data_dir, twin, config, "2013-11-29", "2013-11-29", tmp_path,
                          kills=6)  # fmt: skip


def _kill_again_and_again(starter, data_dir, twin, config, start, end, tmp_path, *, kills: int):
    """Replays ``config`` from ``start`` to ``end`` in a real process killed ``kills`` times
    at random inside its steps (each time started again), then checks the book is exactly
    an uninterrupted replay's (in ``twin``)."""
    args = ["--data-dir", str(data_dir), "live", "--config", config.config_id, "--start", start,
            "--end", end, "--no-progress"]  # fmt: skip
    killed = _run_killed(starter, "engine.cli", args, tmp_path, kills=kills)

    # The same replay, never interrupted.
    reference = open_loop(
        Store.open(twin), mode="replay", config_ids=[config.config_id], start=start, end=end
    )
    run_replay(reference.loop, reference.days)

    account = reference.loop.broker.account_name
    store, broker, orders, fills = _book(data_dir, account)
    _, _, want_orders, want_fills = _book(twin, account)
    assert len(want_fills) > 6, "the replay should trade"
    # No order twice, none lost: exactly the uninterrupted run's orders and fills.
    assert orders["client_order_id"].is_unique
    pd.testing.assert_frame_equal(orders, want_orders)
    pd.testing.assert_frame_equal(fills, want_fills)
    # The loop's positions are the broker's, and the audit trail replays to them.
    held = {p.symbol: p.qty for p in broker.positions()}
    book = f"paper:{account}"
    _assert_book_is(store, book, held)
    # Every held position rests exactly one protective order (one per open leg of a
    # ladder), with its target where the config sets one, and nothing rests for a
    # position that is gone.
    resting = orders[(orders["side"] == "sell") & orders["status"].isin(["new", "accepted"])]
    assert sorted(resting["symbol"]) == sorted(_protected(store, book, held))
    if config.settings.take_profit != "none":
        assert resting["take_profit_price"].notna().all()
        targets = fills.merge(orders, on=["client_order_id", "symbol", "side"])
        hit = targets[
            (targets["side"] == "sell") & (targets["price"] >= targets["take_profit_price"])
        ]
        assert len(hit) >= 2, "the replay should fill some targets"
    starts = store.scalar("SELECT count(*) FROM events WHERE kind = 'loop.started'")
    assert starts == killed + 1
    if config.settings.ladder:
        legs = fills["client_order_id"].str.contains(r"-buy[23]-")
        assert legs.sum() >= 3, "the replay should add ladder legs"


def _protected(store: Store, book: str, held: dict[str, float]) -> list[str]:
    """A symbol per protective order the held positions should rest: one per open leg of a
    laddered position, one per other position."""
    ladders = store.query("SELECT symbol, ladder FROM live_positions WHERE book = ?", [book])
    open_legs = {
        row.symbol: len(json.loads(row.ladder)["legs"]) if isinstance(row.ladder, str) else 1
        for row in ladders.itertuples()
    }
    return [symbol for symbol in held for _ in range(open_legs.get(symbol, 1))]


def _assert_book_is(store, book: str, held: dict[str, float]) -> None:
    """The loop's recorded positions in ``book`` are ``held``, and its events replay to them."""
    recorded = (
        store.query("SELECT symbol, qty FROM live_positions WHERE book = ?", [book])
        .set_index("symbol")["qty"]
        .to_dict()
    )
    assert recorded == pytest.approx(held)
    assert ledger.replayed_positions(store, book) == pytest.approx(held)


def _run_killed(starter: WarmStarter, module: str, args: list[str], tmp_path, *, kills: int) -> int:
    """Runs ``python -m module *args`` (a replay) in a real process, forked by ``starter``,
    killed ``kills`` times at random inside its steps, each time started again, then lets a
    last run, a fresh interpreter, finish; gives the kills."""
    rng = random.Random(20240501)
    killed = 0
    errors = tmp_path / "stderr.txt"  # a file, not a pipe: an unread pipe would stall the loop
    notes = tmp_path / "steps.txt"  # the killed runs' steps, seen without opening the store
    while killed < kills:
        before = len(steps_noted(notes))
        child = starter.start(module, args, stderr=errors, steps=notes)
        # A step takes from tens of milliseconds to a second (the machine, its load): the
        # watch and the kill follow the steps' pace, so a kill lands inside the step after
        # the one seen, whatever the pace, and the kills outlast the replay.
        step = _step_seconds(steps_noted(notes))
        # Wait until this run has finished a step, then kill it somewhere inside a later one.
        deadline = time.monotonic() + 120
        while child.poll() is None and len(steps_noted(notes)) == before:
            assert time.monotonic() < deadline, "the loop made no progress"
            time.sleep(step / 20)
        if child.poll() is not None:
            break  # it finished the replay before we could kill it again
        time.sleep(rng.uniform(0.0, step))
        child.send_signal(signal.SIGKILL)
        child.wait()
        killed += 1
    if killed == kills:  # enough: a fresh interpreter finishes the replay
        with errors.open("w") as sink:
            child = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, env=ENV,
                                     stderr=sink)  # fmt: skip
        child.wait(timeout=300)
    assert child.returncode == 0, errors.read_text()[-2000:]
    assert killed >= kills * 2 // 3, f"only {killed} kills landed before the replay finished"
    return killed


# -- on Alpaca, with brackets ----------------------------------------------------------


class GuardedStandIn(AlpacaStandIn):
    """The Alpaca stand-in noting what is ever wrong with the protection of its positions:
    after every request, two live protections of one symbol or one without a position;
    before each bar trades, a position without exactly one stop and target (or an exit
    selling it). Its clock starts at ``now`` (aware), before the replay's first step."""

    def __init__(self, now: datetime):
        super().__init__(now=lambda: now)
        self.unique_client_order_ids = False  # only the loop's care can prevent a duplicate
        self.auto_fill = False  # orders wait for the next bar (overnight, for a session's last)
        self.wrong: list[str] = []
        self.checks.append(GuardedStandIn.never_two)

    def never_two(self) -> None:
        for symbol in {o["symbol"] for o in self.orders.values()}:
            guards = self.protections(symbol)
            if len(guards) > 1 or (guards and symbol not in self.positions):
                self.wrong.append(f"{self.now():%Y-%m-%d %H:%M} {symbol}: protections {guards}")

    def trade_bar_once(self, day, bar, now=None) -> int:
        with self.lock:
            self.wrong += [f"{day} before it trades: {w}" for w in unprotected(self)]
            return super().trade_bar_once(day, bar, now)


def _decisions_at(server: AlpacaStandIn) -> dict[str, tuple]:
    """The entries and exits placed at ``server``: client order id -> (status, filled, price)."""
    return {
        o["client_order_id"]: (o["status"], o["filled_qty"], o["filled_avg_price"])
        for o in server.orders.values()
        if (ids.parse_decision_id(o["client_order_id"]) or (None,) * 3)[2] in ("buy", "sell")
    }


#: Replays on Alpaca, by bar size: (first, last session, kills). Daily: 27 sessions of the
#: sample (11 fills, three of them targets, the first two inside the killed runs' sessions;
#: a buy refused for the cash buffer); 15-minute: the SYNTHETIC bars of the Wednesday before Thanksgiving and the early
#: close after it (40 bar closes, positions and their stops held over the holiday; fewer
#: kills, as each costs a process start, a third of the bars' time).
ON_ALPACA = {"1d": ("2012-02-01", "2012-03-09", 8), "15m": ("2013-11-27", "2013-11-29", 6)}


@pytest.fixture(params=list(ON_ALPACA))
def alpaca_crash_dir(request, data_dir, tmp_path):
    """(data dir, its uninterrupted twin, an approved config with stops and targets, first
    and last session, kills) for a replay on Alpaca of the fixture's bar size."""
    start, end, kills = ON_ALPACA[request.param]
    if request.param == "1d":
        store = request.getfixturevalue("sample_store")
        config = approve_donchian(store, **TARGETS)
    else:
        store = request.getfixturevalue("intraday_15m_store")
        config = approve(
            store, "donchian_breakout", {"entry_window": 6, "exit_window": 3, "atr_window": 6},
            INTRADAY_15M["symbols"], bar_size=request.param, stop="strategy", size="risk",
            trailing_stop=True, max_positions=3, **TARGETS,
        )  # fmt: skip
    allow_replay(store)
    twin = tmp_path / "uninterrupted"
    twin.mkdir()
    shutil.copy(data_dir / DB_FILE, twin / DB_FILE)
    return data_dir, twin, config, start, end, kills


def test_sigkill_on_alpaca_never_leaves_two_protections_or_a_position_without_one(
    alpaca_crash_dir, starter, tmp_path
):
    data_dir, twin, config, start, end, kills = alpaca_crash_dir
    # The evening before the first session: the market shut, nothing played yet.
    before = datetime.combine(date.fromisoformat(start) - timedelta(days=1), clock_time(21, 1),
                              tzinfo=UTC)  # fmt: skip

    with GuardedStandIn(before) as server:
        args = ["--data-dir", str(data_dir), "--config", config.config_id, "--start", start,
                "--end", end, "--url", server.url]  # fmt: skip
        killed = _run_killed(starter, "tests.live.alpaca_replay", args, tmp_path, kills=kills)
        with GuardedStandIn(before) as reference:
            opened = alpaca_replay.open_replay(
                Store.open(twin), config.config_id, start, end, reference.url
            )
            run_replay(opened.loop, opened.days, sleep=lambda seconds: None)

    assert server.wrong == [] and reference.wrong == []
    assert unprotected(server) == []
    # No order twice; the entries and exits, and their fills, those of the run never killed.
    assert max(server.client_order_ids().values()) == 1
    decisions = _decisions_at(server)
    assert decisions == _decisions_at(reference)
    assert sum(filled != "0" for _, filled, _ in decisions.values()) >= 6, "too few fills"
    held = {s: p["qty"] for s, p in server.positions.items()}
    assert held == {s: p["qty"] for s, p in reference.positions.items()}
    assert any(o["type"] == "limit" and o["status"] == "filled" for o in server.orders.values())
    store = Store.open(data_dir)
    _assert_book_is(store, "alpaca:paper", held)
    assert store.scalar("SELECT count(*) FROM events WHERE kind = 'loop.started'") == killed + 1
