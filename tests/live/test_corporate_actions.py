"""A 4:1 split and a cash dividend while the loop holds a position: the book ends right.

The loop decides on adjusted history (the split does not show there) and trades in
traded prices (where it does). Before, the paper broker kept the pre-split shares while the
price fell to a quarter: the position's stop, four times the new price, sold it all at the
split's open, and the dividend was never paid.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.brokers import PaperBroker
from engine.cli import cli
from engine.cli._common import run_cli
from engine.data import calendar
from engine.data.ingest import ingest
from engine.data.sources import CsvSource
from engine.live import ledger
from engine.live.runner import run_replay
from engine.live.setup import open_loop
from engine.store import Store
from tests.live.conftest import allow_replay, approve

SESSIONS = list(calendar.sessions("2024-01-02", "2024-05-31"))[:70]
SPLIT_AT, DIVIDEND_AT = 40, 55  # session numbers of the ex-dates
RATIO, DIVIDEND = 4.0, 0.5  # 4-for-1; 0.50 a share, paid on the post-split shares
CASH = 100_000.0


def _traded_closes() -> np.ndarray:
    """A slide from 400, then a steady climb (a fast average crosses above a slow one and
    stays there), a quarter of it from the split on, less the dividend from its ex-date."""
    days = np.arange(len(SESSIONS))
    close = np.where(days < 15, 400 * (1 - 0.004 * days), 376 * (1 + 0.005 * (days - 15)))
    close[SPLIT_AT:] /= RATIO
    close[DIVIDEND_AT:] -= DIVIDEND
    return np.round(close, 2)


def _bars_csv(path) -> None:
    close = _traded_closes()
    # The source's adjusted close: the split and the dividend taken out of the history before them.
    factor = np.ones(len(close))
    factor[:SPLIT_AT] /= RATIO
    factor[:DIVIDEND_AT] *= 1 - DIVIDEND / close[DIVIDEND_AT - 1]
    opens = np.r_[close[0], close[:-1]]
    opens[SPLIT_AT] = close[SPLIT_AT - 1] / RATIO  # the split's open: where the old close leaves it
    frame = pd.DataFrame({
        "date": [d.strftime("%Y-%m-%d") for d in SESSIONS], "symbol": "XYZ",
        "open": opens, "high": np.maximum(opens, close) * 1.004, "low": np.minimum(opens, close) * 0.996,
        "close": close, "volume": 1_000_000, "adj_close": close * factor,
        "split_ratio": [RATIO if i == SPLIT_AT else np.nan for i in range(len(close))],
    })  # fmt: skip
    frame.to_csv(path, index=False)


@pytest.fixture
def split_store(tmp_path):
    store = Store.open(tmp_path / "data")
    _bars_csv(tmp_path / "xyz.csv")
    ingest(store, CsvSource(tmp_path / "xyz.csv"), progress=False)
    (tmp_path / "dividends.csv").write_text(
        f"symbol,date,dividend\nXYZ,{SESSIONS[DIVIDEND_AT]:%Y-%m-%d},{DIVIDEND}\n"
    )
    from engine.data.corporate_actions import import_csv

    import_csv(store, tmp_path / "dividends.csv", actor="ana")
    store.config = approve(
        store, "sma_crossover", {"fast": 3, "slow": 10}, ["XYZ"],
        init_cash=CASH, size="fraction", fraction=0.5, stop="atr", atr_window=5, atr_multiple=3.0,
        fees=0.0, slippage=0.0,
    )  # fmt: skip
    allow_replay(store)
    return store


def _replay(store, start, end, account=None):
    opened = open_loop(
        store,
        mode="replay",
        config_ids=[store.config.config_id],
        start=start,
        end=end,
        account=account,
    )
    run_replay(opened.loop, opened.days)
    return opened.loop


def _stop_order(broker):
    (stop,) = [o for o in broker.orders("open") if o.type == "stop"]
    return stop


def _payloads(store, kind):
    rows = store.query("SELECT payload FROM events WHERE kind = ? ORDER BY id", [kind])["payload"]
    return [json.loads(p) for p in rows]


def test_a_replay_holds_through_a_4_for_1_split_and_a_dividend_and_its_book_ends_right(
    split_store, capsys
):
    store = split_store
    loop = _replay(store, SESSIONS[0], SESSIONS[-1])
    broker = loop.broker

    (entry,) = [f for f in broker.fills() if f.side == "buy"]
    assert [f for f in broker.fills() if f.side == "sell"] == []  # the split did not stop it out
    shares = entry.qty
    assert shares == int(shares) and shares > 0

    # Shares times 4 at a quarter of the cost; cash less the buy, plus the dividend on the new shares.
    (position,) = broker.positions()
    assert position.qty == shares * RATIO
    assert position.avg_entry_price == pytest.approx(entry.price / RATIO)
    account = broker.account()
    assert account.cash == pytest.approx(CASH - shares * entry.price + shares * RATIO * DIVIDEND)
    # P&L in traded prices: marked at the last close as traded.
    last = _traded_closes()[-1]
    assert position.unrealized_pl == pytest.approx((last - entry.price / RATIO) * shares * RATIO)
    assert account.equity == pytest.approx(account.cash + shares * RATIO * last)

    # The stop rests for all the new shares at a quarter of its level, below the price.
    stop = _stop_order(broker)
    held = ledger.read_records(store, loop.book, [store.config.config_id], loop.clock.now())
    mine = held.positions["XYZ"]
    assert stop.qty == shares * RATIO and mine.qty == shares * RATIO
    assert stop.stop_price == pytest.approx(mine.stop_price, abs=0.01) and stop.stop_price < last
    first_stop = _payloads(store, "order.submitted")[0]["stop_loss_price"]
    assert mine.stop_price == pytest.approx(first_stop / RATIO, abs=0.01)

    # The config's sub-book has its dividend: its cash is the broker's (one config, one book).
    assert CASH + held.flows[store.config.config_id] == pytest.approx(account.cash)

    # Each action applied once, audited by the broker and by the loop: the trail alone
    # rebuilds the position.
    assert ledger.replayed_positions(store, loop.book) == {"XYZ": shares * RATIO}
    applied = _payloads(store, "paper.corporate_action")
    assert [(p["kind"], p["qty_before"], p["qty_after"]) for p in applied] == [
        ("split", shares, shares * RATIO),
        ("dividend", shares * RATIO, shares * RATIO),
    ]
    assert applied[0]["orders"][0]["qty"] == shares * RATIO
    taken = _payloads(store, "corporate_action.taken")
    assert [(p["kind"], p["ex_date"], p["cash"]) for p in taken] == [
        ("split", f"{SESSIONS[SPLIT_AT]:%Y-%m-%d}", 0.0),
        ("dividend", f"{SESSIONS[DIVIDEND_AT]:%Y-%m-%d}", pytest.approx(shares * RATIO * DIVIDEND)),
    ]
    # wb shows what the book took in.
    run_cli(
        cli, ["--data-dir", str(store.data_dir), "data", "actions", "applied", "--book", loop.book]
    )
    assert capsys.readouterr().out.splitlines()[1:] == [
        f"{SESSIONS[SPLIT_AT]:%Y-%m-%d}  XYZ      split 4:1          {shares:g} -> {shares * 4:g} shares  cash +0.00",
        f"{SESSIONS[DIVIDEND_AT]:%Y-%m-%d}  XYZ      dividend 0.5/share {shares * 4:g} -> {shares * 4:g} shares  "
        f"cash +{shares * 4 * DIVIDEND:,.2f}",
    ]


def test_a_replay_stopped_after_the_broker_split_the_position_takes_it_in_once_on_restart(
    split_store,
):
    store = split_store
    ex = SESSIONS[SPLIT_AT]
    broker = _replay(store, SESSIONS[0], SESSIONS[SPLIT_AT - 1], "resumed").broker
    # The loop died in the split's step after the broker took the bar, before it recorded
    # anything: the broker has applied the split, the loop's book has not.
    traded = store.query(
        "SELECT symbol, open, high, low, close FROM bars WHERE date = ?", [ex]
    ).set_index("symbol")
    PaperBroker(store, account=broker.account_name).process_bar(ex, traded)

    loop = _replay(
        store, SESSIONS[0], SESSIONS[SPLIT_AT + 3], "resumed"
    )  # repeats the split's step
    loop = _replay(store, SESSIONS[0], SESSIONS[SPLIT_AT + 5], "resumed")  # and again, past it
    assert loop.broker.account_name == broker.account_name
    (entry,) = loop.broker.fills()
    (position,) = loop.broker.positions()
    assert position.qty == entry.qty * RATIO  # not 16 times
    held = ledger.read_records(store, loop.book, [store.config.config_id], loop.clock.now())
    assert held.positions["XYZ"].qty == entry.qty * RATIO
    assert len(_payloads(store, "paper.corporate_action")) == 1
    assert [p["ex_date"] for p in _payloads(store, "corporate_action.taken")] == [f"{ex:%Y-%m-%d}"]
    assert held.adjusted == {("XYZ", "split", date.fromisoformat(f"{ex:%Y-%m-%d}"))}
