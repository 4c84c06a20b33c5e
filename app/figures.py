"""What the control room shows, computed from plain values: pure functions, no store, no Streamlit.

The trading state in the control room's words, P&L and risk to stop per position, each
risk limit beside its use, and the alerts. (The loop's status is judged by
:mod:`engine.live.heartbeat`, the one judge of heartbeats.)
:mod:`app.facade` reads the rows; these functions decide what they mean.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from engine.live.commands import describe
from engine.live.controls import Controls
from engine.live.heartbeat import LoopStatus
from engine.risk import states
from engine.risk.limits import RiskLimits

#: A pending command the running loop has not applied after this long is an alert.
COMMAND_LATE_S = 60.0
#: This many orders denied by the risk gate within DENIAL_WINDOW (wall clock) is an alert.
DENIAL_BURST = 5
DENIAL_WINDOW = timedelta(minutes=30)
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
        """Dollars lost if every stop were hit at its price; infinite when a position has no stop.

        A position without a stop can lose all it is worth (and a gap more): that is not
        zero risk, so it is never added in as zero. Stops unknown (a broker's own book) are
        NaN: not known, rather than unbounded.
        """
        if not len(self.positions):
            return 0.0
        if self.unprotected:
            return math.inf
        if not self.stops_known:
            return math.nan
        return float(self.positions["risk_to_stop"].clip(lower=0).sum())

    @property
    def unprotected(self) -> list[str]:
        """Symbols held without a protective stop (only known where the loop marked the book)."""
        if not len(self.positions) or not self.stops_known:
            return []
        return self.positions.loc[self.positions["stop_price"].isna(), "symbol"].tolist()


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
    denials: pd.DataFrame | None = None,
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
    if book.unprotected:
        found.append(Alert("warning", f"No protective stop on {', '.join(book.unprotected)}: "
                                      "its open risk is unbounded."))  # fmt: skip
    found += _command_alerts(loop, commands, now)
    found += _denial_alerts(denials, now)
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


def _denial_alerts(denials: pd.DataFrame | None, now: datetime) -> list[Alert]:
    """A burst of orders the risk gate denied: something keeps asking for what it may not do."""
    if denials is None or denials.empty:
        return []
    recent = denials[pd.to_datetime(denials["submitted_at"]) >= now - DENIAL_WINDOW]
    if len(recent) < DENIAL_BURST:
        return []
    reasons = recent["reason"].value_counts()
    top = "; ".join(f"{n}× {why}" for why, n in reasons.head(3).items())
    minutes = DENIAL_WINDOW.total_seconds() / 60
    return [Alert("error", f"{len(recent)} orders denied by the risk gate in the last "
                           f"{minutes:.0f} minutes ({top}). See Orders, status denied.")]  # fmt: skip


def _command_alerts(loop: LoopStatus, commands: pd.DataFrame, now: datetime) -> list[Alert]:
    if commands.empty:
        return []
    found = []
    pending = commands[commands["status"] == "pending"]
    late = pending[(now - pending["created_at"]).dt.total_seconds() > COMMAND_LATE_S]
    if loop.running and len(late):
        found.append(Alert("warning", f"{len(late)} command(s) pending for over {COMMAND_LATE_S:.0f}s: "
                                      "the loop has not applied them."))  # fmt: skip
    if len(pending):
        waiting = ", ".join(f"#{r.id} {pending_label(r.kind, r.payload)}" for r in pending.itertuples())
        if loop.running:
            found.append(Alert("info", f"Pending: {waiting}. The loop applies them at its next step; "
                                       "cancel from the status strip."))  # fmt: skip
        else:
            found.append(Alert("warning", f"Pending: {waiting}. No live loop is running to apply "
                                          "them; cancel from the status strip."))  # fmt: skip
    recent = commands[
        (commands["status"] == "denied") & (commands["decided_at"] >= now - timedelta(hours=24))
    ]
    for row in recent.head(3).itertuples():
        found.append(
            Alert(
                "warning",
                f"Command #{row.id} ({pending_label(row.kind, row.payload)}, by {row.actor}) "
                f"was denied: {row.result}",
            )
        )
    return found


# -- small conversions ---------------------------------------------------------------------


#: Payload keys that carry the bar an event was about (a replay's bars are years before its wall clock).
BAR_KEYS = ("bar", "bar_date", "decision_bar", "day", "session")


def event_bar(payload: str | dict | None) -> str | None:
    """The bar an event was about, from its payload (``2009-12-11``), or None."""
    data = _payload(payload)
    for key in BAR_KEYS:
        if isinstance(data.get(key), str) and data[key][:2] in ("19", "20"):
            return data[key][:16].replace("T", " ")
    return None


def event_changes(payload: str | dict | None, limit: int = 8) -> list[str]:
    """What an event says, one ``what: value`` line each, in words: no braces, no quotes, no None."""
    lines = []
    for key, value in _flat(_payload(payload)):
        if value is None or value == "" or value == [] or value == {}:
            continue
        lines.append(f"{key.replace('_', ' ')}: {value_text(key, value)}")
    return lines[:limit] + ([f"… {len(lines) - limit} more"] if len(lines) > limit else [])


def _payload(payload) -> dict:
    if isinstance(payload, dict):
        return payload
    try:
        data = json.loads(payload) if payload else {}
    except (TypeError, ValueError):
        return {"text": str(payload)}
    return data if isinstance(data, dict) else {"value": data}


def _flat(data: dict, prefix: str = ""):
    for key, value in data.items():
        if isinstance(value, dict) and value:
            yield from _flat(value, f"{prefix}{key} ")
        else:
            yield f"{prefix}{key}", value


#: Words in a setting's name that make it a fraction (shown as %) or dollars.
_FRACTION_WORDS = ("pct", "loss", "buffer", "risk_per_trade", "drawdown", "pbo", "fraction",
                   "fees", "slippage")  # fmt: skip


def value_text(key: str, value) -> str:
    """A setting or event value in words, judged by its name: 2% not 0.02, $1,234.50, yes/no."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value_text(key, v) for v in value) or "none"
    if isinstance(value, float):
        if any(w in key for w in _FRACTION_WORDS):
            return f"{value:.2%}"
        if any(w in key for w in ("price", "cash", "equity", "notional", "value")):
            return f"${value:,.2f}"
        return f"{value:,.4g}"
    return str(value)


#: Backtest metrics that are fractions (shown as %); the rest are ratios, counts or bars.
PERCENT_METRICS = frozenset({"total_return", "cagr", "max_drawdown", "win_rate", "exposure",
                             "time_in_market"})  # fmt: skip


def metric_text(name: str, value) -> str:
    """A backtest metric as read: ``12.3%`` for fractions, ``1.42`` for ratios, ``37`` for counts."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if name in PERCENT_METRICS:
        return f"{value:.1%}"
    if name in ("trades", "max_drawdown_duration"):
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def config_label(strategy: str, config_id: str) -> str:
    """A config as a person names it: ``sma_cross · 3f9a2c1d`` (its strategy, a short id)."""
    return f"{strategy} · {config_id[:8]}"


def pending_label(kind: str, payload: str | dict) -> str:
    """A pending command as the status strip says it: ``kill switch on``, ``close AAPL``."""
    return describe(kind, json.loads(payload) if isinstance(payload, str) else payload)



def mark_times(bar_dates: pd.Series) -> pd.DatetimeIndex:
    """Each bar's mark at its session's close (16:00 New York), in UTC."""
    days = pd.to_datetime(bar_dates)
    local = (days + pd.Timedelta(hours=16)).dt.tz_localize("America/New_York")
    return pd.DatetimeIndex(local.dt.tz_convert("UTC"))
