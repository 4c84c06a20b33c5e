"""Drift: a config's live trading explained against its backtest, cause by cause.

A replay through the paper broker makes the backtest's trades (parity); here three
differences are injected into one, as they happen in real trading -- the risk gate denies
a buy, a trader closes a position by hand, a fill slips -- and each must come back
attributed to its cause, the parts adding up to the gap in equity.
"""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from engine.brokers import open_broker
from engine.data.repository import load_bars
from engine.live import book_queries
from engine.live.clock import ReplayClock
from engine.live.commands import ClosePosition, SetRiskLimits, submit_command
from engine.live.decisions import warmup_bars
from engine.live.drift import TradingRecord, backtest_from, drift_report, explain, round_trips
from engine.live.feed import FrameFeed
from engine.live.loop import LiveLoop
from engine.live.parity import PARITY_RULES
from engine.live.records import LoopOptions
from engine.live.runner import run_replay
from engine.risk import gate_rules as risk_rules
from tests.live.conftest import REPLAY_LIMITS, allow_replay, approve
from tests.live.test_cli import wb

START, END = date(2012, 1, 3), date(2012, 4, 30)
#: The parity replay's gate, plus the restricted list a trader uses to stop one buy.
GATE = (*PARITY_RULES, risk_rules.restricted_list)
SLIP = 1.01  # the slipped fill: 1% above the open the backtest fills at


def _replay(store, config, *, account, bump=None, before_step=None, end=END):
    """``config`` replayed from START to ``end`` through a paper account of the real store.

    ``bump`` (symbol, day) raises that open by SLIP in the bars the paper broker fills on
    (the stored bars, which the backtest reads, stay as they are); ``before_step(day)``
    runs before each step, after the one before it.
    """
    history = pd.Timestamp(START) - pd.Timedelta(days=int(warmup_bars(config) * 1.6) + 10)
    bars = load_bars(store, config.universe, history, end)
    if bump is not None:
        opens = bars.open.copy()
        opens.loc[pd.Timestamp(bump[1]), bump[0]] *= SLIP
        bars = bars.with_frames(open=opens)
    clock, settings = ReplayClock(), config.settings
    broker = open_broker("paper", store=store, opening_cash=settings.init_cash,
                         fees=settings.fees, slippage=settings.slippage, account=account,
                         actor="loop", now=clock.now)  # fmt: skip
    feed = FrameFeed(bars)
    options = LoopOptions(mode="replay", gate_rules=GATE, fractional_shares=True)
    loop = LiveLoop(store, broker, [config], feed, clock, options=options)
    days = feed.sessions(START, end)
    after = {days[k]: days[k + 1] for k in range(len(days) - 1)}
    run_replay(loop, days, sleep=lambda s: None,
               on_step=lambda report: before_step and after.get(report.bar)
               and before_step(after[report.bar]))  # fmt: skip
    return loop, bars


@pytest.fixture
def drifted(sample_store):
    """A Donchian config replayed with a denial, a manual close and a slipped fill injected."""
    store = sample_store
    config = approve(store, "donchian_breakout",
                     {"entry_window": 10, "exit_window": 5, "atr_window": 10},
                     ["AAPL", "BA", "CAT", "GE"], stop="strategy", size="risk",
                     risk_per_trade=0.01, max_positions=3, fees=0.001, slippage=0.0005)  # fmt: skip
    allow_replay(store)
    # What the backtest does over the period, to aim the injections at its trades.
    history = pd.Timestamp(START) - pd.Timedelta(days=int(warmup_bars(config) * 1.6) + 10)
    bars = load_bars(store, config.universe, history, END)
    trades = backtest_from(config, bars, START, config.settings.init_cash).trades
    sessions = bars.index

    def trade(symbol, entry):  # the backtest's trade, which the injections aim at
        found = trades[(trades["symbol"] == symbol) & (trades["entry_date"] == entry)]
        assert len(found) == 1 and found.iloc[0]["status"] == "closed", trades
        return found.iloc[0]

    denied = trade("CAT", pd.Timestamp("2012-02-22"))
    slipped = trade("GE", pd.Timestamp("2012-02-22"))  # left by a signal, not a stop
    closed_by_hand = trade("GE", pd.Timestamp("2012-03-14"))  # held 7 sessions

    def decided(trade):  # the session whose close decided a trade's entry
        return sessions[sessions.searchsorted(trade["entry_date"]) - 1].date()

    close_day = sessions[sessions.searchsorted(closed_by_hand["entry_date"]) + 2].date()
    command = {}

    def before_step(day):
        if day == decided(denied):  # the restricted list stops this one buy
            limits = REPLAY_LIMITS.model_copy(
                update={"restricted_symbols": frozenset([denied["symbol"]])}
            )
            submit_command(store, SetRiskLimits(limits=limits.to_mapping()), actor="risk-desk")
        elif day == sessions[sessions.searchsorted(pd.Timestamp(decided(denied))) + 1].date():
            submit_command(
                store, SetRiskLimits(limits=REPLAY_LIMITS.to_mapping()), actor="risk-desk"
            )
        if day == close_day:
            command["id"] = submit_command(
                store, ClosePosition(symbol=closed_by_hand["symbol"]), actor="bob"
            )

    loop, _ = _replay(store, config, account="drift", bump=(slipped["symbol"], slipped["entry_date"]),
                      before_step=before_step)  # fmt: skip
    return store, config, loop, denied, closed_by_hand, slipped, command["id"]


def _row(report, category, cause, trade):
    rows = report.attribution
    found = rows[(rows["category"] == category) & (rows["cause"] == cause)
                 & (rows["symbol"] == trade["symbol"])
                 & (rows["entry_date"] == trade["entry_date"].date())]  # fmt: skip
    assert len(found) == 1, f"no single {category}/{cause} row for {trade['symbol']}:\n{rows}"
    return found.iloc[0]


def test_each_injected_difference_is_attributed_to_its_cause(drifted, data_dir, capsys):
    store, config, loop, denied, closed_by_hand, slipped, command_id = drifted
    report = drift_report(store, config.config_id)
    assert (report.book, report.start, report.end) == (loop.book, START, END)

    # The curves: the config is the book's only one, so its live equity is the account's.
    assert report.equity["live"].iloc[-1] == pytest.approx(loop.broker.account().equity)
    assert report.equity["backtest"].iloc[0] == pytest.approx(config.settings.init_cash, rel=1e-3)
    # Every dollar of the gap is put down to a cause.
    assert abs(report.gap) > 1 and abs(report.unexplained) < 0.05
    # Dividends the paper book was paid while it held are a part of the gap of their own.
    paid = book_queries.adjustments(store, loop.book)
    parts = report.attribution[report.attribution["category"] == "corporate actions"]
    assert set(parts["cause"]) == {"dividend"}
    assert parts["amount"].sum() == pytest.approx(paid["cash"].sum()) and paid["cash"].sum() > 0

    row = _row(report, "trades", "gate denial", denied)
    assert row["amount"] == pytest.approx(-denied["pnl"])
    assert "restricted list" in row["detail"]

    row = _row(report, "trades", "trader command", closed_by_hand)
    assert f"close_position #{command_id} by bob" in row["detail"]

    row = _row(report, "fill prices", "slippage", slipped)
    bought = [f for f in loop.broker.fills() if f.symbol == slipped["symbol"] and f.side == "buy"
              and pd.Timestamp(f.filled_at).tz_localize(None).normalize() <= slipped["entry_date"]]  # fmt: skip
    assert row["amount"] == pytest.approx(-bought[-1].qty * bought[-1].price * (1 - 1 / SLIP))
    fill = report.fills[(report.fills["symbol"] == slipped["symbol"])
                        & (report.fills["bar_date"] == slipped["entry_date"].date())
                        & (report.fills["side"] == "buy")].iloc[0]  # fmt: skip
    assert fill["match"] == "matched" and fill["slippage_bps"] == pytest.approx(100, abs=0.01)
    # The other matched fills filled where the model did.
    others = report.fills[(report.fills["match"] == "matched")].drop(fill.name)
    assert others["slippage_bps"].abs().max() < 0.01

    # Fills the backtest made that the book did not carry the cause of their trade.
    missed = report.fills[(report.fills["symbol"] == denied["symbol"])
                          & (report.fills["bar_date"] == denied["entry_date"].date())]  # fmt: skip
    assert missed[["match", "cause"]].values.tolist() == [["backtest only", "gate denial"]]

    # The same from the shell: JSON, and a table that names the causes.
    code, out, _ = wb(data_dir, "drift", "--config", config.config_id[:8], "--json", capsys=capsys)
    shown = json.loads(out)
    assert code == 0 and shown["gap"] == pytest.approx(report.gap)
    assert {"gate denial", "trader command", "slippage"} <= {r["cause"] for r in shown["by_cause"]}
    code, out, _ = wb(data_dir, "drift", "--config", config.config_id, "--fills", capsys=capsys)
    assert code == 0 and "prices as traded by the loop, US$" in out
    assert f"{denied['symbol']} entered {denied['entry_date'].date()}: gate denial" in out
    assert "+100.0" in out  # the slipped fill, in bps


def test_a_ladders_legs_are_matched_leg_by_leg_and_leave_nothing_unexplained(sample_store):
    """A scale-in ladder traded exactly as backtested: each leg is a trade of its own on both
    sides, and a sale of every leg at one price is one fill, so nothing is a difference."""
    store = sample_store
    config = approve(store, "donchian_breakout",
                     {"entry_window": 10, "exit_window": 5, "atr_window": 10},
                     ["AAPL", "CAT", "GE"], stop="strategy", size="fraction", fraction=0.15,
                     max_positions=3, trailing_stop=False,
                     ladder=[{"at": 0.005, "size": 0.5}, {"at": 0.015, "size": 0.5, "stop": 0.02}])  # fmt: skip
    allow_replay(store)
    _replay(store, config, account="ladder", end=date(2012, 3, 23))
    report = drift_report(store, config.config_id)

    fills = report.fills
    assert (fills["match"] == "matched").all(), fills
    assert fills["slippage_bps"].abs().max() < 0.01
    # Each sale of all legs at one exit is one row, its shares the legs' together.
    assert not fills.duplicated(["symbol", "side", "bar_date"]).any()
    assert fills["qty"].to_numpy() == pytest.approx(fills["model_qty"].to_numpy(), rel=0.01)
    entries = fills[fills["side"] == "buy"]
    assert entries["client_order_id"].str.contains("-buy3-").any(), "the replay should add legs"
    assert (fills["client_order_id"].str.endswith("-stop")).any(), "a leg's own stop should fill"
    # No trade missed, added or moved; what is left is the dividend cash's effect on sizing.
    parts = report.attribution
    assert not (parts["category"] == "trades").any(), parts
    assert abs(report.unexplained) < 0.05


def test_drift_refuses_a_config_that_never_traded_and_a_book_it_did_not_trade_in(
    drifted, data_dir, capsys
):
    store, config, loop, *_ = drifted
    idle = approve(store, "sma_crossover", {"fast": 5, "slow": 20}, ["AAPL"])
    code, out, err = wb(data_dir, "drift", "--config", idle.config_id, capsys=capsys)
    assert code == 2 and out == ""
    assert (
        err.splitlines()[0]
        == f"error: config {idle.config_id} has not traded in any book in this data dir"
    )
    code, _, err = wb(data_dir, "drift", "--config", config.config_id, "--book", "alpaca:live",
                      capsys=capsys)  # fmt: skip
    assert code == 2 and f"it traded in: {loop.book}" in err
    code, _, err = wb(data_dir, "drift", "--config", "ffffffff", capsys=capsys)
    assert code == 2 and "ffffffff" in err


# -- the attribution on plain data -----------------------------------------------------------


def _bars(days, closes):
    from engine.data.bars import Bars

    index = pd.DatetimeIndex(days)
    frame = pd.DataFrame({"AAPL": closes}, index=index)
    return Bars(open=frame, high=frame, low=frame, close=frame, volume=frame * 0 + 1e6)


def test_whole_shares_fees_and_a_changed_bar_are_told_apart():
    days = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])
    bars = _bars(days, [100.0, 101.0, 103.0, 104.0])
    model = pd.DataFrame([{
        "symbol": "AAPL", "entry_date": days[1], "exit_date": days[3], "size": 10.6,
        "entry_price": 101.0, "exit_price": 104.0, "fees": 2.0, "pnl": 10.6 * 3 - 2.0,
    }])  # fmt: skip
    # Live bought 10 whole shares at 101.5 after deciding at a close of 100.2 (the stored
    # close of that bar is 100 now: re-adjusted by 0.2%), sold at 104, paid 3 in fees.
    fills = pd.DataFrame([
        {"bar_date": days[1].date(), "symbol": "AAPL", "side": "buy", "qty": 10.0, "price": 101.5,
         "fee": 1.5, "purpose": "entry", "decision_bar": days[0].date(), "decision_price": 100.2,
         "client_order_id": "abcd-AAPL-buy-20240102"},
        {"bar_date": days[3].date(), "symbol": "AAPL", "side": "sell", "qty": 10.0, "price": 104.0,
         "fee": 1.5, "purpose": "exit", "decision_bar": days[2].date(), "decision_price": 103.0,
         "client_order_id": "abcd-AAPL-sell-20240104"},
    ])  # fmt: skip
    live = round_trips(fills, bars.close.iloc[-1])
    parts = explain(live, model, bars, TradingRecord(), whole_shares=True)
    amounts = parts.set_index(["category", "cause"])["amount"]
    assert amounts["fill prices", "changed data"] == pytest.approx(-10 * 101.0 * 0.002)
    assert amounts["fill prices", "slippage"] == pytest.approx(-10 * (101.5 - 101.0 * 1.002))
    assert amounts["costs", "fees"] == pytest.approx(-1.0)
    assert amounts["sizing", "whole shares"] == pytest.approx(-0.6 * 3.0)
    assert ("sizing", "cash") not in amounts.index
    assert amounts.sum() == pytest.approx(live["pnl"].sum() - model["pnl"].sum())


def test_a_missed_trade_on_a_day_without_a_bar_is_late_data():
    days = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"])
    bars = _bars(days, [100.0, 101.0, 103.0])
    model = pd.DataFrame([{
        "symbol": "AAPL", "entry_date": days[1], "exit_date": pd.NaT, "size": 5.0,
        "entry_price": 101.0, "exit_price": 103.0, "fees": 0.0, "pnl": 10.0,
    }])  # fmt: skip
    live = round_trips(pd.DataFrame(columns=["bar_date", "symbol", "side", "qty", "price", "fee",
                                             "purpose", "decision_price", "client_order_id"]),
                       bars.close.iloc[-1])  # fmt: skip
    record = TradingRecord(
        stale=frozenset({days[0].date()}), stepped=frozenset(d.date() for d in days)
    )
    parts = explain(live, model, bars, record, whole_shares=False)
    assert parts[["category", "cause", "amount"]].values.tolist() == [
        ["trades", "late data", -10.0]
    ]


def test_round_trips_read_a_session_in_the_order_a_long_book_allows():
    days = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"])

    def fill(day, symbol, side, qty, price, cid):
        return {"bar_date": day.date(), "symbol": symbol, "side": side, "qty": qty,
                "price": price, "fee": 0.0, "purpose": "entry" if side == "buy" else "exit",
                "decision_price": None, "client_order_id": cid}  # fmt: skip

    # Newest first, as the book's query lists them, a session's fills sharing one time: on
    # day 2 AAPL exits and re-enters at the same open; on day 3 a GE entry is stopped out.
    fills = pd.DataFrame([
        fill(days[2], "GE", "sell", 5, 95.0, "ge-stop"), fill(days[2], "GE", "buy", 5, 100.0, "ge-buy"),
        fill(days[1], "AAPL", "buy", 4, 102.0, "aapl-buy-2"),
        fill(days[1], "AAPL", "sell", 10, 101.0, "aapl-sell"),
        fill(days[0], "AAPL", "buy", 10, 100.0, "aapl-buy-1"),
    ])  # fmt: skip
    trades = round_trips(fills, pd.Series({"AAPL": 96.0, "GE": 97.0}))
    trades["exit_id"] = trades["exit_id"].fillna("still open")
    assert trades[["entry_id", "exit_id", "size", "pnl"]].values.tolist() == [
        ["aapl-buy-1", "aapl-sell", 10, 10.0],
        ["aapl-buy-2", "still open", 4, 4 * (96.0 - 102.0)],  # still open: marked at the last close
        ["ge-buy", "ge-stop", 5, -25.0],
    ]
