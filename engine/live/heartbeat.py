"""Is a loop alive? Its heartbeat, judged: running, stale, stopped, or never seen.

A loop beats at every step and, while it waits for the next close, every ``tick``
seconds; a beat older than ``stale_after`` seconds, or a process that is gone, means
nobody is applying the trader's commands (the control room then flattens through the
broker itself).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime

import pandas as pd

from engine.store.events import utcnow

#: Seconds after which a heartbeat is stale (a waiting loop beats every 30 s).
STALE_AFTER = 120.0


@dataclass(frozen=True)
class LoopHealth:
    """The newest loop's status in a trader's words."""

    status: str  # running | stale | stopped | gone | never
    why: str
    loop_id: str | None = None
    mode: str | None = None
    book: str | None = None
    pid: int | None = None
    beat_at: datetime | None = None
    age_s: float | None = None
    bar_date: date | None = None
    trading_state: str | None = None
    configs: tuple[str, ...] = ()

    @property
    def alive(self) -> bool:
        return self.status == "running"

    def to_dict(self) -> dict:
        return asdict(self)


def loop_health(
    store, *, now: datetime | None = None, stale_after: float = STALE_AFTER
) -> LoopHealth:
    """The newest heartbeat, judged (see the module docstring)."""
    rows = store.query("SELECT * FROM heartbeats ORDER BY beat_at DESC LIMIT 1")
    if rows.empty:
        return LoopHealth("never", "no live loop has run on this data dir")
    beat = rows.iloc[0]
    now = now or utcnow()
    beat_at = pd.Timestamp(beat["beat_at"]).to_pydatetime()
    age = max((now - beat_at).total_seconds(), 0.0)
    known = {
        "loop_id": beat["loop_id"],
        "mode": beat["mode"],
        "book": beat.get("book"),
        "pid": int(beat["pid"]),
        "beat_at": beat_at,
        "age_s": age,
        "bar_date": None if pd.isna(beat["bar_date"]) else pd.Timestamp(beat["bar_date"]).date(),
        "trading_state": beat["trading_state"],
        "configs": tuple(json.loads(beat["configs"]) or ()),
    }
    if not pd.isna(beat["stopped_at"]):
        return LoopHealth(
            "stopped",
            f"the loop stopped cleanly at {beat['stopped_at']:%Y-%m-%d %H:%M:%S} UTC",
            **known,
        )
    if age > stale_after:
        return LoopHealth(
            "stale",
            f"the last heartbeat is {age:.0f}s old (stale after {stale_after:.0f}s)",
            **known,
        )
    if not _alive(int(beat["pid"]), pd.Timestamp(beat["started_at"]).to_pydatetime()):
        return LoopHealth("gone", f"the loop's process {int(beat['pid'])} is gone", **known)
    return LoopHealth("running", f"heartbeat {age:.0f}s ago", **known)


def _alive(pid: int, started_at: datetime) -> bool:
    from engine.jobs.locks import process_alive

    return process_alive(pid, started_at)
