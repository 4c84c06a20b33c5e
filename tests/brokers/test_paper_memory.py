"""The paper broker keeps its account in memory: always what the store says, read in one statement.

Before, every call read the account from the store: a daily step's snapshot and bar ran
about twenty statements. The copy kept in memory must equal a fresh read of the store after
every step (fills, attached stops, a split, a dividend, a partial fill), see what another
broker object or another process wrote, and stay as it was when a transaction fails.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from engine.brokers import OrderRejected, PaperBroker
from engine.brokers import _paper_books as books
from engine.brokers import _paper_memory as memory
from engine.data import calendar
from engine.store import Store, writing
from engine.store.db import StaleStep
from tests.brokers.test_paper_corporate_actions import _record
from tests.live.test_paper_session import bar, order
from tests.store.test_hold import let_another_process_in
from tests.store_statements import count_statements, watch_statements

ROOT = Path(__file__).resolve().parents[2]
CASH = 10_000.0
DAYS = [d.date() for d in calendar.sessions("2024-01-02", "2024-01-31")]


def _account(kept: memory.Kept) -> tuple:
    """What a kept account says about the books (its closed orders apart: a cache of those)."""
    return (kept.generation, kept.cash, kept.held, kept.book, kept.marks, kept.last_bar,
            kept.last_bar_at, kept.open, kept.client_ids, kept.applied)  # fmt: skip


def assert_kept_is_the_store(broker: PaperBroker) -> None:
    """The account the broker keeps equals a fresh read of the store, to the last bit, and
    the store's own sums (cash, positions, open orders) as the control room reads them."""
    kept, account = broker._kept, broker.account_name
    with broker.store.connect() as con:
        assert _account(kept) == _account(memory.load(con, account, broker.starting_cash))
        for order_id, resting in kept.closed.items():
            assert books.find_order(con, account, "id", order_id) == resting.order
        assert kept.cash == pytest.approx(books.cash(con, account, broker.starting_cash), abs=1e-6)
        held = [(p.symbol, p.qty, p.avg_entry_price, p.market_value) for p in broker.positions()]
        stored = [(p.symbol, pytest.approx(p.qty), pytest.approx(p.avg_entry_price),
                   pytest.approx(p.market_value)) for p in books.positions(con, account)]  # fmt: skip
        assert held == stored
        assert [r.order for r in reversed(kept.open.values())] == books.orders(con, account, "open")


def _other_process_cancels(data_dir: Path, account: str, order_id: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.brokers.paper_worker", "cancel", str(data_dir), account,
         order_id],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def test_the_kept_account_is_the_store_after_every_step(store):
    broker = PaperBroker(store, cash=CASH)
    steps = iter(DAYS)

    def step(**prices):
        fills = broker.process_bar(next(steps), bar(**prices))
        assert_kept_is_the_store(broker)
        return [(f.client_order_id, f.qty, f.price) for f in fills]

    step(XYZ=400, ABC=50)
    broker.submit_many([
        order("XYZ", "buy", 10, "e-XYZ", stop_loss_price=360.0, take_profit_price=481.0),
        order("ABC", "buy", 20, "e-ABC"),
        order("ABC", "buy", 20, "e-ABC-dip", type="limit", limit_price=40.0,
              time_in_force="gtc"),
    ])  # fmt: skip
    assert_kept_is_the_store(broker)
    assert step(XYZ=400, ABC=50) == [("e-XYZ", 10, 400), ("e-ABC", 20, 50)]
    dip = broker.get_order_by_client_id("e-ABC-dip")

    # The trader cancels the resting limit from the control room, another process: this
    # broker sees it at its next read, and the next bar does not fill it.
    assert _other_process_cancels(store.data_dir, "paper", dip.id) == "canceled"
    view = broker.snapshot([dip.id])
    assert dip.id not in {o.id for o in view.open_orders}
    assert view.looked_up[dip.id].status == "canceled"
    assert_kept_is_the_store(broker)

    # A 4:1 split of XYZ and a dividend on ABC go ex on the next session.
    _record(store, splits=[("XYZ", DAYS[2], 4.0)], dividends=[("ABC", DAYS[2], 0.5)])
    assert step(XYZ=(100.5, 101, 99, 100.25), ABC=(39, 52, 39, 51)) == []  # the dip is gone
    assert {p.symbol: p.qty for p in broker.positions()} == {"XYZ": 40, "ABC": 20}
    assert broker.account().cash == pytest.approx(CASH - 4_000 - 1_000 + 20 * 0.5)

    # A second broker object on the same account (in this process) cancels a sell.
    broker.submit(order("ABC", "sell", 5, "x-ABC", type="limit", limit_price=60.0))
    PaperBroker(store, actor="trader").cancel(client_order_id="x-ABC")
    assert broker.orders("open")[0].client_order_id == "e-XYZ-stop"
    assert_kept_is_the_store(broker)

    # A buy the cash covers at 51 gaps up to 60 at the open and fills in part; then the
    # re-based stop (90) fires in the bar.
    broker.submit(order("ABC", "buy", 98, "e-ABC-more"))
    assert step(XYZ=(95, 95, 85, 88), ABC=60) == [
        ("e-ABC-more", pytest.approx(CASH_IN_HAND / 60), 60.0), ("e-XYZ-stop", 40, 90.0)
    ]
    assert step(XYZ=88, ABC=61) == []
    assert [p.symbol for p in broker.positions()] == ["ABC"]
    assert broker.account().cash == pytest.approx(40 * 90)


#: Cash after the first buys and the dividend.
CASH_IN_HAND = CASH - 4_000 - 1_000 + 20 * 0.5


@pytest.fixture
def holding(store):
    """A broker holding 10 XYZ with their stop resting, and a buy of ABC waiting."""
    broker = PaperBroker(store, cash=CASH)
    broker.process_bar(DAYS[0], bar(XYZ=400, ABC=50))
    broker.submit(order("XYZ", "buy", 10, "e-XYZ", stop_loss_price=360.0))
    broker.process_bar(DAYS[1], bar(XYZ=400, ABC=50))
    broker.submit(order("ABC", "buy", 20, "e-ABC"))
    return broker


def _failing(monkeypatch, errors: list[Exception]) -> None:
    """The next COMMITs raise ``errors``, one each (after all of a transaction's writes)."""

    def fail_commit(sql: str, _n: int) -> None:
        if sql == "COMMIT" and errors:
            raise errors.pop(0)

    watch_statements(monkeypatch, fail_commit)


def test_a_transaction_that_fails_at_its_commit_leaves_the_kept_account_as_it_was(
    holding, monkeypatch
):
    before = copy.deepcopy(holding._kept)
    _failing(monkeypatch, [duckdb.IOException("could not write the file: disk full")])

    with pytest.raises(duckdb.IOException):
        holding.process_bar(DAYS[2], bar(XYZ=(380, 380, 350, 355), ABC=51))  # stop and buy fill
    assert holding._kept == before
    assert_kept_is_the_store(holding)  # nothing of it reached the store either

    fills = holding.process_bar(DAYS[2], bar(XYZ=(380, 380, 350, 355), ABC=51))
    assert [f.client_order_id for f in fills] == ["e-ABC", "e-XYZ-stop"]
    assert_kept_is_the_store(holding)


def test_a_transaction_retried_after_a_conflict_is_kept_once(holding, monkeypatch):
    _failing(monkeypatch, [duckdb.TransactionException("Conflict on tuple deletion")])

    fills = holding.process_bar(DAYS[2], bar(XYZ=(380, 380, 350, 355), ABC=51))
    assert [f.client_order_id for f in fills] == ["e-ABC", "e-XYZ-stop"]
    assert {p.symbol: p.qty for p in holding.positions()} == {"ABC": 20}  # not 40
    assert_kept_is_the_store(holding)


def test_an_order_placed_long_ago_is_found_by_its_client_order_id_after_a_restart(holding, store):
    # A new broker (a restarted loop) keeps open orders only: a filled one is read from the
    # store when its decision is sent again, and no second order is placed.
    again = PaperBroker(store)
    placed = again.submit(order("XYZ", "buy", 10, "e-XYZ", stop_loss_price=360.0))
    assert placed.status == "filled"
    assert len(again.orders("all")) == 3  # e-XYZ, its stop, e-ABC
    assert_kept_is_the_store(again)


def test_a_daily_step_asks_the_store_little(holding, monkeypatch):
    counter = count_statements(monkeypatch)

    def statements(call) -> int:
        counter[0] = 0
        call()
        return counter[0]

    tracked = [o.id for o in holding.orders("open")]
    since = holding.orders("all")[-1].updated_at
    # The loop's one read, then the bar (a buy fills; marks move), then its orders. Before
    # the account was kept: 4 statements, 4, 12, 10 and 10; before the generation check
    # went into the statement that writes the account row (with the marks): 1, 1, 9, 6 and 6.
    assert statements(lambda: holding.snapshot(tracked, closed_since=since)) == 1
    assert statements(lambda: holding.account()) == 1
    assert statements(lambda: holding.process_bar(DAYS[2], bar(XYZ=401, ABC=51))) <= 8
    assert statements(lambda: holding.submit_many([order("ABC", "sell", 5, "x-1"),
                                                   order("XYZ", "sell", 5, "x-2")])) <= 5
    open_ = [o.id for o in holding.orders("open")]
    assert statements(lambda: holding.cancel_many(open_)) <= 5


def test_an_order_judged_on_cash_another_broker_spent_since_is_judged_again(holding, store):
    # 5,000 of cash is free (6,000 less the 1,000 the waiting ABC buy holds). A second broker
    # object on the account spends 4,500 of it; this broker's kept copy still says 5,000,
    # and its check comes at the end of its write: the buy is judged again on the store's.
    PaperBroker(store, actor="trader").submit(order("ABC", "buy", 90, "t-ABC"))
    with pytest.raises(OrderRejected, match="cash"):
        holding.submit(order("ABC", "buy", 20, "e-ABC-2"))
    assert_kept_is_the_store(holding)
    assert [o.client_order_id for o in holding.orders("open")] == ["t-ABC", "e-ABC", "e-XYZ-stop"]


def test_a_split_stored_after_the_broker_looked_its_actions_up_still_applies(holding, store):
    # The bars of DAYS[2] and DAYS[3] look the actions of what is held up (none) and keep
    # them; a split going ex on DAYS[4] is stored only then. That bar must not trust them.
    holding.process_bar(DAYS[2], bar(XYZ=400, ABC=50))
    holding.process_bar(DAYS[3], bar(XYZ=400, ABC=50))
    _record(store, splits=[("XYZ", DAYS[4], 4.0)])
    holding.process_bar(DAYS[4], bar(XYZ=100, ABC=50))
    assert {p.symbol: p.qty for p in holding.positions()}["XYZ"] == 40
    assert holding.orders("open")[-1].stop_price == 90.0  # its stop re-based: 360 / 4
    assert_kept_is_the_store(holding)


def test_the_marks_of_a_store_from_before_they_moved_into_the_account_row_are_kept(
    data_dir, monkeypatch
):
    # Migration 0020 moves each account's marks (the last close per symbol) into its row:
    # an account opened before it values its positions at the same prices after it.
    from engine.store import db

    real = db.available_migrations()
    monkeypatch.setattr(db, "available_migrations", lambda: {v: m for v, m in real.items() if v < 20})
    with Store.open(data_dir).connect() as con:
        con.execute(
            "INSERT INTO paper_accounts (account, starting_cash, created_at, last_bar_date)"
            " VALUES ('paper', 10000, now(), DATE '2024-01-03'), ('idle', 500, now(), NULL)"
        )
        con.execute(
            "INSERT INTO paper_marks VALUES ('paper', 'XYZ', DATE '2024-01-03', 401.5),"
            " ('paper', 'ABC', DATE '2024-01-02', 51.25)"
        )
    db.forget_migrated(data_dir / db.DB_FILE)
    monkeypatch.setattr(db, "available_migrations", lambda: real)
    store = Store.open(data_dir)

    with store.connect() as con:
        assert books.marks(con, "paper") == {"XYZ": 401.5, "ABC": 51.25}
        assert books.marks(con, "idle") == {}
    broker = PaperBroker(store)
    broker.submit(order("ABC", "buy", 10, "e-ABC"))  # judged on ABC's kept mark
    broker.process_bar(DAYS[2], bar(XYZ=402, ABC=52))
    assert broker._kept.marks == {"XYZ": 402.0, "ABC": 52.0}
    assert_kept_is_the_store(broker)


def test_the_marks_kept_as_two_lists_are_the_same_floats_once_they_are_text(data_dir, monkeypatch):
    # Migration 0021 turns an account's marks from two lists into one JSON object: every
    # price must come back the same double, to the last bit (0.1 + 0.2 is not 0.3).
    from engine.store import db

    real = db.available_migrations()
    monkeypatch.setattr(db, "available_migrations", lambda: {v: m for v, m in real.items() if v < 21})
    prices = {"XYZ": 0.1 + 0.2, "ABC": 51.25, "TINY": 1e-7 / 3, "BIG": 123456789.123456789}
    with Store.open(data_dir).connect() as con:
        con.execute(
            "INSERT INTO paper_accounts (account, starting_cash, created_at, last_bar_date,"
            " mark_symbols, mark_prices) VALUES ('paper', 10000, now(), DATE '2024-01-03', ?, ?),"
            " ('idle', 500, now(), NULL, NULL, NULL)",
            [list(prices), list(prices.values())],
        )
    db.forget_migrated(data_dir / db.DB_FILE)
    monkeypatch.setattr(db, "available_migrations", lambda: real)
    store = Store.open(data_dir)
    with store.connect() as con:
        assert books.marks(con, "paper") == prices  # == on floats: exact
        assert books.marks(con, "idle") == {}
    broker = PaperBroker(store)
    broker.process_bar(DAYS[2], bar(XYZ=402.1, ABC=52))
    with store.connect() as con:
        assert books.marks(con, "paper") == {**prices, "XYZ": 402.1, "ABC": 52.0}
    assert_kept_is_the_store(broker)


# -- inside a store's step: the loop's bar, cancels and submits in one transaction ---------


def _generation(store: Store) -> int:
    return store.scalar("SELECT generation FROM paper_accounts WHERE account = 'paper'")


def test_in_a_step_the_account_is_checked_once_and_its_generation_bumped_once(
    holding, store, monkeypatch
):
    other = PaperBroker(store, actor="trader")  # keeps the account as it is before the step
    other.account()
    before = _generation(store)
    asked: list[str] = []
    watch_statements(monkeypatch, lambda sql, _n: asked.append(" ".join(sql.split()[:3])))
    monkeypatch.setattr(writing, "FEW_ROWS", 0)  # a batch of rows is one statement, however few
    with store.hold(), store.step():
        holding.process_bar(DAYS[2], bar(XYZ=401, ABC=51))  # the buy fills: marks move
        view = holding.snapshot([o.id for o in holding.orders("open")])
        holding.cancel_many([o.id for o in view.open_orders])
        holding.submit_many([order("ABC", "sell", 5, "x-1", type="limit", limit_price=60.0)])
    # The bar's write checked the copy and bumped the generation; nothing after it needed
    # either (before the step: two more bumps, and a read of the generation).
    assert asked.count("UPDATE paper_accounts SET") == 1
    assert asked.count("SELECT generation FROM") == 0
    # The bar's fill and the cancels change the orders' statuses in one statement, at the
    # step's end (with FEW_ROWS 0, as for a batch of three or more rows).
    assert asked.count("UPDATE paper_orders SET") == 1
    assert asked[-3:] == ["UPDATE paper_orders SET", "INSERT INTO events", "COMMIT"]
    assert asked.count("BEGIN TRANSACTION") == asked.count("COMMIT") == 1
    assert _generation(store) == before + 1
    assert_kept_is_the_store(holding)
    # Another broker object kept the account from before: the one bump tells it.
    assert [o.client_order_id for o in other.orders("open")] == ["x-1"]
    assert_kept_is_the_store(other)


def test_in_a_step_the_stop_a_fill_attaches_goes_in_with_the_orders_submitted_next(
    holding, store, monkeypatch
):
    """One insert of orders a step, in submission order: the stop attached when the bar
    fills a buy waits for the step's orders (or, with none, for its end, or for a read)."""
    holding.submit(order("QRS", "buy", 10, "e-QRS", stop_loss_price=18.0))
    asked: list[str] = []
    watch_statements(monkeypatch, lambda sql, _n: asked.append(" ".join(sql.split()[:3])))
    with store.hold(), store.step():
        holding.process_bar(DAYS[2], bar(XYZ=401, ABC=51, QRS=20))  # QRS fills: its stop placed
        holding.submit_many([order("ABC", "sell", 5, "x-1", type="limit", limit_price=60.0)])
    assert asked.count("INSERT INTO paper_orders") == 1  # two before (stop, then the sell)
    assert_kept_is_the_store(holding)  # open orders in the store's order: the stop first
    assert [o.client_order_id for o in holding.orders("open")][:2] == ["x-1", "e-QRS-stop"]

    # No order submitted after the bar: the stop goes in at the step's end; a read of the
    # orders inside the step finds it already.
    holding.submit(order("TUV", "buy", 10, "e-TUV", stop_loss_price=9.0))
    with store.hold(), store.step():
        holding.process_bar(DAYS[3], bar(XYZ=401, ABC=51, QRS=20, TUV=10))
        with store.connect() as con:
            assert books.find_order(con, "paper", "client_order_id", "e-TUV-stop") is not None
    assert holding.get_order_by_client_id("e-TUV-stop").stop_price == 9.0
    assert_kept_is_the_store(holding)
    # The orders closed since the start, as the loop reads them, in the store's order: those
    # kept here (numbered in memory) among those read back from the store.
    holding.cancel(client_order_id="e-QRS-stop")
    recent = holding.snapshot(closed_since=datetime(2000, 1, 1)).recent_closed
    stored = store.query("SELECT id FROM paper_orders WHERE status NOT IN ('new', 'accepted',"
                         " 'partially_filled') ORDER BY seq")["id"].tolist()  # fmt: skip
    assert [o.id for o in recent] == stored and len(stored) >= 4


def test_two_broker_objects_in_one_step_never_keep_what_the_other_wrote(holding, store):
    other = PaperBroker(store, actor="trader")
    with store.hold(), store.step():
        holding.process_bar(DAYS[2], bar(XYZ=401, ABC=51))  # bumps the generation
        assert [o.client_order_id for o in other.orders("open")] == ["e-XYZ-stop"]  # read
        holding.submit(order("ABC", "sell", 5, "x-1", type="limit", limit_price=60.0))
        # The other object read after the bump and before this submit: it must not take
        # its copy for the step's latest, in the step or after it.
        assert [o.client_order_id for o in other.orders("open")] == ["x-1", "e-XYZ-stop"]
        other.cancel(client_order_id="x-1")
        assert [o.client_order_id for o in holding.orders("open")] == ["e-XYZ-stop"]
        # The cancel's status waits for the step's end; the store's rows say it already.
        assert holding.get_order_by_client_id("x-1").status == "canceled"
        closed = {o.client_order_id: o.status for o in PaperBroker(store).orders("closed")}
        assert closed["x-1"] == "canceled"
        holding.submit(order("ABC", "sell", 5, "x-2", type="limit", limit_price=61.0))
    for broker in (holding, other):
        assert [o.client_order_id for o in broker.orders("open")] == ["x-2", "e-XYZ-stop"]
        assert_kept_is_the_store(broker)


def test_a_step_that_fails_leaves_the_account_as_it_was_in_the_store_and_in_memory(
    holding, store
):
    with store.connect() as con:
        stored = _account(memory.load(con, "paper", CASH))
    with pytest.raises(RuntimeError, match="after the bar"), store.hold(), store.step():
        holding.process_bar(DAYS[2], bar(XYZ=(380, 380, 350, 355), ABC=51))  # stop, buy fill
        holding.submit(order("ABC", "sell", 5, "x-1", type="limit", limit_price=60.0))
        raise RuntimeError("a failure after the bar")
    with store.connect() as con:
        assert _account(memory.load(con, "paper", CASH)) == stored  # nothing of it stored
    assert holding._kept is None  # dropped: read again at its next use
    fills = holding.process_bar(DAYS[2], bar(XYZ=(380, 380, 350, 355), ABC=51))
    assert [f.client_order_id for f in fills] == ["e-ABC", "e-XYZ-stop"]
    assert_kept_is_the_store(holding)


@pytest.mark.parametrize("writer", ["another store object", "another process"])
def test_a_split_stored_between_two_held_steps_applies_at_the_next(holding, store, writer):
    # Held, a step trusts the corporate actions it checked at its last step while the
    # store's writes mark has not moved (nothing else wrote): a split stored in between,
    # in this process or by another one let in, must move it, and the bar takes the split.
    with store.hold() as held:
        for day in DAYS[2:4]:
            with store.step():
                holding.process_bar(day, bar(XYZ=400, ABC=50))
        split = [("XYZ", DAYS[4], 4.0)]
        if writer == "another store object":
            _record(Store(store.path), splits=split)
        else:
            let_another_process_in(
                held, "import sys, datetime; from engine.store import Store;"
                " from tests.brokers.test_paper_corporate_actions import _record;"
                " _record(Store(sys.argv[1]), splits=[('XYZ', datetime.date.fromisoformat(sys.argv[2]), 4.0)])",
                str(store.path), DAYS[4].isoformat(),
            )  # fmt: skip
        try:
            with store.step():
                holding.process_bar(DAYS[4], bar(XYZ=100, ABC=50))
        except StaleStep:  # what the loop does: the step runs again, on the store's rows
            with store.step():
                holding.process_bar(DAYS[4], bar(XYZ=100, ABC=50))
    assert {p.symbol: p.qty for p in holding.positions()}["XYZ"] == 40
    assert holding.orders("open")[-1].stop_price == 90.0  # its stop re-based: 360 / 4
    assert_kept_is_the_store(holding)
