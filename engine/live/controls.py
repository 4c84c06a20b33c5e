"""The trading controls that outlive a loop (the ``trading_state`` table): read, parsed once, set.

One row per key, each change also an event: ``state`` (``{"state", "reason"}``),
``kill_switch`` (``{"on": bool}``), ``paused_configs`` (config ids), ``risk_limits`` (a
:class:`~engine.risk.RiskLimits` mapping), ``resumed_at`` (ISO time). :meth:`Controls.from_values`
is the only parser: the loop trades on what it gives and the control room shows what it
gives. Stored limits that no longer validate (a limit renamed by an upgrade, a hand edit)
are never replaced by the defaults: :attr:`Controls.limits` raises :class:`StoredLimitsError`
(the loop stops), and the control room shows that error, which says how to fix it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.risk import LimitsError, RiskLimits, TradingState, limits_from_mapping
from engine.store import append_event
from engine.store.events import utcnow
from engine.store.reading import on_one_connection

#: How a trader replaces stored limits, said wherever bad ones are found.
FIX_LIMITS = (
    "set valid limits on the control room's Settings page, or with `wb limits set NAME=VALUE`; "
    "the loop will not trade until the stored limits validate"
)


class StoredLimitsError(LimitsError):
    """The stored risk limits no longer validate; ``problems`` maps each field to what is wrong."""

    def __init__(self, message: str, *, problems: dict[str, str]):
        super().__init__(message, problems=problems, hint=FIX_LIMITS)


@dataclass(frozen=True)
class Controls:
    """The trading state that outlives a loop: state, kill switch, paused configs, limits."""

    state: TradingState = TradingState.ACTIVE
    reason: str = ""
    kill_switch: bool = False
    paused: frozenset[str] = frozenset()
    #: The stored limits, None when none were ever set (then the defaults are in force).
    stored_limits: RiskLimits | None = None
    #: Why the stored limits cannot be used; None when they can.
    limits_error: StoredLimitsError | None = None
    resumed_at: datetime | None = None

    @property
    def limits(self) -> RiskLimits:
        """The risk limits in force; :class:`StoredLimitsError` when the stored ones are invalid."""
        if self.limits_error is not None:
            raise self.limits_error.with_traceback(None)
        return self.stored_limits or RiskLimits()

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Controls:
        """The controls from the trading_state rows (key -> decoded JSON), defaults for keys never set."""
        raw = values.get("state") or {}
        state, reason = (
            (raw.get("state"), raw.get("reason", "")) if isinstance(raw, dict) else (raw, "")
        )
        kill = values.get("kill_switch", False)
        if isinstance(kill, dict):
            kill = kill.get("on", False)
        stored, error = None, None
        if values.get("risk_limits") is not None:
            try:
                stored = limits_from_mapping(values["risk_limits"], source="the stored risk limits")
            except LimitsError as exc:
                error = StoredLimitsError(exc.message, problems=exc.problems)
        resumed = values.get("resumed_at")
        return cls(
            state=TradingState(state or TradingState.ACTIVE),
            reason=str(reason or ""),
            kill_switch=bool(kill),
            paused=frozenset(values.get("paused_configs") or []),
            stored_limits=stored,
            limits_error=error,
            resumed_at=datetime.fromisoformat(resumed) if resumed else None,
        )


def stored_values(rows) -> dict[str, Any]:
    """``(key, JSON text)`` rows of trading_state as key -> decoded value."""
    return {key: json.loads(value) for key, value in rows}


def read_controls(store) -> Controls:
    """The trading controls as stored now."""
    rows = store.query("SELECT key, value FROM trading_state")
    return Controls.from_values(stored_values(zip(rows["key"], rows["value"], strict=True)))


def stored_control(store, key: str) -> tuple[Any, datetime, str] | None:
    """(value as stored, not validated; when it was set; by whom) of one control, or None."""
    rows = store.query(
        "SELECT value, updated_at, updated_by FROM trading_state WHERE key = ?", [key]
    )
    if rows.empty:
        return None
    row = rows.iloc[0]
    return json.loads(row["value"]), row["updated_at"].to_pydatetime(), str(row["updated_by"])


@on_one_connection
def controls_as_set(store) -> tuple[Controls, datetime | None, str | None]:
    """The trading controls, with when and by whom the newest of them was set (None: never)."""
    rows = store.query(
        "SELECT key, value, updated_at, updated_by FROM trading_state ORDER BY updated_at"
    )
    controls = Controls.from_values(stored_values(zip(rows["key"], rows["value"], strict=True)))
    if rows.empty:
        return controls, None, None
    return controls, rows["updated_at"].iloc[-1].to_pydatetime(), str(rows["updated_by"].iloc[-1])


def set_control(con, key: str, value: Any, actor: str, *, reason: str = "") -> None:
    """Store one trading-state value, with an event saying who changed it and why."""
    con.execute(
        "INSERT INTO trading_state VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
        " value = excluded.value, updated_at = excluded.updated_at,"
        " updated_by = excluded.updated_by",
        [key, json.dumps(value, default=str), utcnow(), actor],
    )
    append_event(con, f"trading.{key}", actor, key, {"value": value, "reason": reason})
