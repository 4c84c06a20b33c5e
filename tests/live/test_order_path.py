"""One order path: the step, the trader's commands and the control room's direct flatten
send orders the same way (engine/live/router.py), so the same request gives the same orders.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from app import facade
from app.auth import Visitor
from engine.brokers import PaperBroker, open_book
from engine.live.commands import FlattenAll, KillSwitch, ManualOrder, submit_command
from engine.store import Store
from engine.store.db import DB_FILE
from tests.live.conftest import open_replay

ROOT = Path(__file__).resolve().parents[2]
TRADER = Visitor("bob", "trader")


@pytest.fixture
def holding(replay_store):
    """A replay loop holding at least two positions, between two steps."""
    opened = open_replay(replay_store)
    loop, days = opened.loop, iter(opened.days)
    loop.start(opened.days[0])
    while len(loop.broker.positions()) < 2:
        loop.step(next(days))
    return loop, days


def copy_of(store, data_dir: Path) -> Store:
    """Another data dir holding the store as it is now (the same book, the same commands)."""
    data_dir.mkdir()
    shutil.copy(store.path, data_dir / DB_FILE)
    return Store.open(data_dir)


def command_orders(broker) -> set[tuple]:
    return {
        (o.client_order_id, o.symbol, o.side.value, o.qty, o.type.value)
        for o in broker.orders("all")
        if o.client_order_id.startswith("cmd")
    }


def test_the_flatten_command_and_the_direct_flatten_send_the_same_orders(holding, tmp_path):
    loop, days = holding
    other = copy_of(loop.store, tmp_path / "copy")
    open_before = len(loop.broker.orders("open"))

    command_id = submit_command(loop.store, FlattenAll(), actor="bob")
    loop.step(next(days))  # the loop applies it before the session
    direct_broker = open_book(other, loop.book, actor="bob")
    done = facade.flatten_direct(other, TRADER, direct_broker, kill_switch=False)

    assert done.command_id == command_id  # both stores number it alike
    sent = command_orders(loop.broker)
    assert {symbol for _, symbol, *_ in sent} == {p.symbol for p in direct_broker.positions()}
    assert command_orders(direct_broker) == sent
    assert done.canceled == open_before
    result = loop.store.scalar("SELECT result FROM commands WHERE id = ?", [command_id])
    assert f"{open_before} open orders canceled" in result


def test_a_loop_started_after_a_direct_flatten_carries_on_with_its_orders(holding, tmp_path):
    loop, days = holding
    held = {p.symbol for p in loop.broker.positions()}
    loop.stop("the loop went down")
    direct_broker = open_book(loop.store, loop.book, actor="bob")
    facade.flatten_direct(loop.store, TRADER, direct_broker, kill_switch=True)

    again = open_replay(loop.store).loop
    day = next(days)
    assert again.book == loop.book
    assert again.start(day) == []  # nothing it cannot explain: the closes are its own
    again.step(day)

    assert again.broker.positions() == []
    closed = loop.store.query(
        "SELECT symbol, status FROM live_orders WHERE book = ? AND purpose = 'manual'", [loop.book]
    )
    assert dict(zip(closed["symbol"], closed["status"], strict=True)) == dict.fromkeys(
        held, "filled"
    )


def test_a_manual_buy_queued_before_the_kill_switch_is_never_sent(holding):
    loop, days = holding
    # A limit buy: the loop applies commands after a close, when a trader's market buy would
    # be refused by the session rule before the kill switch could speak.
    limit = ManualOrder(symbol="GE", side="buy", qty=10, order_type="limit", limit_price=25.0)
    buy = submit_command(loop.store, limit, actor="bob")
    submit_command(loop.store, KillSwitch(on=True), actor="bob")

    loop.step(next(days))

    row = loop.store.query("SELECT status, result FROM commands WHERE id = ?", [buy]).iloc[0]
    assert row["status"] == "denied"
    assert "kill switch" in row["result"]
    assert not [o for o in loop.broker.orders("all") if o.client_order_id.startswith(f"cmd{buy}-")]


def test_nothing_probes_a_broker_for_what_it_can_do():
    """What a broker can do is declared (Broker.capabilities and the interface's methods)."""
    probing = re.compile(r"hasattr\(\s*(self\.)?(_?broker|b)\b|getattr\(\s*(self\.)?_?broker\b")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("engine", "app")
        for path in (ROOT / folder).rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if probing.search(line)
    ]
    assert found == []


def test_each_broker_reopens_from_its_book_name(store, monkeypatch):
    from tests.standins.alpaca import API_KEY, SECRET_KEY

    monkeypatch.setenv("APCA_API_KEY_ID", API_KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET_KEY)
    paper = PaperBroker(store, account="acct-7")
    assert open_book(store, paper.book, actor="bob").book == "paper:acct-7"
    for book in ("alpaca:paper", "alpaca:live"):
        broker = open_book(store, book, actor="bob")
        assert (broker.book, broker.live) == (book, book.endswith("live"))
    with pytest.raises(LookupError, match="no paper account 'never'"):
        open_book(store, "paper:never", actor="bob")
    assert store.scalar("SELECT count(*) FROM paper_accounts") == 1  # opened nothing new


def test_a_kill_switch_pressed_while_a_step_decides_stops_its_entries_unless_none_could_press_it(
    replay_store, monkeypatch
):
    """The controls are checked once more right before sending: a step on a real broker
    lets the store go, and a trader may press the kill switch while it decides; a step
    holding the store file (a simulated broker's) read the controls no one else could
    have written since, and asks the store nothing more."""
    from contextlib import nullcontext

    from engine.live.controls import set_control
    from engine.live.router import KILL_SWITCH_DURING
    from tests.store_statements import watch_statements

    asked = []
    watch_statements(monkeypatch, lambda sql, _n: asked.append(sql)
                     if "kill_switch') AS kill" in sql else None)  # fmt: skip
    opened = open_replay(replay_store)
    loop, days = opened.loop, iter(opened.days)
    loop.start(opened.days[0])
    while not any("-buy-" in cid for cid in loop.step(next(days)).submitted):
        pass
    assert not asked  # held: the controls read at the step's start are the trader's

    monkeypatch.setattr(loop, "holding", nullcontext)  # as a real broker's step: not held
    judge_step = loop._judge_step

    pressed = []

    def pressed_while_deciding(*args):
        judge = judge_step(*args)

        def judged(intents):
            if any(i.purpose == "entry" for i in intents) and not pressed:
                loop.store.transaction(
                    lambda con: set_control(con, "kill_switch", {"on": True}, "tina"))
                pressed.append(True)
            return judge(intents)

        return judged

    monkeypatch.setattr(loop, "_judge_step", pressed_while_deciding)
    for day in days:
        report = loop.step(day)
        if pressed:
            break
    assert asked and report.denied and not [cid for cid in report.submitted if "-buy-" in cid]
    reasons = replay_store.query("SELECT payload FROM events WHERE kind = 'order.denied'")
    assert reasons["payload"].str.contains(KILL_SWITCH_DURING).any()
