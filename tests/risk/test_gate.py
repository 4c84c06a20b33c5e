"""The gate as the live loop uses it: batches of orders, state changes, real bars."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.data.sample import sample_bars
from engine.risk import RULES, RiskGate, RiskLimits, TradingState, context, market_snapshot
from tests.risk.helpers import NOW, account, buy, held, marks, ny, sell


def test_a_batch_cannot_together_break_the_position_limit():
    symbols = ["AAPL", "MSFT", "IBM", "GE", "F", "BA", "CAT"]
    decisions = RiskGate().check_all([buy(s, qty=10) for s in symbols], account(), ny(NOW))
    assert [d.approved for d in decisions] == [True] * 5 + [False] * 2
    assert {d.rule for d in decisions[5:]} == {"max_positions"}


def test_a_batch_cannot_together_spend_the_cash_buffer():
    state = account(cash=25_000)  # each buy costs $10,000; $2,000 must stay
    decisions = RiskGate().check_all([buy(s) for s in ("AAPL", "MSFT", "IBM")], state, ny(NOW))
    assert [d.approved for d in decisions] == [True, True, False]
    assert (
        decisions[2].rule == "cash_buffer" and "$5,000.00 of cash $25,000.00" in decisions[2].reason
    )


def test_the_same_bar_twice_in_a_batch_is_a_duplicate():
    bar = ny("2024-03-05 16:00")
    decisions = RiskGate().check_all([buy(bar=bar), buy(bar=bar)], account(), ny(NOW))
    assert [d.rule for d in decisions] == ["approved", "duplicate_order"]


def test_a_halt_found_in_a_batch_holds_for_the_rest_of_it():
    history = marks(("2024-03-01 16:00", 100_000), ("2024-03-05 16:00", 91_000))
    state = account(
        equity=91_000, cash=81_000, equity_marks=history, positions={"AAPL": held("AAPL", 100)}
    )
    trader_sell = sell(config_id=None, actor="alice", purpose="manual", qty=50)
    decisions = RiskGate().check_all([trader_sell, buy("MSFT"), sell(qty=50)], state, ny(NOW))
    assert decisions[0].approved and decisions[0].state_change is TradingState.HALTED
    assert [d.rule for d in decisions[1:]] == ["trading_state", "trading_state"]
    assert "trading is HALTED (equity is down 9.00% this week" in decisions[1].reason


def test_a_gate_can_run_a_subset_of_rules():
    # E.g. a research replay that ignores the session: every rule is a plain function.
    from engine.risk import compliance

    gate = RiskGate(RiskLimits(), rules=[r for r in RULES if r is not compliance.market_session])
    assert gate.check(buy(), account(), ny("2024-03-09 11:00")).approved


def test_market_snapshot_from_real_bars_feeds_the_liquidity_filter():
    bars = sample_bars(["AAPL", "F"], start="2013-05-01", end="2013-06-28")
    snapshot = market_snapshot(bars, window=20, sectors={"AAPL": "Tech"})
    aapl = snapshot["AAPL"]
    assert aapl.last_price == pytest.approx(bars.close["AAPL"].iloc[-1])
    assert aapl.sector == "Tech" and snapshot["F"].sector is None
    # AAPL traded billions a day in 2013: liquid under the default floor, not under a silly one.
    assert aapl.avg_dollar_volume > 1e9
    state = replace(account(), market=snapshot)
    qty = 10
    gate = RiskGate()
    assert gate.check(buy("AAPL", qty=qty), state, ny(NOW)).approved
    strict = RiskGate(RiskLimits(min_avg_dollar_volume=aapl.avg_dollar_volume * 2))
    assert strict.check(buy("AAPL", qty=qty), state, ny(NOW)).rule == "liquidity_filter"


def test_market_snapshot_as_of_a_date_uses_no_later_bar():
    bars = sample_bars(["AAPL"], start="2013-05-01", end="2013-06-28")
    early = market_snapshot(bars, at="2013-05-31")
    assert early["AAPL"].last_price == pytest.approx(bars.close["AAPL"].loc[:"2013-05-31"].iloc[-1])


def test_a_batch_works_out_the_days_losses_once(monkeypatch):
    """A 500-symbol step checks its orders one after another, each against the state with
    those before it sent: the day's and the week's losses, which no order changes, are
    worked out once for all of them."""
    worked = []
    real = context.period_losses
    monkeypatch.setattr(context, "period_losses", lambda *a, **k: worked.append(1) or real(*a, **k))
    history = marks(("2024-03-01 16:00", 100_000), ("2024-03-05 16:00", 99_000))
    state = account(equity=99_000, cash=89_000, equity_marks=history)
    decisions = RiskGate().check_all([buy(s) for s in ("AAPL", "MSFT", "IBM")], state, ny(NOW))
    assert [d.approved for d in decisions] == [True, True, True]
    assert len(worked) == 1
