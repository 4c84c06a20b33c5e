"""Trader commands: validated, queued, resolved once, every step audited."""

import pytest

from engine.errors import InputError
from engine.live.commands import (
    KillSwitch,
    ManualOrder,
    parse_command,
    pending_commands,
    resolve_command,
    submit_command,
)
from engine.store import read_events


def test_a_command_is_pending_until_the_loop_resolves_it(store):
    command_id = submit_command(store, KillSwitch(on=True), actor="alice")
    [(pending_id, actor, command)] = pending_commands(store)
    assert (pending_id, actor, command) == (command_id, "alice", KillSwitch(on=True))

    resolve_command(store, command_id, applied=True, result="HALTED", by="loop-1")
    resolve_command(store, command_id, applied=False, result="late duplicate", by="loop-2")
    assert pending_commands(store) == []
    row = store.query("SELECT status, decided_by, result FROM commands").iloc[0]
    assert (row["status"], row["decided_by"], row["result"]) == ("applied", "loop-1", "HALTED")
    kinds = read_events(store, kinds=["command."])["kind"].tolist()
    assert kinds == ["command.applied", "command.submitted"]  # resolved once, newest first


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"kind": "manual_order", "symbol": "AAPL", "side": "buy", "qty": 0},
            "qty: Input should be greater than 0",
        ),
        ({"kind": "manual_order", "symbol": "AAPL", "side": "hold", "qty": 1}, "side"),
        (
            {
                "kind": "manual_order",
                "symbol": "AAPL",
                "side": "buy",
                "qty": 1,
                "order_type": "limit",
            },
            "a limit order needs a limit price",
        ),
        ({"kind": "tighten_stop", "symbol": "AAPL", "stop_price": -5}, "stop_price"),
        ({"kind": "launch_rockets"}, "command kinds"),
    ],
)
def test_bad_commands_are_refused_with_what_is_wrong(data, message):
    with pytest.raises(InputError) as caught:
        parse_command(data)
    assert message in str(caught.value)


def test_manual_order_symbols_are_normalised(store):
    submit_command(store, ManualOrder(symbol=" aapl ", side="buy", qty=5), actor="bob")
    [(_, _, command)] = pending_commands(store)
    assert command.symbol == "AAPL"
