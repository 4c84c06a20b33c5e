"""Parity: a config replayed by the live loop through the paper broker trades as its backtest did.

:func:`parity_report` runs both on the same stored bars -- the vectorbt backtest
(:func:`engine.backtest.run_backtest`) and a replay of the live loop, bar by bar, with the
paper broker in a private in-memory store -- and compares their trades: symbol, entry and
exit bars, size, prices and P&L. ``wb parity`` prints it; the tests hold every built-in
strategy to it, on daily bars and on intraday bars (where a replay steps every bar close
of the calendar, and a trade is known by the bar it filled on, not only its date).

The replay runs the loop's own code with one difference: the risk gate keeps only the
rules about the order itself and the trading state (:data:`PARITY_RULES`), because the
backtest does not model the trader's risk limits (drawdown halts, exposure caps, the
session clock); a limit that would have changed a trade is the gate doing its job, not a
difference between research and production. Entries may buy fractions of a share, as in
the backtest.

A config that asks a trader to approve its entries (``approve_entries``) is replayed as if
a trader approved each one in time, through the loop's own approval path; each entry
that needed approval is listed as such (:attr:`ParityReport.approvals`), and a backtest
trade the replay could not make only because its approval was still pending (the last
bar's) is an entry awaiting approval, not a mismatch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from engine.backtest.runner import TRADE_COLUMNS, bar_time, run_backtest
from engine.brokers import open_broker
from engine.config.models import StrategyConfig
from engine.data import bar_sizes
from engine.data.bars import Bars
from engine.data.repository import load_bars
from engine.live import approvals as approval
from engine.live import ids
from engine.live.alerts import LogNotifier, Notifiers
from engine.live.clock import ReplayClock
from engine.live.decisions import warmup_bars
from engine.live.feed import FrameFeed
from engine.live.loop import LiveLoop, LoopOptions
from engine.live.scratch import ScratchStore
from engine.risk import gate_rules as risk_rules

#: The gate's rules in a parity replay: the order's own shape and the trading state only.
PARITY_RULES = (
    risk_rules.kill_switch,
    risk_rules.trading_state,
    risk_rules.paused_strategy,
    risk_rules.long_only,
    risk_rules.duplicate_order,
)

#: What both sides record of a trade (the backtest's columns up to its P&L; return, status
#: and exit reason are the backtest's own).
TRADE_FIELDS = TRADE_COLUMNS[: TRADE_COLUMNS.index("pnl") + 1]
#: Relative tolerances: prices and sizes agree to rounding; P&L to fee rounding.
PRICE_RTOL = 1e-9
SIZE_RTOL = 1e-6
PNL_ATOL = 0.01
NEW_YORK = "America/New_York"


@dataclass(frozen=True)
class TradeDifference:
    """A trade the two sides do not agree on, and how."""

    what: str  # "only in the backtest", "only in the replay", or "differs"
    symbol: str
    entry_date: pd.Timestamp  # the entry's bar: a session date, or an intraday bar's start
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (backtest, replay)
    leg: int = 1  # a scale-in ladder's leg (1: the signal's entry)

    @property
    def entered(self) -> str:
        """The entry's bar as a person reads it: its date, or its date and New York time."""
        return bar_time(self.entry_date, self.entry_date.tzinfo is not None)

    def line(self) -> str:
        leg = f" (leg {self.leg})" if self.leg > 1 else ""
        head = f"{self.symbol} entered {self.entered}{leg}: {self.what}"
        if not self.fields:
            return head
        return head + ": " + ", ".join(f"{k} {a} vs {b}" for k, (a, b) in self.fields.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "symbol": self.symbol,
            "entry_date": self.entered,
            "leg": self.leg,
            "fields": {k: {"backtest": a, "replay": b} for k, (a, b) in self.fields.items()},
        }


@dataclass(frozen=True)
class ParityReport:
    """Both sides' trades and every difference between them."""

    config_id: str
    start: date
    end: date
    backtest: pd.DataFrame
    replay: pd.DataFrame
    differences: list[TradeDifference]
    backtest_equity: float
    replay_equity: float
    #: Entries that waited for a trader's approval (approved in the replay, or awaiting
    #: it at the end): not mismatches.
    approvals: list[TradeDifference] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {
            "config_id": self.config_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "backtest_trades": len(self.backtest),
            "replay_trades": len(self.replay),
            "matches": self.matches,
            "backtest_final_equity": self.backtest_equity,
            "replay_final_equity": self.replay_equity,
            "differences": [d.to_dict() for d in self.differences],
            "approvals": [d.to_dict() for d in self.approvals],
        }


def parity_report(
    store, config_id: str, start=None, end=None, *, progress: bool = False
) -> ParityReport:
    """The backtest and the replay of the stored config ``config_id`` over stored bars (of
    its bar size), compared."""
    from engine.research.config_registry import get_config

    config = get_config(store, config_id).config
    bars = load_bars(store, config.universe, start, end, bar_size=config.bar_size)
    return compare_config(config, bars, progress=progress)


def compare_config(config: StrategyConfig, bars: Bars, *, progress: bool = False) -> ParityReport:
    """The backtest of ``config`` on ``bars`` and its replay through the live loop, compared
    (leg by leg for a config with a scale-in ladder)."""
    backtest = run_backtest(bars, config.strategy, config.params, config.settings)
    replay, equity, proposals = replay_trades(config, bars, progress=progress)
    ours = at_their_moment(backtest.trades, bars)
    if config.settings.ladder:
        ours["leg"] = backtest.trades["leg"]
    else:
        replay = replay.drop(columns="leg")
    differences, waited = approval_differences(compare_trades(ours, replay), proposals)
    return ParityReport(
        config_id=config.config_id,
        start=bars.index[0].date(),
        end=bars.index[-1].date(),
        backtest=ours,
        replay=replay,
        differences=differences,
        backtest_equity=float(backtest.equity.iloc[-1]),
        replay_equity=equity,
        approvals=waited,
    )


def at_their_moment(trades: pd.DataFrame, bars: Bars) -> pd.DataFrame:
    """The backtest's ``trades`` (TRADE_FIELDS) with each intraday flat-by-close sale at the
    moment it filled: its bar's close, which is when the next bar opens.

    The backtest names a fill by the row of its bar, the bar's start; a sale at a bar's
    close is the replay's sale sent at that close, which fills as the next bar opens, and
    the replay names it by that moment.
    """
    table = trades[TRADE_FIELDS].copy()
    flat = (trades["exit_reason"] == "close").to_numpy()
    if not bars.is_intraday or not flat.any():
        return table
    sold = pd.DatetimeIndex(table.loc[flat, "exit_date"])
    ends = sold + bar_sizes.length(bars.bar_size)
    close = pd.DatetimeIndex(bars.session_close.reindex(sold))  # a session's last bar may be short
    table.loc[flat, "exit_date"] = ends.where(ends < close, close)
    return table


def replay_trades(config: StrategyConfig, bars: Bars, *, progress: bool = False):
    """(the trades, the final equity, the proposals) of the live loop replaying ``config``
    over ``bars``, a trader approving each proposed entry in time (before the next bar)."""
    store = ScratchStore()
    try:
        clock = ReplayClock()
        settings = config.settings
        broker = open_broker(
            "paper",
            store=store,
            opening_cash=settings.init_cash,
            fees=settings.fees,
            slippage=settings.slippage,
            account="parity",
            actor="parity",
            now=clock.now,
        )
        feed = FrameFeed(bars)
        options = LoopOptions(
            mode="replay", gate_rules=PARITY_RULES, check_registry=False, fractional_shares=True
        )
        loop = LiveLoop(
            store, broker, [config], feed, clock, options=options, notifier=Notifiers(LogNotifier())
        )
        # Daily: each session. Intraday: each bar close of the calendar, as paper trading.
        days = feed.bar_closes() if bars.is_intraday else feed.sessions()
        days = from_first_decision(days, feed, warmup_bars(config))
        loop.start(days[0])
        for day in _progress(days, progress, config.config_id):
            loop.step(day)
            for waiting in approval.listed(store, loop.book, waiting_only=True):
                approval.ask(store, waiting.id, "parity", approve=True)
        trades = trades_from_fills(broker.fills(), bars)
        return trades, broker.account().equity, approval.listed(store, loop.book, limit=100_000)
    finally:
        store.close()


def from_first_decision(days: list, feed: FrameFeed, warmup: int) -> list:
    """``days`` from the first whose step can decide, its window holding the strategy's
    ``warmup`` bars (the last day, if none can).

    A step before it has no signal, so no order and no position: skipping it changes no
    trade, and a long warm-up (the classifier's features need a hundred bars) is not
    stepped through for nothing.
    """
    first = next((i for i, d in enumerate(days) if len(feed.window(d)) >= warmup), len(days) - 1)
    return days[first:]


def _progress(days, show: bool, label: str):
    if not show:
        return days
    from tqdm import tqdm

    return tqdm(days, desc=f"replay {label}", unit="bar")


def trades_from_fills(fills, bars: Bars) -> pd.DataFrame:
    """Round trips from a long-only book's fills, one per leg: each buy opens a trade (the
    leg its order id names, 1 without a ladder), sells close them.

    A leg's stop sells that leg; any other sale (an exit) sells the symbol's open legs
    from the first, as the backtest sells every leg at one price. A trade still open is
    marked at its symbol's last close, as the backtest marks it. Each fill is known by its
    bar (:func:`fill_bar`), as the backtest knows it.
    """
    marks = bars.close.ffill().iloc[-1]
    open_: dict[str, dict[int, dict]] = {}
    rows = []
    for fill in fills:
        day = fill_bar(fill.filled_at, bars.is_intraday)
        leg = ids.leg_of(fill.client_order_id)
        legs = open_.setdefault(fill.symbol, {})
        if fill.side == "buy":
            legs[leg] = {
                "symbol": fill.symbol, "entry_date": day, "size": fill.qty,
                "entry_price": fill.price, "fees": fill.fee, "left": fill.qty, "proceeds": 0.0,
                "leg": leg,
            }  # fmt: skip
            continue
        for number, take in legs_sold(legs, fill.qty, fill.client_order_id):
            trade = legs[number]
            trade["left"] -= take
            trade["fees"] += fill.fee * take / fill.qty
            trade["proceeds"] += take * fill.price
            trade["exit_date"] = day
            if trade["left"] <= 1e-9 * trade["size"]:
                rows.append(_closed(legs.pop(number)))
    for symbol, legs in open_.items():
        for trade in legs.values():
            trade["proceeds"] += trade["left"] * float(marks[symbol])
            trade["exit_date"] = pd.NaT
            rows.append(_closed(trade))
    table = pd.DataFrame(rows, columns=[*TRADE_FIELDS, "leg"])
    return table.sort_values(["entry_date", "symbol", "leg"], ignore_index=True)


def legs_sold(legs: dict[int, dict], qty: float, client_order_id: str) -> list[tuple[int, float]]:
    """How a sale of ``qty`` shares splits over a symbol's open legs (leg number -> its trade,
    with the shares it has ``left``): [(leg, shares)].

    A protective stop (ours, or the one the broker attached to a leg's buy) sells its own leg;
    any other sale (an exit) sells the open legs from the first, as the backtest sells every
    leg at one price.
    """
    decided = ids.parse_decision_id(client_order_id)
    stop = decided is None or decided.action in ("stop", "protect")
    leg = ids.leg_of(client_order_id)
    sold, left = [], qty
    for number in sorted(legs, key=lambda n: (not stop or n != leg, n)):
        take = min(left, legs[number]["left"])
        if take > 0:
            sold.append((number, take))
            left -= take
    return sold


def _closed(trade: dict) -> dict:
    exit_price = trade["proceeds"] / trade["size"]
    pnl = trade["proceeds"] - trade["size"] * trade["entry_price"] - trade["fees"]
    return {**{k: trade.get(k) for k in (*TRADE_FIELDS, "leg")}, "exit_price": exit_price,
            "pnl": pnl}  # fmt: skip


def fill_bar(at, intraday: bool) -> pd.Timestamp:
    """The bar a fill at ``at`` (naive UTC) filled on, as a backtest's index knows it: its
    session date, or on intraday bars its time in New York (a fill at a bar's open is at
    that bar's start)."""
    stamp = pd.Timestamp(at)
    stamp = (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).tz_convert(NEW_YORK)
    return stamp if intraday else pd.Timestamp(stamp.date())


def approval_differences(differences: list[TradeDifference], proposals) -> tuple[list, list]:
    """(the real mismatches, the entries that waited for approval, said as such).

    A trade only in the backtest whose entry the replay proposed but did not send (still
    awaiting approval at the end) is no mismatch: it is "entry awaiting approval".
    """
    waited, real = [], []
    for difference in differences:
        entered = _session(difference.entry_date)
        unsent = [
            p for p in proposals
            if p.symbol == difference.symbol and p.state != "sent"
            and difference.what == "only in the backtest"
            and 0 <= (entered - p.decision_bar).days <= 5  # filled at the next bar, a weekend between
        ]  # fmt: skip
        if unsent:
            p = max(unsent, key=lambda x: x.decided_at)
            waited.append(TradeDifference(f"entry awaiting approval ({p.state}: {p.why})",
                                          difference.symbol, difference.entry_date))  # fmt: skip
        else:
            real.append(difference)
    for p in proposals:
        if p.state == "sent":
            waited.append(TradeDifference(f"entry needing approval (approved in the replay: {p.why})",
                                          p.symbol, _decided(p)))  # fmt: skip
    return real, sorted(waited, key=lambda d: (d.entry_date, d.symbol))


def _session(entry: pd.Timestamp) -> date:
    """The New York session of a trade's entry bar (a date, or an intraday bar's start)."""
    entry = pd.Timestamp(entry)
    return (entry.tz_convert(NEW_YORK) if entry.tzinfo is not None else entry).date()


def _decided(proposal) -> pd.Timestamp:
    """The bar a proposal was decided at, as a parity line names a bar."""
    decision = ids.parse_decision_id(proposal.client_order_id)
    if decision is None or not decision.at:
        return pd.Timestamp(proposal.decision_bar)
    return pd.Timestamp(proposal.decided_at).tz_localize("UTC").tz_convert(NEW_YORK)


def compare_trades(backtest: pd.DataFrame, replay: pd.DataFrame) -> list[TradeDifference]:
    """Every trade the two tables do not agree on, matched by symbol and entry bar (and leg,
    where the tables have legs)."""
    ours = {_trade_key(r): r for r in backtest.itertuples()}
    theirs = {_trade_key(r): r for r in replay.itertuples()}
    differences = []
    for key in sorted(set(ours) | set(theirs)):
        symbol, entry, leg = key
        a, b = ours.get(key), theirs.get(key)
        if a is None or b is None:
            what = "only in the replay" if a is None else "only in the backtest"
            differences.append(TradeDifference(what, symbol, entry, leg=leg))
            continue
        fields = {}
        if not same_bar(a.exit_date, b.exit_date):
            fields["exit_date"] = (bar_text(a.exit_date), bar_text(b.exit_date))
        for name, rtol in (
            ("size", SIZE_RTOL),
            ("entry_price", PRICE_RTOL),
            ("exit_price", PRICE_RTOL),
        ):
            x, y = getattr(a, name), getattr(b, name)
            if not math.isclose(x, y, rel_tol=rtol, abs_tol=1e-12):
                fields[name] = (x, y)
        tolerance = PNL_ATOL + SIZE_RTOL * abs(a.size * a.entry_price)
        if abs(a.pnl - b.pnl) > tolerance:
            fields["pnl"] = (a.pnl, b.pnl)
        if fields:
            differences.append(TradeDifference("differs", symbol, entry, fields, leg))
    return differences


def _trade_key(row) -> tuple[str, pd.Timestamp, int]:
    return row.symbol, pd.Timestamp(row.entry_date), int(getattr(row, "leg", 1))


def same_bar(a, b) -> bool:
    """Whether two bar times are one bar: the same date for daily bars (tz-naive), the same
    moment for intraday ones (both missing counts as the same)."""
    if pd.isna(a) or pd.isna(b):
        return pd.isna(a) and pd.isna(b)
    a, b = pd.Timestamp(a), pd.Timestamp(b)
    if a.tzinfo is None and b.tzinfo is None:
        return same_day(a, b)
    return a.tzinfo is not None and b.tzinfo is not None and a == b


def bar_text(value) -> str | None:
    """A bar time as a person reads it (:func:`~engine.backtest.runner.bar_time`), None for
    a missing one."""
    if pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    return bar_time(stamp, stamp.tzinfo is not None)


def same_day(a, b) -> bool:
    """Whether two times fall on one date (both missing counts as the same)."""
    if pd.isna(a) or pd.isna(b):
        return pd.isna(a) and pd.isna(b)
    return pd.Timestamp(a).normalize() == pd.Timestamp(b).normalize()


def day_text(value) -> str | None:
    """The date as YYYY-MM-DD, None for a missing one."""
    return None if pd.isna(value) else pd.Timestamp(value).date().isoformat()
