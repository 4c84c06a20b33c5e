"""`wb proposals`, `wb approve ID`, `wb reject ID`: what a trader reads and types, and bad input."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from engine.cli import cli
from engine.cli._common import run_cli
from engine.live import approvals
from engine.store.events import utcnow


def wb(data_dir, *args: str, capsys) -> tuple[int, str, str]:
    code = run_cli(cli, ["--data-dir", str(data_dir), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def propose(store, symbol: str, expires_at: datetime) -> int:
    """A paper loop's proposal of a GE entry, as a step writes it; gives its id."""
    waiting = approvals.Proposal(
        id=0, book="paper:main", mode="paper", client_order_id=f"5c0f3e9a1b7d2c44-{symbol}-buy-20240501",
        config_id="5c0f3e9a1b7d2c44", symbol=symbol, qty=100, price=20.0, stop_price=19.0,
        target_price=None, stop_fraction=0.05, time_in_force="gtc", decision_bar=date(2024, 5, 1),
        decided_at=datetime(2024, 5, 1), bar="2024-05-01", why="the account's risk limits ask "
        "a trader to approve every entry", reasons={}, proposed_at=utcnow(),
        expires_at=expires_at, state="proposed",
    )  # fmt: skip
    item = waiting.entry_order("loop", utcnow())
    reasons = approvals.reasons(item, "sma_crossover", 100_000.0, "2024-05-01")
    extra = {"bar": "2024-05-01", "why": waiting.why, "expires_at": expires_at, "reasons": reasons}
    store.transaction(
        lambda con: approvals.record_step(con, "paper:main", "paper", [(item, extra)], utcnow(), "loop")
    )
    return approvals.listed(store)[0].id


def test_a_trader_lists_approves_and_rejects_proposals_from_the_shell(store, data_dir, capsys):
    first = propose(store, "GE", utcnow() + timedelta(hours=2))
    second = propose(store, "F", utcnow() + timedelta(hours=2))
    code, out, _ = wb(data_dir, "proposals", capsys=capsys)
    assert code == 0
    assert f"#{first} buy 100 GE ~$2,000 (sma_crossover · 5c0f3e9a)  proposed" in out
    assert "risk    $100 lost at the stop (0.10% of equity)" in out
    assert "stop    $19.00 (5.0% below)" in out
    code, out, _ = wb(data_dir, "approve", str(first), "--user", "tina", capsys=capsys)
    assert code == 0 and f"approval of proposal #{first} queued as command" in out
    command = store.query("SELECT actor, kind, payload, status FROM commands").iloc[0]
    assert (command["actor"], command["kind"], command["status"]) == (
        "tina", "approve_proposal", "pending"
    )  # fmt: skip
    assert json.loads(command["payload"]) == {"kind": "approve_proposal", "proposal_id": first}
    code, _, err = wb(data_dir, "approve", str(first), capsys=capsys)
    assert code == 2 and "already pending (command #1, asked by tina)" in err
    code, out, _ = wb(data_dir, "reject", str(second), "--reason", "earnings", "--json",
                      capsys=capsys)  # fmt: skip
    assert code == 0 and json.loads(out)["proposal_id"] == second
    code, out, _ = wb(data_dir, "proposals", "--json", capsys=capsys)
    listed = json.loads(out)["proposals"]
    assert {p["symbol"] for p in listed} == {"GE", "F"} and listed[0]["reasons"]["risk"]


def test_bad_proposal_ids_and_answers_are_refused_in_one_line(store, data_dir, capsys):
    gone = propose(store, "GE", utcnow() - timedelta(minutes=1))
    code, _, err = wb(data_dir, "approve", "99", capsys=capsys)
    assert code == 2 and "no proposal 99" in err and "wb proposals" in err
    code, _, err = wb(data_dir, "approve", str(gone), capsys=capsys)
    assert code == 2 and "expired at" in err and "never sent" in err
    code, _, err = wb(data_dir, "approve", "0", capsys=capsys)
    assert code == 2 and "0 is not in the range x>=1" in err
    code, _, err = wb(data_dir, "reject", str(gone), capsys=capsys)
    assert code == 2 and "Missing option '--reason'" in err
    assert store.scalar("SELECT count(*) FROM commands") == 0
