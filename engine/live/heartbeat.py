"""Is a loop alive? Its heartbeat (the ``heartbeats`` table), written here and judged here.

A loop beats at every step (a replay, stepping faster, once a second) and, while it
waits for the next close, every ``tick`` seconds; a beat older than the stale setting, or a process that is gone, means nobody
is applying the trader's commands (the control room then flattens through the broker
itself). The setting is one number of seconds, ``WB_HEARTBEAT_STALE_S`` (default 120),
read by the control room, ``wb loop-status`` and the waiting loop alike.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime

import pandas as pd

from engine.errors import InputError
from engine.locks import process_alive
from engine.store.events import utcnow
from engine.store.writing import update_else_insert

STALE_SETTING = "WB_HEARTBEAT_STALE_S"
DEFAULT_STALE_S = 120.0
#: The least time between two steps' beats: a loop stepping faster (a replay) beats this
#: often, not at every step (a statement a step nobody reads).
STEP_BEAT_EVERY_S = 1.0


def seconds() -> float:
    """Seconds on a clock that only moves on (the time between beats, never the time of day)."""
    return time.monotonic()


class Pace:
    """When a loop's steps write its heartbeat: when the trading state changed since the
    last beat, or that beat is :data:`STEP_BEAT_EVERY_S` old. Nobody reads every step's
    beat: a replay stepping many sessions a second beats once a second (its newest bar at
    most that late), a paper loop at every step. Only committed beats are told to it."""

    def __init__(self):
        #: The last beat committed: (:func:`seconds` then, the trading state it said).
        self._last: tuple[float, str] | None = None
        #: The newest session stepped that no beat has said yet (None: all said).
        self.unsaid: date | None = None

    def due(self, state: str) -> bool:
        """Whether a step in trading ``state`` (its value) writes the heartbeat."""
        return (self._last is None or state != self._last[1]
                or seconds() - self._last[0] >= STEP_BEAT_EVERY_S)  # fmt: skip

    def beaten(self, state: str) -> None:
        """A beat saying ``state`` and every session stepped has just committed."""
        self._last, self.unsaid = (seconds(), state), None

    def skipped(self, session: date) -> None:
        """A step of ``session`` committed without a beat."""
        self.unsaid = session


def stale_after_s() -> float:
    """Seconds after which a heartbeat is stale: ``WB_HEARTBEAT_STALE_S``, else 120."""
    raw = os.environ.get(STALE_SETTING, "").strip()
    if not raw:
        return DEFAULT_STALE_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")  # refused just below
    if not seconds > 0 or seconds == float("inf"):
        raise InputError(
            f"{STALE_SETTING} must be a number of seconds above 0, not {raw!r}",
            hint=f"set it to seconds, e.g. {STALE_SETTING}=120 (a waiting loop beats every 30)",
        )
    return seconds


def beat_every_s() -> float:
    """Seconds between a waiting loop's beats: a quarter of the stale setting (30 s by default)."""
    return stale_after_s() / 4


def check_beat_interval(tick: float) -> None:
    """InputError when a loop beating every ``tick`` seconds would look dead between beats."""
    stale = stale_after_s()
    if not 0 < tick < stale:
        raise InputError(
            f"a loop beating every {tick:g}s looks dead between beats: a heartbeat is stale "
            f"after {stale:g}s ({STALE_SETTING})",
            hint=f"pass --tick under {stale:g} (default {stale / 4:g}), or raise {STALE_SETTING}",
        )


@dataclass(frozen=True)
class LoopStatus:
    """The newest loop's status in a trader's words, judged from its heartbeat."""

    status: str  # running | stale | stopped | gone | never
    why: str  # one line for the trader: what we know and why we think so
    loop_id: str | None = None
    mode: str | None = None
    broker: str | None = None
    book: str | None = None  # the broker account traded: 'paper:<account>', 'alpaca:paper', ...
    pid: int | None = None
    beat_at: datetime | None = None
    age_s: float | None = None
    bar_date: date | None = None
    trading_state: str | None = None
    configs: tuple[str, ...] = ()

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def ever_ran(self) -> bool:
        return self.loop_id is not None

    def to_dict(self) -> dict:
        return asdict(self)


NO_LOOP = LoopStatus("never", "no live loop has run on this data dir")


def loop_status(
    store, *, now: datetime | None = None, stale_after: float | None = None
) -> LoopStatus:
    """The newest heartbeat, judged (see the module docstring); ``stale_after`` overrides the setting."""
    rows = store.query("SELECT * FROM heartbeats ORDER BY beat_at DESC LIMIT 1")
    if rows.empty:
        return NO_LOOP
    beat = rows.iloc[0]
    stale_after = stale_after_s() if stale_after is None else stale_after
    alive = _alive(int(beat["pid"]), pd.Timestamp(beat["started_at"]).to_pydatetime())
    return judge(beat.to_dict(), now or utcnow(), stale_after=stale_after, alive=alive)


def judge(beat: dict, now: datetime, *, stale_after: float, alive: bool) -> LoopStatus:
    """The status a heartbeat row means at ``now``; ``alive``: the loop's process still exists."""
    beat_at = pd.Timestamp(beat["beat_at"]).to_pydatetime()
    age = max((now - beat_at).total_seconds(), 0.0)
    seen = LoopStatus(
        "running", "", beat["loop_id"], beat["mode"], beat["broker"], _known(beat.get("book")),
        int(beat["pid"]), beat_at, age, _day(beat.get("bar_date")), beat["trading_state"],
        tuple(json.loads(beat["configs"] or "[]")),
    )  # fmt: skip
    stopped = beat.get("stopped_at")
    if _known(stopped) is not None:
        return replace(seen, status="stopped",
                       why=f"the loop stopped cleanly at {pd.Timestamp(stopped):%Y-%m-%d %H:%M:%S} UTC")  # fmt: skip
    if age > stale_after:
        why = f"the last heartbeat is {age_text(age)} old (stale after {stale_after:.0f}s)"
        return replace(seen, status="stale", why=why)
    if not alive:
        return replace(seen, status="gone", why=f"the loop's process {int(beat['pid'])} is gone")
    return replace(seen, why=f"heartbeat {age_text(age)} ago")


def beat(
    con, loop_id: str, *, mode: str, broker: str, book: str, pid: int, started_at: datetime,
    bar: date | None, state: str, configs: list[str], stopped: bool = False,
) -> None:  # fmt: skip
    """Write the loop's heartbeat (wall clock) inside the caller's transaction."""
    now = utcnow()
    stopped_at = now if stopped else None
    update_else_insert(
        con,
        ("UPDATE heartbeats SET beat_at = ?, bar_date = coalesce(?, bar_date),"
         " trading_state = ?, stopped_at = ? WHERE loop_id = ?",
         [now, bar, state, stopped_at, loop_id]),
        ("INSERT INTO heartbeats (loop_id, mode, broker, pid, started_at, beat_at, bar_date,"
         " trading_state, configs, stopped_at, book) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
         [loop_id, mode, broker, pid, started_at, now, bar, state, json.dumps(configs),
          stopped_at, book]),
    )  # fmt: skip


def age_text(seconds: float) -> str:
    """``42`` -> ``42s``; ``600`` -> ``10 min``; ``7200`` -> ``2.0 h``; days beyond two days."""
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def _known(value):
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def _day(value) -> date | None:
    value = _known(value)
    return None if value is None else pd.Timestamp(value).date()


def _alive(pid: int, started_at: datetime) -> bool:
    return process_alive(pid, started_at)
