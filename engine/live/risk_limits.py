"""The risk limits in force, and a trader's change to them from the command line.

One validation for every door (:func:`~engine.risk.limits.limits_from_mapping`: the
Settings page, a limits file, ``wb limits``, the loop's own check of a command). A change
reaches the limits in force one of two ways:

- a live loop is running: a ``set_risk_limits`` command, as the control room sends it;
  the loop validates it again and applies it at its next step (or between steps);
- no loop is running: written straight to the store with an audit event, in one
  transaction that also retires any ``set_risk_limits`` command still pending (the next
  loop would otherwise apply that older change over this one at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from engine.errors import InputError
from engine.live import ledger
from engine.live.commands import SetRiskLimits, resolve_command, submit_command
from engine.live.controls import Controls
from engine.live.heartbeat import loop_status
from engine.risk.limits import RiskLimits, limits_diff, limits_from_mapping

#: The trading-state key of the limits in force, and the command that changes them.
KEY = "risk_limits"
COMMAND = "set_risk_limits"
_PENDING = "SELECT id FROM commands WHERE status = 'pending' AND kind = ? ORDER BY id"


@dataclass(frozen=True)
class LimitsInForce:
    """The limits the gate applies now, who set them and when, and changes still queued."""

    limits: RiskLimits
    set_by: str | None  # None: never set, the defaults are in force
    set_at: datetime | None  # UTC
    pending: tuple[int, ...]  # ids of set_risk_limits commands the loop has not applied yet

    def to_dict(self) -> dict:
        return {
            "limits": self.limits.to_mapping(),
            "defaults": self.set_by is None,
            "set_by": self.set_by,
            "set_at": self.set_at,
            "pending_commands": list(self.pending),
        }


@dataclass(frozen=True)
class LimitsChange:
    """What a change did: the limits it asked for, what differs, and how it went in."""

    limits: RiskLimits
    changes: dict[str, tuple[Any, Any]]  # name -> (was, now)
    command_id: int | None  # queued for the running loop
    superseded: tuple[int, ...]  # pending commands this direct write replaced

    @property
    def written(self) -> bool:
        """True when the change went straight into the store (no loop was running)."""
        return self.command_id is None and bool(self.changes)

    def to_dict(self) -> dict:
        return {
            "limits": self.limits.to_mapping(),
            "changes": {name: list(pair) for name, pair in self.changes.items()},
            "command_id": self.command_id,
            "written": self.written,
            "superseded_commands": list(self.superseded),
        }


def limits_in_force(store) -> LimitsInForce:
    """The stored limits, validated as the loop validates them (a LimitsError names a bad one)."""
    stored = ledger.stored_control(store, KEY)
    pending = _pending(store)
    if stored is None:
        return LimitsInForce(RiskLimits(), None, None, pending)
    value, set_at, set_by = stored
    # As the loop reads them: a StoredLimitsError (a LimitsError) names what is wrong.
    return LimitsInForce(Controls.from_values({KEY: value}).limits, set_by, set_at, pending)


def limits_with(store, updates: dict[str, Any]) -> RiskLimits:
    """The stored limits with ``updates`` over them, validated as one set.

    Starts from the limits as stored, not as validated, so that a stored limit that no
    longer validates can be mended by setting it.
    """
    stored = ledger.stored_control(store, KEY)
    base = dict(stored[0]) if stored and isinstance(stored[0], dict) else {}
    # A name that is no limit (renamed by an upgrade, mistyped by hand) cannot be mended by
    # setting it, and would fail every change: it is dropped.
    base = {name: value for name, value in base.items() if name in RiskLimits.model_fields}
    return limits_from_mapping({**base, **updates}, source="the new risk limits")


def change_limits(store, new: RiskLimits, actor: str) -> LimitsChange:
    """Put ``new`` in force (see the module docstring for the two ways); nothing if nothing differs."""
    stored = ledger.stored_control(store, KEY)
    controls = Controls.from_values({KEY: stored[0]} if stored else {})
    # Stored limits that no longer validate: everything counts as changed.
    old = None if controls.limits_error else controls.limits
    if old is not None:
        changes = limits_diff(old, new)
    else:
        was = {**RiskLimits().to_mapping(), **stored[0]}
        changes = {n: (was.get(n), v) for n, v in new.to_mapping().items() if was.get(n) != v}
    if not changes:
        return LimitsChange(new, {}, None, ())
    if loop_status(store).running:
        command_id = submit_command(store, SetRiskLimits(limits=new.to_mapping()), actor)
        return LimitsChange(new, changes, command_id, ())

    listing = ", ".join(f"{name} {was} -> {now}" for name, (was, now) in changes.items())

    def write(con) -> tuple[int, ...]:
        superseded = tuple(int(row[0]) for row in con.execute(_PENDING, [COMMAND]).fetchall())
        for command_id in superseded:
            resolve_command(
                store, command_id, applied=False, by=actor, con=con,
                result=f"superseded: {actor} set the risk limits directly while no loop ran",
            )  # fmt: skip
        ledger.set_control(
            con, KEY, new.to_mapping(), actor, reason=f"set with no live loop running: {listing}"
        )
        return superseded

    return LimitsChange(new, changes, None, store.transaction(write))


def _pending(store) -> tuple[int, ...]:
    rows = store.query(_PENDING, [COMMAND])
    return tuple(int(i) for i in rows["id"])


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"max_positions=8"`` -> ``("max_positions", 8)``: the value read as YAML.

    ``true``, ``.inf``, ``[GME, AMC]`` mean what YAML says; nothing after ``=`` is null
    (``max_price=`` lifts the cap).
    """
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise InputError(
            f"cannot read {text!r}: expected NAME=VALUE",
            hint="e.g. wb limits set max_positions=8 restricted_symbols=[GME,AMC]",
        )
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value  # not YAML: the limit's own validation says what it expected
    return name.strip(), parsed
