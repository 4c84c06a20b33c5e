"""The paper broker on real bars: fill prices by hand, restarts, races, the audit trail.

Bars are the bundled AAPL and GE dailies of early January 2010, unadjusted:

    date        AAPL open   high    low     GE open  high   low
    2010-01-04  213.43  214.50  212.38      15.22  15.64  15.15
    2010-01-05  214.60  215.59  213.25      15.46  15.67  15.45
    2010-01-06  214.38  215.23  210.75      15.53  15.62  15.44
    2010-01-07  211.75  212.00  209.05      15.48  16.48  15.43
    2010-01-08  210.30  212.00  209.06      16.31  16.69  16.27
    2010-01-11  212.80  213.00  208.45      16.83  16.88  16.54
    2010-01-12  209.19  209.77  206.42      16.58  16.84  16.57
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from engine.brokers import OrderRejected, OrderRequest, OrderStatus, PaperBroker
from engine.brokers.paper_rules import Costs, positions_from_fills
from engine.data.sample import sample_bars
from engine.errors import InputError
from engine.store import read_events

ROOT = Path(__file__).resolve().parents[2]
SLIP, FEES, FIXED = 0.001, 0.0005, 1.0


@pytest.fixture(scope="module")
def bars():
    return sample_bars(["AAPL", "GE"], "2010-01-04", "2010-01-12", adjust=False)


def req(symbol, side, qty, cid, **kw) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=side, qty=qty, client_order_id=cid, **kw)


# -- fill prices, by hand --------------------------------------------------------------

# fmt: off
FILL_CASES = [
    # name, placed after, order, bar that decides, expected price (None: expires unfilled)
    ("market buy: next open + slippage", "2010-01-04",
     dict(symbol="AAPL", side="buy"), "2010-01-05", 214.60 * (1 + SLIP)),
    ("market sell: next open - slippage", "2010-01-04",
     dict(symbol="AAPL", side="sell"), "2010-01-05", 214.60 * (1 - SLIP)),
    ("buy limit traded through: at the limit", "2010-01-05",
     dict(symbol="AAPL", side="buy", type="limit", limit_price=211.00), "2010-01-06", 211.00),
    ("buy limit gapped through: at the open", "2010-01-06",
     dict(symbol="AAPL", side="buy", type="limit", limit_price=212.00), "2010-01-07", 211.75),
    ("buy limit not reached: day order expires", "2010-01-07",
     dict(symbol="AAPL", side="buy", type="limit", limit_price=209.00), "2010-01-08", None),
    ("sell limit at the high is a touch, not a fill", "2010-01-04",
     dict(symbol="AAPL", side="sell", type="limit", limit_price=215.59), "2010-01-05", None),
    ("sell limit traded through: at the limit", "2010-01-04",
     dict(symbol="AAPL", side="sell", type="limit", limit_price=215.00), "2010-01-05", 215.00),
    ("sell stop hit in the day: stop - slippage", "2010-01-07",
     dict(symbol="AAPL", side="sell", type="stop", stop_price=209.50), "2010-01-08",
     209.50 * (1 - SLIP)),
    ("sell stop gapped through: open - slippage", "2010-01-11",
     dict(symbol="AAPL", side="sell", type="stop", stop_price=210.00), "2010-01-12",
     209.19 * (1 - SLIP)),
    ("buy stop hit in the day: stop + slippage", "2010-01-06",
     dict(symbol="GE", side="buy", type="stop", stop_price=16.00), "2010-01-07",
     16.00 * (1 + SLIP)),
    ("buy stop gapped through: open + slippage", "2010-01-07",
     dict(symbol="GE", side="buy", type="stop", stop_price=16.30), "2010-01-08",
     16.31 * (1 + SLIP)),
    ("buy stop not reached: day order expires", "2010-01-07",
     dict(symbol="GE", side="buy", type="stop", stop_price=17.00), "2010-01-08", None),
]
# fmt: on


@pytest.mark.parametrize(
    "name, placed_after, spec, decided_on, expected", FILL_CASES, ids=[c[0] for c in FILL_CASES]
)
def test_fill_prices(store, bars, name, placed_after, spec, decided_on, expected):
    broker = PaperBroker(
        store, fees=FEES, fixed_fees=FIXED, slippage=SLIP, allow_short=True, account="cases"
    )
    broker.process_bar(placed_after, bars)
    placed = broker.submit(OrderRequest(qty=10, client_order_id="case", **spec))
    fills = broker.process_bar(decided_on, bars)
    order = broker.get_order(placed.id)
    if expected is None:
        assert fills == [] and order.status == OrderStatus.EXPIRED
        return
    assert len(fills) == 1 and order.status == OrderStatus.FILLED
    assert fills[0].price == pytest.approx(expected, rel=1e-12)
    assert order.filled_avg_price == pytest.approx(expected, rel=1e-12)
    assert fills[0].fee == pytest.approx(FEES * 10 * expected + FIXED)
    # Filled at that session's open: 9:30 New York is 14:30 UTC in January.
    assert fills[0].filled_at == datetime.fromisoformat(decided_on + "T14:30:00")


def test_fees_and_slippage_come_out_of_cash(store, bars):
    broker = PaperBroker(store, cash=10_000, fees=FEES, fixed_fees=FIXED, slippage=SLIP)
    broker.process_bar("2010-01-04", bars)
    broker.submit(req("AAPL", "buy", 10, "f-1"))
    broker.process_bar("2010-01-05", bars)
    price = 214.60 * (1 + SLIP)
    fee = FEES * 10 * price + FIXED
    account = broker.account()
    assert account.cash == pytest.approx(10_000 - 10 * price - fee)
    # Marked to the close of 2010-01-05 (214.38).
    assert account.equity == pytest.approx(10_000 - 10 * price - fee + 10 * 214.38)


def test_a_gtc_limit_waits_bars_until_the_market_trades_through_it(store, bars):
    broker = PaperBroker(store)
    broker.process_bar("2010-01-07", bars)
    placed = broker.submit(
        req("AAPL", "buy", 5, "gtc-1", type="limit", limit_price=209.00, time_in_force="gtc")
    )
    assert broker.process_bar("2010-01-08", bars) == []  # low 209.06: not through 209.00
    assert broker.get_order(placed.id).status == OrderStatus.ACCEPTED
    fills = broker.process_bar("2010-01-11", bars)  # low 208.45
    assert [f.price for f in fills] == [209.00]


def test_an_order_never_fills_on_the_bar_it_was_placed_after(store, bars):
    broker = PaperBroker(store)
    broker.process_bar("2010-01-04", bars)
    placed = broker.submit(req("AAPL", "buy", 10, "n-1"))
    # A restarted loop repeats its last step: the same bar again fills nothing.
    assert broker.process_bar("2010-01-04", bars) == []
    assert broker.get_order(placed.id).is_open
    assert [f.price for f in broker.process_bar("2010-01-05", bars)] == [214.60]
    assert broker.process_bar("2010-01-05", bars) == []  # and never fills twice
    assert broker.position("AAPL").qty == 10


def test_orders_and_fills_are_listed_by_status_order_and_time(store, bars):
    clock = [datetime(2010, 1, 4, 21)]  # after the close (UTC)
    broker = PaperBroker(store, now=lambda: clock[0])
    broker.process_bar("2010-01-04", bars)
    first = broker.submit(req("AAPL", "buy", 10, "l-1"))  # fills at the open of the 5th
    broker.process_bar("2010-01-05", bars)
    clock[0] = datetime(2010, 1, 5, 21)
    second = broker.submit(req("GE", "buy", 100, "l-2"))  # fills at the open of the 6th
    waiting = broker.submit(
        req("GE", "buy", 1, "l-3", type="limit", limit_price=1.0, time_in_force="gtc")
    )
    broker.process_bar("2010-01-06", bars)
    assert [o.id for o in broker.orders("open")] == [waiting.id]
    assert [o.id for o in broker.orders("closed")] == [second.id, first.id]  # newest first
    placed_on_the_5th = broker.orders("all", after=datetime(2010, 1, 5))
    assert [o.id for o in placed_on_the_5th] == [waiting.id, second.id]
    assert [f.order_id for f in broker.fills()] == [first.id, second.id]  # in time order
    assert [f.order_id for f in broker.fills(order_id=second.id)] == [second.id]
    assert broker.fills(order_id=waiting.id) == []
    assert [f.order_id for f in broker.fills(after=datetime(2010, 1, 5, 15))] == [second.id]


def test_a_day_order_for_a_symbol_without_a_bar_expires(store, bars):
    broker = PaperBroker(store)
    placed = broker.submit(req("GE", "buy", 10, "x-1"))
    broker.process_bar("2010-01-05", bars.select(["AAPL"]))
    assert broker.get_order(placed.id).status == OrderStatus.EXPIRED


def test_bars_must_arrive_in_date_order(store, bars):
    broker = PaperBroker(store)
    broker.process_bar("2010-01-06", bars)
    with pytest.raises(InputError, match="older than the newest bar"):
        broker.process_bar("2010-01-05", bars)
    assert broker.last_bar_date().isoformat() == "2010-01-06"


def test_bad_bars_say_what_is_wrong(store, bars):
    broker = PaperBroker(store)
    with pytest.raises(InputError, match="no row for 2010-02-01") as no_row:
        broker.process_bar("2010-02-01", bars)
    assert "2010-01-04 to 2010-01-12" in no_row.value.hint
    frame = pd.DataFrame({"open": {"AAPL": 1.0}, "high": {"AAPL": 1.0}, "close": {"AAPL": 1.0}})
    with pytest.raises(InputError, match="lack low"):
        broker.process_bar("2010-01-04", frame)


def test_buying_power_counts_orders_earlier_in_the_same_batch(store, bars):
    broker = PaperBroker(store, cash=10_000)
    broker.process_bar("2010-01-04", bars)  # AAPL closes at 214.01
    batch = [req("AAPL", "buy", 20, f"b-{i}") for i in range(3)]  # ~4,280 each
    results = broker.submit_many(batch)
    assert [type(r).__name__ for r in results] == ["Order", "Order", "OrderRejected"]
    assert "insufficient buying power" in results[2].reason


# -- state in the store ----------------------------------------------------------------


def _book(broker: PaperBroker):
    return broker.orders("all"), broker.fills(), broker.positions(), broker.account()


def test_a_new_broker_on_the_same_store_carries_on_where_the_last_stopped(store, bars):
    first = PaperBroker(store, cash=50_000, account="desk")
    first.process_bar("2010-01-04", bars)
    first.submit(req("AAPL", "buy", 10, "s-1"))
    first.submit(req("GE", "buy", 100, "s-2", type="limit", limit_price=15.00, time_in_force="gtc"))
    first.submit(req("GE", "buy", 100, "s-3", type="limit", limit_price=15.45, time_in_force="gtc"))
    first.process_bar("2010-01-05", bars)
    first.cancel(client_order_id="s-2")
    before = _book(first)

    second = PaperBroker(store, account="desk")  # a restart: cash comes from the store
    assert _book(second) == before
    assert second.account().cash == pytest.approx(50_000 - 10 * 214.60)
    fills = second.process_bar("2010-01-06", bars)  # GE low 15.44: through s-3 at last
    assert [(f.client_order_id, f.price) for f in fills] == [("s-3", 15.45)]
    assert second.submit(req("AAPL", "buy", 10, "s-1")).id == before[0][-1].id


@pytest.mark.slow
def test_a_new_process_sees_and_continues_the_same_books(data_dir, store, bars):
    broker = PaperBroker(store)
    broker.process_bar("2010-01-04", bars)
    broker.submit(req("AAPL", "buy", 3, "p-1"))

    def worker(*args):
        done = subprocess.run(
            [sys.executable, "-m", "tests.brokers.paper_worker", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(done.stdout)

    fills = worker("bar", str(data_dir), "2010-01-05")
    assert [(f["client_order_id"], f["price"]) for f in fills] == [("p-1", 214.60)]
    state = worker("state", str(data_dir))
    assert state["positions"][0]["qty"] == 3
    assert broker.position("AAPL").qty == 3
    assert broker.account().cash == pytest.approx(state["account"]["cash"])


@pytest.mark.slow
def test_two_processes_racing_the_same_client_order_ids_place_each_once(data_dir, store):
    cids = [f"race-{i:02d}" for i in range(10)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.brokers.paper_worker", "submit", str(data_dir), *order],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for order in (cids, cids[::-1])
    ]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert results[0] == results[1]  # both were told of the same order for each id
    orders = PaperBroker(store).orders("all")
    assert sorted(o.client_order_id for o in orders) == cids
    submitted = read_events(store, kinds=["paper.order.submitted"])
    assert len(submitted) == len(cids)


def test_threads_racing_the_same_client_order_ids_place_each_once(store):
    broker = PaperBroker(store)
    cids = [f"t-{i}" for i in range(8)]
    seen: list[dict] = []

    def submit_all():
        seen.append({c: broker.submit(req("AAPL", "buy", 1, c)).id for c in cids})

    threads = [threading.Thread(target=submit_all) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 3 and seen[0] == seen[1] == seen[2]
    assert len(broker.orders("all")) == len(cids)


def test_every_change_is_an_event_and_the_fill_events_replay_to_the_positions(store, bars):
    broker = PaperBroker(store, fees=FEES, slippage=SLIP, actor="loop")
    broker.process_bar("2010-01-04", bars)
    broker.submit(req("AAPL", "buy", 10, "e-1"))
    broker.submit(req("GE", "buy", 100, "e-2"))
    broker.submit(req("GE", "buy", 100, "e-3", type="limit", limit_price=10.0))  # expires
    broker.submit(req("AAPL", "buy", 5, "e-4", type="limit", limit_price=100.0))
    broker.cancel(client_order_id="e-4")
    with pytest.raises(OrderRejected):
        broker.submit(req("GE", "sell", 500, "e-5"))
    broker.process_bar("2010-01-05", bars)
    broker.submit(req("AAPL", "sell", 4, "e-6"))
    broker.process_bar("2010-01-06", bars)

    events = read_events(store, kinds=["paper."]).iloc[::-1]  # oldest first
    kinds = events["kind"].value_counts().to_dict()
    assert kinds == {
        "paper.account.opened": 1,
        "paper.order.submitted": 5,
        "paper.order.filled": 3,
        "paper.order.canceled": 1,
        "paper.order.expired": 1,
        "paper.order.rejected": 1,
    }
    assert set(events["actor"]) == {"loop"}
    rejected = json.loads(events[events["kind"] == "paper.order.rejected"]["payload"].iloc[0])
    assert "insufficient qty available" in rejected["reason"]

    fills = [json.loads(p) for p in events[events["kind"] == "paper.order.filled"]["payload"]]
    subjects = events[events["kind"] == "paper.order.filled"]["subject"]
    replayed = positions_from_fills(
        (s, f["qty"] if f["side"] == "buy" else -f["qty"], f["price"])
        for s, f in zip(subjects, fills, strict=True)
    )
    held = {p.symbol: (p.qty, p.avg_entry_price) for p in broker.positions()}
    assert held.keys() == replayed.keys() == {"AAPL", "GE"}
    for symbol, (qty, avg) in held.items():
        assert replayed[symbol][0] == pytest.approx(qty)
        assert replayed[symbol][1] == pytest.approx(avg)


# -- set-up errors and the clock -------------------------------------------------------


def test_reopening_an_account_with_different_cash_is_refused(store):
    PaperBroker(store, cash=25_000, account="small")
    with pytest.raises(InputError, match="already exists with starting cash 25,000.00") as err:
        PaperBroker(store, cash=100_000, account="small")
    assert "name a new account" in err.value.hint
    assert PaperBroker(store, account="small").account().cash == 25_000


@pytest.mark.parametrize(
    "costs, message",
    [
        (dict(fees=-0.001), "fees must be zero or positive"),
        (dict(slippage=5.0), "fractions of price"),
        (dict(fixed_fees=float("nan")), "fixed_fees must be zero or positive"),
    ],
)
def test_impossible_costs_are_refused(costs, message):
    with pytest.raises(InputError, match=message):
        Costs(**costs)


def test_the_paper_broker_takes_day_and_gtc_orders_only(store):
    with pytest.raises(InputError, match="day or gtc"):
        PaperBroker(store).submit(req("AAPL", "buy", 1, "ioc-1", time_in_force="ioc"))


@pytest.mark.parametrize(
    "now, is_open, next_open, next_close",
    [
        # Wednesday 11:00 New York: open, closes at 16:00 (20:00 UTC), opens Thursday.
        ("2024-05-01 15:00", True, "2024-05-02 13:30", "2024-05-01 20:00"),
        # Saturday: shut until Monday.
        ("2024-05-04 15:00", False, "2024-05-06 13:30", "2024-05-06 20:00"),
        # The day after Thanksgiving closes early, at 13:00 New York.
        ("2024-11-29 15:00", True, "2024-12-02 14:30", "2024-11-29 18:00"),
    ],
)
def test_the_clock_follows_the_nyse_calendar(store, now, is_open, next_open, next_close):
    broker = PaperBroker(store, now=lambda: datetime.fromisoformat(now))
    clock = broker.clock()
    assert clock.is_open is is_open
    assert clock.next_open == datetime.fromisoformat(next_open)
    assert clock.next_close == datetime.fromisoformat(next_close)
