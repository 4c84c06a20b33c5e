"""`wb risk stress` on a real stored book: a replay of the sample bars holding positions with stops.

The sample bars run from 2000 to 2013: the 2008 crashes replay each held symbol's own
stored bars; March 2020 and October 1987 are not in the store, so those shocks move the
book with the S&P 500 and say so.
"""

from __future__ import annotations

import json

import pytest

from engine.cli import cli
from engine.cli._common import run_cli
from engine.data.repository import load_bars
from tests.live.conftest import open_replay

SCENARIOS = [
    "2008 worst day", "2008 worst week", "March 2020", "1987-style day",
    "Every position -10%", "One symbol -30% overnight", "Correlations to one",
]  # fmt: skip


def wb(data_dir, *args, capsys) -> tuple[int, str, str]:
    code = run_cli(cli, ["--data-dir", str(data_dir), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def held(replay_store):
    """A replay of 2012 stopped as soon as it holds two positions; gives the loop."""
    opened = open_replay(replay_store)
    loop = opened.loop
    loop.start(opened.days[0])
    for day in opened.days:
        loop.step(day)
        if len(loop.broker.positions()) >= 2:
            break
    loop.stop("enough held to stress")
    return loop


def stress(data_dir, capsys, *args) -> dict:
    code, out, err = wb(data_dir, "risk", "stress", "--json", *args, capsys=capsys)
    assert code == 0, err
    return json.loads(out)


def test_the_stored_book_under_every_shock(held, data_dir, capsys):
    report = stress(data_dir, capsys)
    positions = {p.symbol: p.qty for p in held.broker.positions()}
    results = {r["name"]: r for r in report["results"]}

    assert report["book"] == held.book
    assert {p["symbol"]: p["qty"] for p in report["positions"]} == positions
    assert all(p["stop_price"] is not None for p in report["positions"])  # ATR stops
    assert list(results) == SCENARIOS
    symbols = ", ".join(sorted(positions))
    assert results["2008 worst day"]["notes"] == [f"replayed from stored bars (adjusted): {symbols}"]
    assert results["March 2020"]["notes"] == [
        f"no stored bars for 2020-03-13 to 2020-03-20: {symbols} moved with the S&P 500 "
        "(-15.0%; beta one), each session's move as an overnight gap"
    ]
    assert "moved with the S&P 500 (-20.5%" in results["1987-style day"]["notes"][0]

    # Every position opens 10% down: a stop above that gaps to it, one below it never fills,
    # so the book loses exactly 10% of what it holds.
    held_value = report["equity"] - report["cash"]
    assert results["Every position -10%"]["pnl"] == pytest.approx(-0.10 * held_value)
    for r in report["results"]:
        assert r["pnl"] == pytest.approx(sum(r["pnl_by_symbol"].values()))
        fills = sum(s["qty"] * s["fill_price"] for s in r["stops"])
        assert r["cash_after"] == pytest.approx(report["cash"] + fills)
        for s in r["stops"]:
            assert s["fill_price"] <= s["stop_price"] and s["gapped"] == (
                s["fill_price"] < s["stop_price"] - 1e-9
            )


def test_the_2008_worst_day_is_each_symbols_own_15_october_2008(held, data_dir, capsys):
    report = stress(data_dir, capsys)
    worst_day = next(r for r in report["results"] if r["name"] == "2008 worst day")
    fills = {s["symbol"]: s["fill_price"] for s in worst_day["stops"]}
    symbols = [p["symbol"] for p in report["positions"]]
    bars = load_bars(held.store, symbols, "2008-10-14", "2008-10-15")  # adjusted
    for p in report["positions"]:
        symbol, mark, stop = p["symbol"], p["price"], p["stop_price"]
        before = bars.close[symbol].iloc[0]
        opened, low, close = (bars[f][symbol].iloc[1] / before * mark for f in ("open", "low", "close"))
        if low <= stop:
            assert fills[symbol] == pytest.approx(min(opened, stop))
        else:
            assert symbol not in fills
            assert worst_day["pnl_by_symbol"][symbol] == pytest.approx(p["qty"] * (close - mark))


def test_the_halts_are_judged_by_the_limits_in_force(held, data_dir, capsys):
    loose = stress(data_dir, capsys)  # the replay's limits: 50% a day, 90% a week
    assert {r["halt"] for r in loose["results"]} == {"none"}

    code, _, err = wb(data_dir, "limits", "set", "daily_loss_limit=0.01", capsys=capsys)
    assert code == 0, err
    strict = stress(data_dir, capsys)
    crash = next(r for r in strict["results"] if r["name"] == "1987-style day")
    assert crash["worst_day_loss"] >= 0.01
    assert crash["halt"] == "no entries"
    assert crash["halts"][0].startswith(f"daily loss {crash['worst_day_loss']:.1%} past the 1% limit")


def test_the_text_report_and_the_errors(held, data_dir, capsys):
    code, out, _ = wb(data_dir, "risk", "stress", "--book", held.book, capsys=capsys)
    assert code == 0
    assert out.startswith(f"Stress test of {held.book} as the live loop ")
    assert all(f"\n{name}" in out for name in SCENARIOS)
    assert "Buying power after is the cash after (a cash account)." in out

    code, _, err = wb(data_dir, "risk", "stress", "--book", "alpaca:live", capsys=capsys)
    assert code == 2
    assert err.splitlines() == [
        "error: no book 'alpaca:live' in this data dir",
        f"  what to do: books: {held.book}",
    ]


def test_no_book_to_stress_is_said_plainly(store, data_dir, capsys):
    code, _, err = wb(data_dir, "risk", "stress", capsys=capsys)
    assert code == 2
    assert err.startswith("error: no live loop has marked a book yet, so there is no book to stress")
