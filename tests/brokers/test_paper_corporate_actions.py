"""The paper broker applies a split or a cash dividend to a holding as a broker does: at the
open of the ex-date, once, with its resting stop and target re-based.

Before, a 4:1 split left the position at its old share count while the price fell to a
quarter: the resting stop (far above the new price) sold everything at the open, and the
dividends the shares earned were never paid.
"""

from __future__ import annotations

import pytest

from engine.brokers import PaperBroker
from engine.store.events import utcnow
from tests.live.test_paper_session import bar, order

DAYS = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]
CASH = 10_000.0


def _record(store, *, splits=(), dividends=()):
    """Corporate-action records as ingest keeps them (symbol, ex-date, ratio or amount)."""
    now = utcnow()
    with store.connect() as con:
        for symbol, day, ratio in splits:
            con.execute("INSERT INTO splits VALUES (?, ?, ?, 'test', ?)", [symbol, day, ratio, now])
        for symbol, day, amount in dividends:
            con.execute(
                "INSERT INTO dividends VALUES (?, ?, ?, NULL, 'test', ?)",
                [symbol, day, amount, now],
            )


def _held(broker):
    return {p.symbol: (p.qty, pytest.approx(p.avg_entry_price)) for p in broker.positions()}


@pytest.fixture
def broker(store):
    broker = PaperBroker(store, cash=CASH)
    broker.process_bar(DAYS[0], bar(XYZ=400))
    broker.submit(order("XYZ", "buy", 10, "e-XYZ", stop_loss_price=360.0, take_profit_price=481.0))
    broker.process_bar(DAYS[1], bar(XYZ=400))  # bought 10 at 400; stop 360, target 481 rest
    return broker


def test_a_4_for_1_split_quadruples_the_shares_and_quarters_the_stop_and_target(store, broker):
    _record(store, splits=[("XYZ", DAYS[2], 4.0)])
    # The ex-date trades at a quarter of the old price: far below the old stop of 360.
    fills = broker.process_bar(DAYS[2], bar(XYZ=(100.5, 101, 99, 100.25)))

    assert fills == []  # the stop did not fire on the split
    assert _held(broker) == {"XYZ": (40, 100.0)}
    (stop,) = broker.orders("open")
    # 481 / 4 = 120.25; 360 / 4 = 90: the target rounds up, the stop down, on the cent.
    assert (stop.qty, stop.stop_price, stop.take_profit_price) == (40, 90.0, 120.25)
    account = broker.account()
    assert account.cash == pytest.approx(CASH - 4_000)
    assert account.equity == pytest.approx(CASH - 4_000 + 40 * 100.25)

    # The re-based stop protects all 40 shares at its new level.
    fills = broker.process_bar(DAYS[3], bar(XYZ=(95, 95, 85, 88)))
    assert [(f.qty, f.price) for f in fills] == [(40, 90.0)]
    assert broker.positions() == []
    assert broker.account().cash == pytest.approx(CASH - 4_000 + 40 * 90)


def test_a_cash_dividend_pays_the_shares_held_into_the_ex_date(store, broker):
    _record(store, dividends=[("XYZ", DAYS[2], 1.25)])
    broker.process_bar(DAYS[2], bar(XYZ=399))

    assert broker.account().cash == pytest.approx(CASH - 4_000 + 10 * 1.25)
    assert _held(broker) == {"XYZ": (10, 400.0)}
    (stop,) = broker.orders("open")
    assert (stop.qty, stop.stop_price, stop.take_profit_price) == (10, 360.0, 481.0)  # unchanged


def test_a_split_and_a_dividend_while_the_broker_was_away_apply_in_order(store, broker):
    # No bar between: the next bar the broker sees is after both ex-dates.
    _record(store, splits=[("XYZ", DAYS[2], 4.0)], dividends=[("XYZ", DAYS[3], 0.5)])
    broker.process_bar(DAYS[4], bar(XYZ=101))
    # The dividend is on the 40 post-split shares.
    assert _held(broker) == {"XYZ": (40, 100.0)}
    assert broker.account().cash == pytest.approx(CASH - 4_000 + 40 * 0.5)


def test_a_fraction_of_a_share_is_paid_in_cash_at_the_post_split_price(store):
    broker = PaperBroker(store, cash=CASH)
    broker.process_bar(DAYS[0], bar(ABC=30))
    broker.submit(order("ABC", "buy", 7, "e-ABC"))
    broker.process_bar(DAYS[1], bar(ABC=30))  # 7 at 30: cost 210
    _record(store, splits=[("ABC", DAYS[2], 1.5)])  # 3-for-2: 10.5 shares
    broker.process_bar(DAYS[2], bar(ABC=20.2))

    # 10 whole shares at the same cost per share (20), and the half share paid out at the
    # last close in post-split terms (30 / 1.5 = 20).
    assert _held(broker) == {"ABC": (10, 20.0)}
    assert broker.account().cash == pytest.approx(CASH - 210 + 0.5 * 20.0)


def test_each_action_applies_once_whatever_restarts(data_dir, store, broker):
    _record(store, splits=[("XYZ", DAYS[2], 4.0)], dividends=[("XYZ", DAYS[2], 0.1)])
    broker.process_bar(DAYS[2], bar(XYZ=100))
    once = (_held(broker), broker.account().cash)

    # The same bar again (a restarted step), from a new broker on the same store.
    again = PaperBroker(store)
    again.process_bar(DAYS[2], bar(XYZ=100))
    again.process_bar(DAYS[3], bar(XYZ=100))
    assert (_held(again), again.account().cash) == once
    applied = store.query(
        "SELECT payload FROM events WHERE kind = 'paper.corporate_action' ORDER BY id"
    )["payload"]
    assert len(applied) == 2
    assert "4-for-1 split" in applied[0] and '"qty_after":40' in applied[0].replace(" ", "")


def test_a_symbol_not_held_is_not_adjusted(store, broker):
    _record(store, splits=[("OTHER", DAYS[2], 2.0)], dividends=[("OTHER", DAYS[2], 1.0)])
    broker.process_bar(DAYS[2], bar(XYZ=400, OTHER=50))
    assert broker.account().cash == pytest.approx(CASH - 4_000)
    assert store.scalar("SELECT count(*) FROM paper_adjustments") == 0
