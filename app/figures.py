"""What the control room shows, computed from plain values: pure functions, no store, no Streamlit.

The trading state in the control room's words, P&L and risk to stop per position, each
risk limit beside its use, and the alerts. (The loop's status is judged by
:mod:`engine.live.heartbeat`, the one judge of heartbeats.)
:mod:`app.facade` reads the rows; these functions decide what they mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from engine.live.controls import Controls
from engine.live.heartbeat import LoopStatus
from engine.risk import states
from engine.risk.limits import RiskLimits

#: A pending command the running loop has not applied after this long is an alert.
COMMAND_LATE_S = 60.0
#: The share of a limit past which the Risk page (and the daily-loss alert) calls it near.
NEAR_LIMIT = 0.75
POSITION_COLUMNS = [
    "symbol", "qty", "avg_price", "price", "market_value", "weight", "unrealised_pnl",
    "unrealised_pct", "stop_price", "risk_to_stop", "risk_pct", "config_id",
]  # fmt: skip


# -- the trading state ---------------------------------------------------------------------


@dataclass(frozen=True)
class TradingStatus:
    """The trading state that outlives loops: ACTIVE/REDUCING/HALTED, kill switch, limits."""

    state: str
    reason: str
    kill_switch: bool
    paused_configs: tuple[str, ...]
    limits: RiskLimits | None  # None: the stored limits are invalid (see limits_problem)
    limits_note: str  # where the limits came from
    updated_at: datetime | None = None
    updated_by: str | None = None
    #: What is wrong with the stored limits and how to fix it; None when they are in force.
    limits_problem: str | None = None


def trading_status_from(controls: Controls, updated_at=None, updated_by=None) -> TradingStatus:
    """The trading state as the loop reads it (:class:`Controls`), in the control room's words.

    Stored limits that no longer validate are shown as the problem they are, never
    replaced by the defaults: the loop will not trade on them either.
    """
    limits, note, problem = controls.stored_limits, "as last set", None
    if controls.limits_error is not None:
        limits, note, problem = None, "the stored limits are invalid", str(controls.limits_error)
    elif limits is None:
        limits, note = RiskLimits(), "defaults (no limits were ever set)"
    return TradingStatus(
        controls.state.value, controls.reason, controls.kill_switch, tuple(sorted(controls.paused)),
        limits, note, updated_at, updated_by, problem,
    )  # fmt: skip


# -- the book ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Book:
    """Open positions with their P&L and risk to stop, and the account they sit in."""

    positions: pd.DataFrame
    equity: float | None
    cash: float | None
    as_of: date | None
    source: str  # which book, and where its positions come from, said on the page
    name: str | None = None  # the book: 'paper:<account>', 'alpaca:paper', ...
    stops_known: bool = False  # the loop's marks carry stops; a broker's positions do not
    buying_power: float | None = None  # as the broker last reported it to the loop

    @property
    def open_risk(self) -> float:
        """Dollars lost if every stop were hit at its price (positions without a stop: none)."""
        if not len(self.positions):
            return 0.0
        return float(self.positions["risk_to_stop"].clip(lower=0).sum())


def position_figures(held: pd.DataFrame, equity: float | None) -> pd.DataFrame:
    """Positions (symbol, qty, avg_price, price, stop_price, config_id) with value, P&L and risk."""
    frame = held.copy()
    scale = equity if equity else np.nan
    frame["market_value"] = frame["qty"] * frame["price"]
    frame["weight"] = frame["market_value"] / scale
    frame["unrealised_pnl"] = (frame["price"] - frame["avg_price"]) * frame["qty"]
    frame["unrealised_pct"] = frame["price"] / frame["avg_price"] - 1
    frame["risk_to_stop"] = (frame["price"] - frame["stop_price"]) * frame["qty"]
    frame["risk_pct"] = frame["risk_to_stop"] / scale
    return frame.reindex(columns=POSITION_COLUMNS)


def slippage_bps(side: pd.Series, price: pd.Series, decision_price: pd.Series) -> pd.Series:
    """Fill price against the decision price in basis points; positive when it cost money.

    Both are traded prices (the loop records the traded close it decided at, and its
    brokers fill as traded), so the figure is the gap to the fill and the slippage itself,
    never a dividend or split adjustment.
    """
    sign = np.where(side == "buy", 1.0, -1.0)
    return sign * (price / decision_price - 1) * 1e4


# -- risk limits ---------------------------------------------------------------------------


def limit_usage(
    limits: RiskLimits,
    positions: pd.DataFrame,
    equity: float,
    cash: float | None,
    daily: float,
    weekly: float,
    day_trades: int,
) -> pd.DataFrame:
    """Each limit beside its use now; ``used`` is the fraction of the limit taken (1 = at it)."""
    largest = float(positions["weight"].max()) if len(positions) else 0.0
    gross = float(positions["market_value"].sum()) / equity if equity else 0.0
    cash_share = cash / equity if (cash is not None and equity) else math.nan
    down_day, down_week = max(daily, 0.0), max(weekly, 0.0)
    rows = [
        ("Open positions", f"{limits.max_positions}", f"{len(positions)}",
         len(positions) / limits.max_positions, ""),
        ("Largest position", f"{limits.max_position_pct:.0%} of equity", f"{largest:.1%}",
         largest / limits.max_position_pct, ""),
        ("Gross exposure", f"{1 - limits.cash_buffer:.0%} of equity", f"{gross:.1%}",
         gross / (1 - limits.cash_buffer), "what the cash buffer leaves"),
        ("Cash buffer", f"at least {limits.cash_buffer:.0%}",
         "n/a" if math.isnan(cash_share) else f"{cash_share:.1%}",
         _floor_used(limits.cash_buffer, cash_share), "used = how close cash is to the floor"),
        ("Daily loss", f"{limits.daily_loss_limit:.1%}", f"{down_day:.2%}",
         down_day / limits.daily_loss_limit, "halts new entries for the day"),
        ("Weekly loss (soft)", f"{limits.weekly_soft_loss:.1%}", f"{down_week:.2%}",
         down_week / limits.weekly_soft_loss, f"sizes x{limits.weekly_soft_size_factor:g} past it"),
        ("Weekly loss (hard)", f"{limits.weekly_hard_loss:.1%}", f"{down_week:.2%}",
         down_week / limits.weekly_hard_loss, "halts trading"),
        _day_trade_row(limits, equity, day_trades),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["limit", "in_force", "in_use", "used", "note"])
    frame["used"] = frame["used"].astype(float).clip(lower=0)
    frame.insert(3, "state", frame["used"].map(limit_state))
    return frame


def limit_state(used: float) -> str:
    """``ok`` below three quarters of a limit, ``near`` up to it, ``at limit`` at or past it."""
    if used >= 1:
        return "at limit"
    return "near" if used >= NEAR_LIMIT else "ok"


def _floor_used(floor: float, share: float) -> float:
    if math.isnan(share):
        return 0.0
    return floor / share if share > 0 else 1.0


def _day_trade_row(limits: RiskLimits, equity: float, day_trades: int) -> tuple:
    if limits.day_trade_policy != "pdt":
        return ("Day trades (5 sessions)", "no limit", f"{day_trades}", 0.0, "PDT rule off")
    if equity >= limits.pdt_equity_threshold:
        return ("Day trades (5 sessions)", "no limit", f"{day_trades}", 0.0,
                "equity above the PDT threshold")  # fmt: skip
    allowed = limits.pdt_max_day_trades
    left = max(allowed - day_trades, 0)
    used = day_trades / allowed if allowed else 1.0
    return ("Day trades (5 sessions)", f"{allowed}", f"{day_trades} used, {left} left", used,
            f"PDT rule: equity under ${limits.pdt_equity_threshold:,.0f}")  # fmt: skip


# -- alerts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    level: str  # error | warning | info
    text: str


def alerts(
    loop: LoopStatus,
    trading: TradingStatus,
    book: Book,
    curve: pd.DataFrame,
    commands: pd.DataFrame,
    now: datetime,
) -> list[Alert]:
    """What needs the trader's attention now, the most serious first.

    Whether the loop is running is announced by the banner on every page, not repeated here.
    """
    found: list[Alert] = []
    if trading.kill_switch:
        found.append(
            Alert("error", f"Kill switch is ON: {states.MEANING[states.KILL_SWITCH_STATE]}.")
        )
    if trading.state != "ACTIVE":
        why = f": {trading.reason}" if trading.reason else ""
        level = "error" if trading.state == "HALTED" else "warning"
        found.append(Alert(level, f"Trading state {trading.state}{why}"))
    if trading.limits_problem:
        found.append(Alert("error", "The stored risk limits are invalid, so the loop will not trade: "
                                    f"{trading.limits_problem}"))  # fmt: skip
    else:
        found += _loss_alerts(trading.limits, curve)
    if len(book.positions) and book.stops_known:
        naked = book.positions[book.positions["stop_price"].isna()]["symbol"].tolist()
        if naked:
            found.append(Alert("warning", f"No protective stop on {', '.join(naked)}."))
    found += _command_alerts(loop, commands, now)
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(found, key=lambda a: order[a.level])


def _loss_alerts(limits: RiskLimits, curve: pd.DataFrame) -> list[Alert]:
    if len(curve) < 2:
        return []
    daily = 1 - curve["equity"].iloc[-1] / curve["equity"].iloc[-2]
    if daily >= limits.daily_loss_limit:
        return [Alert("error", f"Daily loss {daily:.2%} has reached the limit "
                               f"{limits.daily_loss_limit:.2%}: no new entries today.")]  # fmt: skip
    if daily >= NEAR_LIMIT * limits.daily_loss_limit:
        return [
            Alert(
                "warning",
                f"Daily loss {daily:.2%} is near the limit {limits.daily_loss_limit:.2%}.",
            )
        ]
    return []


def _command_alerts(loop: LoopStatus, commands: pd.DataFrame, now: datetime) -> list[Alert]:
    if commands.empty:
        return []
    found = []
    pending = commands[commands["status"] == "pending"]
    late = pending[(now - pending["created_at"]).dt.total_seconds() > COMMAND_LATE_S]
    if loop.running and len(late):
        found.append(Alert("warning", f"{len(late)} command(s) pending for over {COMMAND_LATE_S:.0f}s: "
                                      "the loop has not applied them."))  # fmt: skip
    recent = commands[
        (commands["status"] == "denied") & (commands["decided_at"] >= now - timedelta(hours=24))
    ]
    for row in recent.head(3).itertuples():
        found.append(
            Alert(
                "warning",
                f"Command #{row.id} ({row.kind}, by {row.actor}) was denied: {row.result}",
            )
        )
    return found


# -- small conversions ---------------------------------------------------------------------


def mark_times(bar_dates: pd.Series) -> pd.DatetimeIndex:
    """Each bar's mark at its session's close (16:00 New York), in UTC."""
    days = pd.to_datetime(bar_dates)
    local = (days + pd.Timedelta(hours=16)).dt.tz_localize("America/New_York")
    return pd.DatetimeIndex(local.dt.tz_convert("UTC"))
