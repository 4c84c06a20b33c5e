"""Trader commands: the control room writes them, the live loop applies them.

The control room never trades directly while the loop is alive: it appends a command,
and the loop applies pending commands at the start of each step (and checks the kill
switch and a halt before every submission), marking each applied or denied with the reason. Every
command and every outcome is an event, so the audit trail shows who asked for what and
what happened. A trader may cancel a command still pending (status ``canceled``); the loop
reads the status again just before applying one, and a cancel that arrives after that is
overruled by what the loop did, said in the result.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

import pandas as pd
import pydantic

from engine.errors import InputError, NotFoundError
from engine.store import Store, append_event
from engine.store.events import utcnow


class _Command(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


class KillSwitch(_Command):
    """Stop new entries, exits and stops still going (on), or let entries go again (off).

    What each state lets through: :mod:`engine.risk.states`.
    """

    kind: Literal["kill_switch"] = "kill_switch"
    on: bool


class Halt(_Command):
    """Stop every order but a trader's own reducing ones (HALTED) until a trader resumes."""

    kind: Literal["halt"] = "halt"
    reason: str = ""


class ResumeTrading(_Command):
    """Return from HALTED or REDUCING to ACTIVE (after a drawdown halt, say)."""

    kind: Literal["resume_trading"] = "resume_trading"


class FlattenAll(_Command):
    """Close every position at market and cancel open orders."""

    kind: Literal["flatten_all"] = "flatten_all"


class PauseStrategy(_Command):
    """Stop new entries for one config; its open positions keep their stops."""

    kind: Literal["pause_strategy"] = "pause_strategy"
    config_id: str


class ResumeStrategy(_Command):
    kind: Literal["resume_strategy"] = "resume_strategy"
    config_id: str


class ClosePosition(_Command):
    """Close one symbol's position at market."""

    kind: Literal["close_position"] = "close_position"
    symbol: str


class ManualOrder(_Command):
    """A trader's own order; it passes the same risk gate as a strategy's."""

    kind: Literal["manual_order"] = "manual_order"
    symbol: str
    side: Literal["buy", "sell"]
    qty: float = pydantic.Field(gt=0)
    order_type: Literal["market", "limit", "stop"] = "market"
    limit_price: float | None = pydantic.Field(default=None, gt=0)
    stop_price: float | None = pydantic.Field(default=None, gt=0)

    @pydantic.model_validator(mode="after")
    def _prices_fit_the_type(self):
        if self.order_type == "limit" and self.limit_price is None:
            raise ValueError("a limit order needs a limit price")
        if self.order_type == "stop" and self.stop_price is None:
            raise ValueError("a stop order needs a stop price")
        if self.order_type == "market" and (self.limit_price or self.stop_price):
            raise ValueError("a market order takes no limit or stop price")
        return self


class TightenStop(_Command):
    """Move a position's protective stop closer to the price (never further away)."""

    kind: Literal["tighten_stop"] = "tighten_stop"
    symbol: str
    stop_price: float = pydantic.Field(gt=0)


class CancelOrder(_Command):
    """Cancel one open order at the broker, named by its broker id."""

    kind: Literal["cancel_order"] = "cancel_order"
    order_id: str = pydantic.Field(min_length=1)
    symbol: str = ""  # said in the audit trail and the result


class SetRiskLimits(_Command):
    """Replace the risk limits in force (validated as RiskLimits by the loop)."""

    kind: Literal["set_risk_limits"] = "set_risk_limits"
    limits: dict


class ApproveProposal(_Command):
    """Send an entry the loop proposed (engine.live.approvals), through the gate again."""

    kind: Literal["approve_proposal"] = "approve_proposal"
    proposal_id: int = pydantic.Field(gt=0)


class RejectProposal(_Command):
    """Refuse an entry the loop proposed: it is never sent."""

    kind: Literal["reject_proposal"] = "reject_proposal"
    proposal_id: int = pydantic.Field(gt=0)
    reason: str = ""


Command = Annotated[
    KillSwitch
    | Halt
    | ResumeTrading
    | FlattenAll
    | PauseStrategy
    | ResumeStrategy
    | ClosePosition
    | ManualOrder
    | TightenStop
    | CancelOrder
    | SetRiskLimits
    | ApproveProposal
    | RejectProposal,
    pydantic.Field(discriminator="kind"),
]
_adapter = pydantic.TypeAdapter(Command)
KINDS = [
    "kill_switch",
    "halt",
    "resume_trading",
    "flatten_all",
    "pause_strategy",
    "resume_strategy",
    "close_position",
    "manual_order",
    "tighten_stop",
    "cancel_order",
    "set_risk_limits",
    "approve_proposal",
    "reject_proposal",
]


def parse_command(data: dict) -> _Command:
    """A command from its JSON form; a clear InputError when it does not fit its kind."""
    try:
        return _adapter.validate_python(data)
    except pydantic.ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'kind'}: {e['msg']}" for e in exc.errors()
        )
        raise InputError(
            f"invalid {data.get('kind', 'command')}: {details}",
            hint=f"command kinds: {', '.join(KINDS)}",
        ) from exc


def submit_command(store: Store, command: _Command, actor: str, *, once: bool = False) -> int:
    """Queue ``command`` for the live loop; returns its id. Audited as ``command.submitted``.

    With ``once``, the same command already pending is refused (a double click, a second
    tab): checked in the same transaction as the insert, so two at once cannot both pass.
    """
    if isinstance(command, ManualOrder | ClosePosition | TightenStop | CancelOrder):
        command = command.model_copy(update={"symbol": command.symbol.strip().upper()})
    payload = command.model_dump(mode="json")

    def write(con) -> int:
        if once:
            _refuse_twice(con, command.kind, payload)
        command_id = con.execute(
            "INSERT INTO commands (created_at, actor, kind, payload, status) VALUES (?, ?, ?, ?, 'pending')"
            " RETURNING id",
            [utcnow(), actor, command.kind, json.dumps(payload)],
        ).fetchone()[0]
        append_event(con, "command.submitted", actor, subject=str(command_id), payload=payload)
        return int(command_id)

    return store.transaction(write)


def _refuse_twice(con, kind: str, payload: dict) -> None:
    same = con.execute(
        "SELECT id, actor FROM commands WHERE status = 'pending' AND kind = ? AND payload = ?"
        " ORDER BY id LIMIT 1",
        [kind, json.dumps(payload)],
    ).fetchone()
    if same is not None:
        raise DuplicateCommand(
            f"the same {describe(kind, payload)} is already pending (command #{same[0]}, "
            f"asked by {same[1]})",
            hint="wait for the live loop to apply it, or cancel it from the status strip",
        )


class DuplicateCommand(InputError):
    """The same command is already waiting for the loop."""


def describe(kind: str, payload: dict) -> str:
    """A command in a trader's words: ``kill switch on``, ``close AAPL``, ``buy 10 CAT``."""
    words = kind.replace("_", " ")
    if kind == "kill_switch":
        return f"kill switch {'on' if payload.get('on') else 'off'}"
    if kind == "manual_order":
        return f"{payload.get('side')} {payload.get('qty'):g} {payload.get('symbol')}"
    if kind in ("close_position", "tighten_stop"):
        stop = f" to ${payload['new_stop']:,.2f}" if payload.get("new_stop") is not None else ""
        return f"{words} {payload.get('symbol')}{stop}"
    if kind == "cancel_order":
        return f"cancel order {payload.get('symbol') or ''} {str(payload.get('order_id'))[:8]}".replace("  ", " ")
    if kind in ("approve_proposal", "reject_proposal"):
        return f"{kind.split('_')[0]} proposal #{payload.get('proposal_id')}"
    if kind in ("pause_strategy", "resume_strategy"):
        return f"{words} {str(payload.get('config_id'))[:8]}"
    return words


def cancel_command(store: Store, command_id: int, actor: str) -> bool:
    """Withdraw a pending command before the loop applies it; False when it was already decided.

    The loop reads a command's status again just before applying it, so a canceled
    command is never applied.
    """

    def write(con) -> bool:
        row = con.execute("SELECT status, kind FROM commands WHERE id = ?", [command_id]).fetchone()
        if row is None:
            raise NotFoundError(f"no command {command_id}")
        if row[0] != "pending":
            return False
        con.execute(
            "UPDATE commands SET status = 'canceled', decided_at = ?, decided_by = ?, result = ?"
            " WHERE id = ?",
            [utcnow(), actor, f"canceled by {actor} before the loop applied it", command_id],
        )
        append_event(con, "command.canceled", actor, subject=str(command_id), payload={"kind": row[1]})
        return True

    return store.transaction(write)


def still_pending(store: Store, command_id: int) -> bool:
    """True while command ``command_id`` waits (not applied, denied or canceled)."""
    return store.scalar("SELECT status FROM commands WHERE id = ?", [command_id]) == "pending"


def pending_commands(store: Store) -> list[tuple[int, str, _Command]]:
    """Commands not yet applied or denied, oldest first: (id, actor, command)."""
    rows = store.rows("SELECT id, actor, payload FROM commands WHERE status = 'pending' ORDER BY id")
    return parsed(rows)


def parsed(rows) -> list[tuple[int, str, _Command]]:
    """``(id, actor, JSON payload)`` rows of pending commands as (id, actor, command)."""
    return [(int(cid), actor, parse_command(json.loads(payload))) for cid, actor, payload in rows]


def resolve_command(
    store: Store, command_id: int, *, applied: bool, result: str, by: str, con=None
) -> None:
    """Mark a pending command applied or denied with what happened; once only.

    Pass ``con`` to do it inside the caller's transaction (the loop marks a command applied
    in the same transaction as the state change it made).
    """

    def write(con) -> None:
        row = con.execute(
            "SELECT status, actor, kind FROM commands WHERE id = ?", [command_id]
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no command {command_id}")
        late_cancel = row[0] == "canceled"
        if row[0] != "pending" and not late_cancel:
            return  # already resolved (a repeated step): nothing to do
        status = "applied" if applied else "denied"
        # The loop had it in hand when the cancel came: what it did is the truth, said as such.
        said = f"{result} (a cancel came too late)" if late_cancel else result
        con.execute(
            "UPDATE commands SET status = ?, decided_at = ?, decided_by = ?, result = ? WHERE id = ?",
            [status, utcnow(), by, said, command_id],
        )
        append_event(
            con,
            f"command.{status}",
            by,
            subject=str(command_id),
            payload={"kind": row[2], "asked_by": row[1], "result": said},
        )

    if con is not None:
        write(con)
    else:
        store.transaction(write)


def recent_commands(store: Store, limit: int = 50) -> pd.DataFrame:
    """The newest commands with their status, for the control room."""
    return store.query(
        "SELECT id, created_at, actor, kind, payload, status, decided_at, decided_by, result"
        f" FROM commands ORDER BY id DESC LIMIT {int(limit)}"
    )


def describe_commands(store: Store, ids: list[int]) -> dict[int, str]:
    """Each command in a trader's words: ``"close_position #12 by bob (why)"``, by id."""
    if not ids:
        return {}
    rows = store.query(
        "SELECT id, kind, actor, payload FROM commands WHERE id IN (SELECT unnest(?))", [list(ids)]
    )
    found = {}
    for row in rows.itertuples():
        reason = json.loads(row.payload).get("reason")
        why = f" ({reason})" if reason else ""
        found[int(row.id)] = f"{row.kind} #{row.id} by {row.actor}{why}"
    return found
