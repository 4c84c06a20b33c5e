"""Drift: a config's live trading explained against its backtest over the same sessions.

:func:`drift_report` re-runs the config's backtest on the stored bars over the sessions a
book traded it (entries only from the first session the live loop stepped, with the
book's starting cash for the config), matches every live fill to the backtest's fill, and
explains the gap between the two equity curves, trade by trade, in four parts:

- **trades**: a trade the backtest made and the book did not (or the other way round),
  or one whose exit moved; each with its cause: a risk-gate denial, a trader's command,
  late data (a step skipped for want of a bar), the loop not running, a knock-on of an
  earlier difference (a symbol still held on one side), else unexplained;
- **fill prices**: each live fill against the backtest's fill of the same order (the
  model's price, its slippage setting included), in dollars and basis points; this is the
  implementation shortfall. Where the close the loop decided at differs from the stored
  close now (a bar revised or re-adjusted since), that part is **changed data**;
- **costs**: fees paid against the fees the backtest charged;
- **sizing**: shares bought against the backtest's: whole shares where the book buys
  whole shares and the backtest fractions, else the sub-book's cash and equity.

The parts add up to the gap; what they do not explain is shown as ``unexplained``.

Prices are those the loop traded on: the broker's fills and the stored bars the loop
reads, which the backtest reads too.

The pure part, :func:`explain`, takes plain frames; :func:`drift_report` reads the book
and runs the backtest.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from engine.config.models import StrategyConfig
from engine.data.bars import Bars
from engine.data.repository import load_bars
from engine.live import book_queries
from engine.live.commands import describe_commands
from engine.live.decisions import warmup_bars
from engine.live.ids import is_command_order, leg_of
from engine.live.parity import day_text, legs_sold, same_day
from engine.risk.gate_rules import money as _usd

#: A live fill's columns that drift reads (a subset of book_queries.FILL_COLUMNS).
LIVE_FILL_COLUMNS = [
    "bar_date", "symbol", "side", "qty", "price", "fee", "purpose", "decision_bar",
    "decision_price", "client_order_id",
]  # fmt: skip
ATTRIBUTION_COLUMNS = ["category", "cause", "symbol", "entry_date", "amount", "detail"]
CATEGORIES = ("trades", "fill prices", "costs", "sizing", "corporate actions")
#: A decision close that differs from the stored close by more than this (relative) changed.
DATA_RTOL = 1e-6


@dataclass(frozen=True)
class TradingRecord:
    """What the book's records say beyond its fills: the reasons a trade did not happen.

    ``denials`` maps (symbol, side, decision bar) to the gate's reason; ``commands`` a
    trader's command id to what it was and who sent it; ``stale`` the sessions the loop
    skipped for want of a bar; ``stepped`` the sessions it stepped.
    """

    denials: dict[tuple[str, str, date], str] = field(default_factory=dict)
    commands: dict[int, str] = field(default_factory=dict)
    stale: frozenset[date] = frozenset()
    stepped: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Drift:
    """A config's live equity against its backtest's, and the gap explained."""

    config_id: str
    book: str
    start: date
    end: date
    #: Per session: the config's live equity and the backtest's (same starting cash).
    equity: pd.DataFrame
    #: One row per part of the gap (ATTRIBUTION_COLUMNS); ``amount`` in dollars, + = live ahead.
    attribution: pd.DataFrame
    #: Every fill of either side matched: symbol, side, bar_date, live and model qty and
    #: price, slippage in bps (+ = cost), the match and its cause.
    fills: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def gap(self) -> float:
        """Live final equity minus the backtest's, in dollars."""
        return float(self.equity["live"].iloc[-1] - self.equity["backtest"].iloc[-1])

    @property
    def unexplained(self) -> float:
        return self.gap - float(self.attribution["amount"].sum())

    @property
    def mean_slippage_bps(self) -> float | None:
        """The mean slippage of the matched fills against the model, in bps (+ = cost)."""
        slipped = self.fills["slippage_bps"].dropna()
        return float(slipped.mean()) if len(slipped) else None

    def by_cause(self) -> pd.DataFrame:
        """The attribution summed by category and cause, biggest first."""
        summed = self.attribution.groupby(["category", "cause"], as_index=False).agg(
            amount=("amount", "sum"), items=("amount", "size")
        )
        return summed.reindex(summed["amount"].abs().sort_values(ascending=False).index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config_id": self.config_id,
            "book": self.book,
            "start": self.start,
            "end": self.end,
            "prices": "as traded by the loop (the broker's fills, the stored bars it reads)",
            "currency": "USD",
            "live_final_equity": float(self.equity["live"].iloc[-1]),
            "backtest_final_equity": float(self.equity["backtest"].iloc[-1]),
            "gap": self.gap,
            "unexplained": self.unexplained,
            "mean_slippage_bps": self.mean_slippage_bps,
            "by_cause": self.by_cause(),
            "attribution": self.attribution,
            "fills": self.fills,
            "equity": self.equity.reset_index(names="session"),
            "notes": list(self.notes),
        }


# -- the pure part -------------------------------------------------------------------------


def round_trips(fills: pd.DataFrame, marks: pd.Series) -> pd.DataFrame:
    """A long-only book's fills as trades, one per leg of a scale-in ladder (as the backtest
    counts them): a buy opens its leg's trade (the leg its order id names, 1 without a
    ladder; another fill of the same leg adds to it), sells close them as
    :func:`~engine.live.parity.legs_sold` splits them.

    Each trade keeps how it entered and left (client order ids, purposes, decision closes);
    one still open is marked at ``marks`` (each symbol's last close), as the backtest marks it.
    """
    rows, open_ = [], {}
    for fill in _in_session_order(fills, open_):
        legs = open_.setdefault(fill.symbol, {})
        if fill.side == "buy":
            leg = leg_of(fill.client_order_id)
            trade = legs.get(leg)
            if trade is None:
                legs[leg] = {
                    "symbol": fill.symbol, "entry_date": pd.Timestamp(fill.bar_date), "leg": leg,
                    "size": fill.qty, "cost": fill.qty * fill.price, "fees": fill.fee,
                    "left": fill.qty, "proceeds": 0.0, "entry_id": fill.client_order_id,
                    "entry_decision": fill.decision_price, "exit_id": None, "exit_purpose": None,
                    "exit_date": pd.NaT, "exit_decision": np.nan,
                }  # fmt: skip
            else:  # another fill of the leg's buy adds to its trade
                trade.update(size=trade["size"] + fill.qty, left=trade["left"] + fill.qty,
                             cost=trade["cost"] + fill.qty * fill.price,
                             fees=trade["fees"] + fill.fee)  # fmt: skip
            continue
        # A sale of shares held before the period has no open leg to close.
        for number, take in legs_sold(legs, fill.qty, fill.client_order_id):
            trade = legs[number]
            trade["left"] -= take
            trade["fees"] += fill.fee * take / fill.qty
            trade["proceeds"] += take * fill.price
            trade.update(exit_date=pd.Timestamp(fill.bar_date), exit_id=fill.client_order_id,
                         exit_purpose=fill.purpose, exit_decision=fill.decision_price)  # fmt: skip
            if trade["left"] <= 1e-9 * trade["size"]:
                rows.append(_closed(legs.pop(number)))
        if not legs:
            del open_[fill.symbol]
    for symbol, legs in open_.items():
        for trade in legs.values():
            trade["proceeds"] += trade["left"] * float(marks[symbol])
            trade["exit_date"] = pd.NaT
            rows.append(_closed(trade))
    columns = ["symbol", "entry_date", "exit_date", "size", "entry_price", "exit_price", "fees",
               "pnl", "entry_id", "exit_id", "exit_purpose", "entry_decision", "exit_decision",
               "leg"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).sort_values(
        ["entry_date", "symbol", "leg"], ignore_index=True
    )


def _in_session_order(fills: pd.DataFrame, open_: dict):
    """The fills session by session, oldest first, each session's in the only order a long
    book allows: a symbol held as the session opens sells first (an exit, then a new entry
    at the same open), one not held buys first (an entry, then its stop hit that day).

    ``open_`` is the caller's open trades, read as each session starts.
    """
    for _, today in fills.groupby("bar_date", sort=True):
        held = set(open_)
        first = [
            (side == "sell") == (symbol in held)
            for side, symbol in zip(today["side"], today["symbol"], strict=True)
        ]
        yield from (
            today.assign(_first=first)
            .sort_values("_first", ascending=False, kind="stable")
            .itertuples()
        )


def _closed(trade: dict) -> dict:
    entry_price = trade["cost"] / trade["size"]
    return {
        **trade,
        "entry_price": entry_price,
        "exit_price": trade["proceeds"] / trade["size"],
        "pnl": trade["proceeds"] - trade["cost"] - trade["fees"],
    }


def explain(
    live: pd.DataFrame,
    model: pd.DataFrame,
    bars: Bars,
    record: TradingRecord,
    *,
    whole_shares: bool,
) -> pd.DataFrame:
    """The gap between ``live`` and ``model`` trades, part by part (ATTRIBUTION_COLUMNS).

    ``live`` are :func:`round_trips`, ``model`` the backtest's trades (same columns as
    :data:`engine.backtest.runner.TRADE_COLUMNS`); both mark open trades at the same close,
    so the parts add up to the difference of their P&L, which is the equity gap.
    """
    rows: list[dict] = []
    sessions = bars.index
    closes = bars.close

    def add(category, cause, trade, amount, detail):
        if abs(amount) > 1e-9:
            rows.append({"category": category, "cause": cause, "symbol": trade.symbol,
                         "entry_date": trade.entry_date.date(), "amount": float(amount),
                         "detail": detail})  # fmt: skip

    # A trade is known by its symbol, entry and leg (a ladder's legs may enter at one open).
    ours = {(t.symbol, t.entry_date, getattr(t, "leg", 1)): t for t in model.itertuples()}
    theirs = {(t.symbol, t.entry_date, getattr(t, "leg", 1)): t for t in live.itertuples()}
    for key in sorted(set(ours) | set(theirs)):
        m, lv = ours.get(key), theirs.get(key)
        if lv is None:
            cause, why = _why_missed(m, live, sessions, record)
            add(
                "trades",
                cause,
                m,
                -m.pnl,
                f"missed: the backtest's trade made {_usd(m.pnl)}; {why}",
            )
            continue
        if m is None:
            cause, why = _why_extra(lv, model, record)
            add("trades", cause, lv, lv.pnl, f"extra: the live trade made {_usd(lv.pnl)}; {why}")
            continue
        q = lv.size
        # Entry: the model's price put in the terms the loop decided in (a bar changed
        # or re-adjusted since moves the whole price scale), then the fill against it.
        decided = _decision_bar(sessions, m.entry_date)
        rebased = m.entry_price * _ratio(lv.entry_decision, closes, m.symbol, decided)
        add("fill prices", "changed data", lv, -q * (rebased - m.entry_price),
            f"the close of {decided} the loop bought at differs from the stored close")  # fmt: skip
        add("fill prices", "slippage", lv, -q * (lv.entry_price - rebased),
            f"bought at {_usd(lv.entry_price)}, the model {_usd(rebased)}")  # fmt: skip
        if same_day(lv.exit_date, m.exit_date):
            if not pd.isna(m.exit_date):
                decided = _decision_bar(sessions, m.exit_date)
                rebased = m.exit_price * _ratio(lv.exit_decision, closes, m.symbol, decided)
                add("fill prices", "changed data", lv, q * (rebased - m.exit_price),
                    f"the close of {decided} the loop sold at differs from the stored close")  # fmt: skip
                add("fill prices", "slippage", lv, q * (lv.exit_price - rebased),
                    f"sold at {_usd(lv.exit_price)}, the model {_usd(rebased)}")  # fmt: skip
            else:  # both still open, marked at the same close
                add("fill prices", "slippage", lv, q * (lv.exit_price - m.exit_price), "mark")
        else:
            cause, why = _why_exit_moved(lv, m, sessions, record)
            add("trades", cause, lv, q * (lv.exit_price - m.exit_price),
                f"exit moved: live {day_text(lv.exit_date) or 'still open'}, backtest "
                f"{day_text(m.exit_date) or 'still open'}; {why}")  # fmt: skip
        add("costs", "fees", lv, -(lv.fees - m.fees),
            f"fees {_usd(lv.fees)} live, {_usd(m.fees)} in the backtest")  # fmt: skip
        per_share = m.exit_price - m.entry_price
        whole = math.floor(m.size + 1e-9) - m.size if whole_shares else 0.0
        add("sizing", "whole shares", lv, whole * per_share,
            f"{m.size:,.4f} shares in the backtest, whole shares live")  # fmt: skip
        add("sizing", "cash", lv, (q - m.size - whole) * per_share,
            f"{q:,.4f} shares live, {m.size:,.4f} in the backtest: the sub-book's cash and "
            "equity differed")  # fmt: skip
    return pd.DataFrame(rows, columns=ATTRIBUTION_COLUMNS)


def _why_missed(m, live: pd.DataFrame, sessions, record: TradingRecord) -> tuple[str, str]:
    """Why the book did not make the backtest's trade ``m``: (cause, in a trader's words)."""
    decided = _decision_bar(sessions, m.entry_date)
    denied = record.denials.get((m.symbol, "buy", decided))
    if denied:
        return "gate denial", f"the risk gate denied the buy decided on {decided}: {denied}"
    if decided in record.stale:
        return (
            "late data",
            f"the loop had no bar for {decided} when it stepped, so it did not decide",
        )
    if record.stepped and decided not in record.stepped:
        return "loop not running", f"the loop did not step on {decided}"
    held = _holding(live, m.symbol, m.entry_date)
    if held is not None:
        return (
            "knock-on",
            f"the book still held {m.symbol} from its trade of {day_text(held.entry_date)}",
        )
    return "unexplained", (
        "the loop decided no buy: its bars then or its sub-book's cash and slots differed"
    )


def _why_extra(lv, model: pd.DataFrame, record: TradingRecord) -> tuple[str, str]:
    """Why the book made a trade the backtest did not: (cause, in a trader's words)."""
    command = _command_of(lv.entry_id)
    if command is not None:
        return "trader command", f"bought by {record.commands.get(command, f'command {command}')}"
    held = _holding(model, lv.symbol, lv.entry_date)
    if held is not None:
        return "knock-on", (
            f"the backtest still held {lv.symbol} from its trade of {day_text(held.entry_date)}"
        )
    return "unexplained", "the backtest did not buy: the bars or the sub-book differed"


def _why_exit_moved(lv, m, sessions, record: TradingRecord) -> tuple[str, str]:
    command = _command_of(lv.exit_id)
    if command is not None:
        what = record.commands.get(command, f"command {command}")
        return "trader command", f"closed by {what}"
    if not pd.isna(m.exit_date):
        decided = _decision_bar(sessions, m.exit_date)
        denied = record.denials.get((m.symbol, "sell", decided))
        if denied:
            return "gate denial", f"the risk gate denied the sale decided on {decided}: {denied}"
        if decided in record.stale:
            return "late data", f"the loop had no bar for {decided} when it stepped"
        if record.stepped and decided not in record.stepped:
            return "loop not running", f"the loop did not step on {decided}"
    how = lv.exit_purpose or "open"
    return "unexplained", f"live exit by {how}, the backtest's by its own rules"


def _holding(trades: pd.DataFrame, symbol: str, day: pd.Timestamp):
    """The trade of ``trades`` that held ``symbol`` over ``day`` (entered before, not yet out)."""
    for t in trades.itertuples():
        if (
            t.symbol == symbol
            and t.entry_date < day
            and (pd.isna(t.exit_date) or t.exit_date >= day)
        ):
            return t
    return None


def match_fills(live_fills: pd.DataFrame, model: pd.DataFrame, attribution: pd.DataFrame
                ) -> pd.DataFrame:  # fmt: skip
    """Every fill of either side, the live one beside the backtest's of the same order.

    Matched by symbol, side and session; slippage is the live price against the model's in
    bps, positive when it cost money (a buy above it, a sell below). A fill one side alone
    has carries the cause its trade was given.
    """
    sides = []
    for t in model.itertuples():
        sides.append((t.symbol, "buy", t.entry_date, t.size, t.entry_price))
        if not pd.isna(t.exit_date):
            sides.append((t.symbol, "sell", t.exit_date, t.size, t.exit_price))
    # One row a side a session on both sides: the legs a ladder sells at one price are one sale.
    modelled = (
        pd.DataFrame(sides, columns=["symbol", "side", "bar_date", "model_qty", "model_price"])
        .assign(notional=lambda f: f["model_qty"] * f["model_price"])
        .groupby(["symbol", "side", "bar_date"], as_index=False)
        .agg(model_qty=("model_qty", "sum"), notional=("notional", "sum"))
    )
    modelled["model_price"] = modelled.pop("notional") / modelled["model_qty"]
    live = live_fills.assign(bar_date=pd.to_datetime(live_fills["bar_date"]),
                             notional=live_fills["qty"] * live_fills["price"])  # fmt: skip
    live = live.groupby(["symbol", "side", "bar_date"], as_index=False).agg(
        qty=("qty", "sum"), notional=("notional", "sum"), decision_price=("decision_price", "last"),
        client_order_id=("client_order_id", "last"), purpose=("purpose", "last"),
    )  # fmt: skip
    live["price"] = live["notional"] / live["qty"]
    both = live.drop(columns="notional").merge(
        modelled, on=["symbol", "side", "bar_date"], how="outer", indicator=True
    )
    sign = np.where(both["side"] == "buy", 1.0, -1.0)
    both["slippage_bps"] = sign * (both["price"] / both["model_price"] - 1) * 1e4
    both["vs_decision_bps"] = sign * (both["price"] / both["decision_price"] - 1) * 1e4
    both["match"] = (
        both.pop("_merge")
        .map({"both": "matched", "left_only": "live only", "right_only": "backtest only"})
        .astype(str)
    )
    both["cause"] = ""
    trades = attribution[attribution["category"] == "trades"]
    for row in trades.itertuples():
        on = (both["symbol"] == row.symbol) & (both["match"] != "matched")
        both.loc[on & (both["bar_date"] >= pd.Timestamp(row.entry_date)) & (both["cause"] == ""),
                 "cause"] = row.cause  # fmt: skip
    both["bar_date"] = both["bar_date"].dt.date
    return both.sort_values(["bar_date", "symbol", "side"], ignore_index=True)


def corporate_action_parts(actions: pd.DataFrame) -> pd.DataFrame:
    """The cash the live book took in from dividends and a split's cash in lieu, a row each
    (ATTRIBUTION_COLUMNS): the backtest trades the bars and is paid no cash for either."""
    rows = [
        {
            "category": "corporate actions",
            "cause": "dividend" if a.kind == "dividend" else "cash in lieu",
            "symbol": a.symbol,
            "entry_date": pd.Timestamp(a.ex_date).date(),
            "amount": float(a.cash),
            "detail": (
                f"{_usd(a.cash)} for {a.qty_before:,.4g} shares at {_usd(a.amount)} a share, "
                f"ex-date {pd.Timestamp(a.ex_date).date()}"
                if a.kind == "dividend"
                else f"{_usd(a.cash)} for the fraction of a share the {a.ratio:g}:1 split left"
            ),
        }
        for a in actions.itertuples()
        if pd.notna(a.cash) and abs(a.cash) > 1e-9
    ]
    return pd.DataFrame(rows, columns=ATTRIBUTION_COLUMNS)


def live_equity(
    fills: pd.DataFrame, bars: Bars, starting_cash: float, actions: pd.DataFrame | None = None
) -> pd.Series:
    """The config's live equity at each session's close: cash from its fills and from the
    splits and dividends it took in (``actions``: book_queries.adjustments rows), plus its
    positions at the close (the same marks the backtest uses)."""
    index = bars.index
    day = pd.to_datetime(fills["bar_date"])
    signed = np.where(fills["side"] == "buy", 1.0, -1.0) * fills["qty"]
    flows = (-signed * fills["price"] - fills["fee"]).groupby(day).sum()
    changes = pd.Series(signed.to_numpy(), index=[day, fills["symbol"]])
    if actions is not None and len(actions):
        # A dividend's cash and a split's cash in lieu, and the shares a split added.
        taken = pd.to_datetime(actions["ex_date"])
        flows = flows.add(actions["cash"].fillna(0.0).groupby(taken).sum(), fill_value=0.0)
        added = (actions["qty_after"] - actions["qty_before"]).fillna(0.0)
        changes = pd.concat([changes, pd.Series(added.to_numpy(), index=[taken, actions["symbol"]])])
    cash = starting_cash + flows.reindex(index, fill_value=0.0).cumsum()
    held = (
        changes.groupby(level=[0, 1]).sum().unstack(fill_value=0.0)
        .reindex(index, fill_value=0.0).cumsum()
    )  # fmt: skip
    marks = bars.close.ffill().reindex(columns=held.columns)
    return (cash + (held * marks).sum(axis=1)).rename("live")


# -- helpers --------------------------------------------------------------------------------


def _decision_bar(sessions: pd.DatetimeIndex, fill_day) -> date:
    """The session whose close decided an order that filled at ``fill_day``'s open."""
    k = sessions.searchsorted(pd.Timestamp(fill_day))
    return sessions[max(k - 1, 0)].date()


def _ratio(recorded, closes: pd.DataFrame, symbol: str, day: date) -> float:
    """The close the loop decided at over the stored one (1 when unknown or unchanged)."""
    stored = closes.at[pd.Timestamp(day), symbol] if pd.Timestamp(day) in closes.index else np.nan
    if recorded is None or pd.isna(recorded) or pd.isna(stored) or stored <= 0:
        return 1.0
    ratio = float(recorded) / float(stored)
    return 1.0 if abs(ratio - 1.0) <= DATA_RTOL else ratio


def _command_of(client_order_id) -> int | None:
    if not isinstance(client_order_id, str) or not is_command_order(client_order_id):
        return None
    return int(client_order_id[3:].split("-", 1)[0])


# -- the edge: the book, the bars, the backtest ---------------------------------------------


def drift_report(store, config_id: str, book: str | None = None) -> Drift:
    """The stored config's live trading in ``book`` (default: the book that traded it last)
    explained against its backtest over the same sessions."""
    from engine.live.setup import require_daily_bars
    from engine.research.config_registry import get_config

    config = get_config(store, config_id).config
    require_daily_bars(config, "wb drift")
    traded = book_queries.config_trading(store, config.config_id, book)
    first = pd.Timestamp(traded.first_bar)
    # Enough history before the first session for the signals on it (as a replay loads).
    history = first - pd.Timedelta(days=int(warmup_bars(config) * 1.6) + 10)
    bars = load_bars(store, config.universe, history, traded.last_bar)
    model = backtest_from(config, bars, traded.first_bar, traded.starting_cash)
    fills = book_queries.fills(store, traded.book, limit=None)
    fills = fills[fills["config_id"] == config.config_id][LIVE_FILL_COLUMNS]
    actions = book_queries.adjustments(store, traded.book)
    actions = actions[actions["config_id"] == config.config_id]
    decisions = book_queries.loop_decisions(store, traded.book, fills["client_order_id"])
    # The close the loop itself decided at (the query fills in the stored close where the
    # loop recorded none, which would hide a changed bar).
    fills = fills.assign(decision_price=fills["client_order_id"].map(decisions["decision_price"]))
    period = bars.iloc(slice(bars.index.searchsorted(first), None))
    marks = period.close.ffill().iloc[-1]
    live = round_trips(fills, marks)
    trades = model.trades[model.trades["entry_date"] >= first]
    commanded = {
        c for c in map(_command_of, [*live["entry_id"], *live["exit_id"]]) if c is not None
    }
    record = TradingRecord(
        denials=book_queries.denials(store, traded.book, config.config_id),
        commands=describe_commands(store, sorted(commanded)),
        stale=frozenset(traded.stale),
        stepped=frozenset(traded.stepped),
    )
    whole = bool(len(fills)) and bool(np.all(np.isclose(fills["qty"], np.round(fills["qty"]))))
    attribution = explain(live, trades, period, record, whole_shares=whole)
    if len(actions):
        attribution = pd.concat([attribution, corporate_action_parts(actions)], ignore_index=True)
    equity = pd.DataFrame({
        "live": live_equity(fills, period, traded.starting_cash, actions),
        "backtest": model.equity.reindex(period.index),
    })  # fmt: skip
    equity.index = equity.index.date
    notes = [
        f"{config.config_id} traded in {traded.book} from {traded.first_bar} to "
        f"{traded.last_bar} with {_usd(traded.starting_cash)} of starting cash; the backtest "
        "re-run with the same cash on the stored bars, entering from the first session the "
        "loop stepped",
    ]
    if config.settings.init_cash != traded.starting_cash:
        notes.append(f"the config was validated with {_usd(config.settings.init_cash)}")
    return Drift(config.config_id, traded.book, traded.first_bar, traded.last_bar, equity,
                 attribution, match_fills(fills, trades, attribution), notes)  # fmt: skip


def backtest_from(config: StrategyConfig, bars: Bars, first: date, cash: float):
    """The config's backtest on ``bars`` with ``cash``, entering from session ``first`` on.

    The bars before ``first`` are history for the signals only, as they were for the loop
    on its first step.
    """
    from engine.backtest import run_backtest
    from engine.strategies import get

    strategy = get(config.strategy)
    begin = pd.Timestamp(first)

    def from_first(bars, params):
        signals = strategy.signal_fn(bars, params)
        entries = signals.entries.copy()
        entries.loc[entries.index < begin] = False
        return dataclasses.replace(signals, entries=entries)

    # Its other forms (grid, arrays) would compute signals without the cut: the function only.
    later = dataclasses.replace(strategy, signal_fn=from_first, grid_fn=None, array_fn=None)
    settings = config.settings.model_copy(update={"init_cash": cash})
    return run_backtest(bars, later, config.params, settings)
