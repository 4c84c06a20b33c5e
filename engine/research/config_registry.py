"""The config registry: every trading config in the store, with its lifecycle status.

::

    draft ──▶ validated ──▶ approved ◀──▶ paused
      │   ╲      ▲  │           │            │
      │    ╲     ▼  │           ▼            ▼
      │     ▶ rejected ───────▶ retired ◀────┘   (retire from anything but retired)

Only the validation policy moves a config into ``validated`` or ``rejected``
(:func:`save_proposal` with a :class:`~engine.research.validation.Verdict`); a person moves
it on from there (:func:`transition`): approve needs ``validated``, pause needs
``approved``, resume takes ``paused`` back to ``approved``, and retiring is final.

Every change writes an event (kind ``config.<status>``, the actor, and a payload saying
why, from and to) in the same transaction as the change, and then exports the config as
readable YAML to ``<data_dir>/configs/<id>.yaml``. The store is the source of truth; the
YAML files are for reading, diffing and review.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pydantic

from engine.config.models import ID_LENGTH, StrategyConfig
from engine.errors import InputError, NotFoundError, OperatorError
from engine.research.validation import MAX_DRAWDOWN, SHARPE, TRADES, Verdict
from engine.store.events import append_event, utcnow

STATUSES = ("draft", "validated", "rejected", "approved", "paused", "retired")

#: Every move the lifecycle allows, from -> to.
LIFECYCLE: dict[str, tuple[str, ...]] = {
    "draft": ("validated", "rejected", "retired"),
    "validated": ("approved", "rejected", "retired"),
    "rejected": ("validated", "retired"),
    "approved": ("paused", "retired"),
    "paused": ("approved", "retired"),
    "retired": (),
}

#: Statuses only the validation policy may give, through save_proposal with a verdict.
POLICY_ONLY = frozenset({"validated", "rejected"})

#: Statuses a trader has acted on; fresh evidence does not overturn them.
DECIDED = frozenset({"approved", "paused", "retired"})

#: What a trader does to a config: the status it goes to, and the statuses it must be in.
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "approve": ("approved", ("validated",)),
    "pause": ("paused", ("approved",)),
    "resume": ("approved", ("paused",)),
    "retire": ("retired", tuple(s for s in STATUSES if s != "retired")),
}

MIN_PREFIX = 4
CONFIGS_DIR = "configs"


@dataclass(frozen=True)
class ConfigRecord:
    """A config as the registry holds it: the config, its status and the verdict's reasons."""

    config_id: str
    strategy: str
    status: str
    config: StrategyConfig
    reasons: list[str]
    created_by: str
    created_at: datetime
    updated_at: datetime

    def summary(self) -> dict[str, Any]:
        """The record as plain values, for JSON output and tables."""
        return {
            "config_id": self.config_id,
            "strategy": self.strategy,
            "status": self.status,
            "universe": self.config.universe,
            "bar_size": self.config.bar_size,
            "params": self.config.params,
            "reasons": self.reasons,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


# -- pure rules ----------------------------------------------------------------------------


def check_transition(config_id: str, current: str, to: str) -> None:
    """Nothing if a person may move a config from ``current`` to ``to``; else an InputError."""
    if to not in STATUSES:
        raise InputError(f"there is no status {to!r}", hint=_did_you_mean(to, STATUSES))
    if to in POLICY_ONLY:
        raise InputError(
            f"config {config_id} cannot be marked {to} by hand: only the validation policy "
            "decides that",
            hint="run wb validate for the strategy, universe and grid to get a verdict",
        )
    if to == current:
        raise InputError(f"config {config_id} is already {current}", hint="nothing to do")
    if to in LIFECYCLE[current]:
        return
    manual = [s for s in LIFECYCLE[current] if s not in POLICY_ONLY]
    onward = f"from {current} it can only be {' or '.join(manual)}" if manual else "that is final"
    if current == "retired":
        hint = "a retired config stays retired; validate a new config instead"
    elif to == "approved" and current == "rejected":
        hint = "it failed validation (wb configs show ID lists why); only a validated config can be approved"
    elif to == "approved":
        hint = "only a validated config can be approved: run wb validate first"
    elif to == "paused":
        hint = "only an approved config can be paused"
    else:
        hint = "a config starts as a draft and never goes back to one"
    raise InputError(
        f"cannot move config {config_id} to {to}: it is {current}, and {onward}", hint=hint
    )


# -- writing -------------------------------------------------------------------------------


def save_proposal(
    store, config: StrategyConfig, verdict: Verdict | None, actor: str
) -> ConfigRecord:
    """The registry's record of ``config`` after saving it with the policy's ``verdict``.

    A new config is stored as the verdict's status (``draft`` without one). A config
    already stored and not yet acted on by a trader (draft, validated, rejected) takes the
    new evidence and verdict. One a trader has approved, paused or retired keeps its status
    and the evidence it was approved on; the new verdict is recorded as a
    ``config.revalidated`` event so the trader sees it.
    """
    actor = _require_actor(actor)
    config_id = config.config_id
    to = verdict.status if verdict is not None else "draft"
    reasons = list(verdict.reasons) if verdict is not None else []

    def work(con: duckdb.DuckDBPyConnection) -> bool:
        current = _status_in(con, config_id)
        now = utcnow()
        figures = _headline(config)
        if current is None:
            con.execute(
                "INSERT INTO configs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    config_id,
                    config.strategy,
                    to,
                    config.model_dump_json(),
                    json.dumps(reasons),
                    config.created_by,
                    now,
                    now,
                ],
            )
        elif verdict is None:
            return False  # already registered; a draft save never overwrites evidence
        elif current in DECIDED:
            append_event(
                con,
                "config.revalidated",
                actor,
                config_id,
                {
                    "why": f"validated again while {current}; status unchanged",
                    "from": current,
                    "to": current,
                    "verdict": to,
                    "reasons": reasons,
                    **figures,
                },
                ts=now,
            )
            return False
        else:
            con.execute(
                "UPDATE configs SET status = ?, config = ?, reasons = ?, updated_at = ?"
                " WHERE config_id = ?",
                [to, config.model_dump_json(), json.dumps(reasons), now, config_id],
            )
        append_event(
            con,
            f"config.{to}",
            actor,
            config_id,
            {
                "why": _proposal_why(verdict),
                "from": current,
                "to": to,
                "reasons": reasons,
                **figures,
            },
            ts=now,
        )
        return True

    try:
        changed = store.transaction(work)
    except duckdb.ConstraintException:
        # Another process registered the same config between our read and our insert;
        # run again, now as an update of the row it wrote.
        changed = store.transaction(work)
    record = get_config(store, config_id)
    if changed:
        export_yaml(store.data_dir, record)
    return record


def transition(
    store,
    config_id: str,
    to: str,
    actor: str,
    reason: str,
    *,
    expect: tuple[str, ...] | None = None,
) -> ConfigRecord:
    """The record after a person moves the config to status ``to``, saying why.

    ``config_id`` may be a unique prefix. An illegal move is an InputError naming the
    current status and what is allowed from it. ``expect``, when given, narrows the
    statuses the config may be in (resume means paused -> approved, never validated ->
    approved); :func:`act` passes it for each trader action.
    """
    actor = _require_actor(actor)
    reason = (reason or "").strip()
    if not reason:
        raise InputError(
            f"say why the config goes to {to}: the reason is kept in the audit trail",
            hint="pass --reason '...'",
        )
    config_id = get_config(store, config_id).config_id

    def work(con: duckdb.DuckDBPyConnection) -> None:
        # Read the status inside the transaction: a concurrent change makes this one retry.
        current = _status_in(con, config_id)
        check_transition(config_id, current, to)
        if expect is not None and current not in expect:
            raise InputError(
                f"config {config_id} is {current}, not {' or '.join(expect)}",
                hint=_expect_hint(current, to),
            )
        now = utcnow()
        con.execute(
            "UPDATE configs SET status = ?, updated_at = ? WHERE config_id = ?",
            [to, now, config_id],
        )
        append_event(
            con,
            f"config.{to}",
            actor,
            config_id,
            {"why": reason, "from": current, "to": to},
            ts=now,
        )

    store.transaction(work)
    record = get_config(store, config_id)
    export_yaml(store.data_dir, record)
    return record


def act(store, config_id: str, action: str, actor: str, reason: str) -> ConfigRecord:
    """The record after a trader's ``action`` (approve, pause, resume, retire) on the config."""
    if action not in ACTIONS:
        raise InputError(f"there is no action {action!r}", hint=_did_you_mean(action, ACTIONS))
    to, expect = ACTIONS[action]
    return transition(store, config_id, to, actor, reason, expect=expect)


def _expect_hint(current: str, to: str) -> str:
    if to == "approved" and current == "validated":
        return "a validated config is approved, not resumed: wb configs approve ID"
    if to == "approved" and current == "paused":
        return "a paused config is resumed, not approved again: wb configs resume ID"
    return "wb configs show ID shows its status"


# -- reading -------------------------------------------------------------------------------

_COLUMNS = "config_id, strategy, status, config, reasons, created_by, created_at, updated_at"


def get_config(store, config_id: str) -> ConfigRecord:
    """The config with this id or unique id prefix (at least 4 characters, like git)."""
    wanted = (config_id or "").strip().lower()
    if len(wanted) < MIN_PREFIX:
        raise InputError(
            f"config id {config_id!r} is too short",
            hint=f"give at least {MIN_PREFIX} characters of the id (wb configs list shows them)",
        )
    rows = store.query(
        f"SELECT {_COLUMNS} FROM configs WHERE starts_with(config_id, ?) ORDER BY config_id",
        [wanted[:ID_LENGTH]],
    )
    if len(wanted) > ID_LENGTH:
        rows = rows.iloc[0:0]
    if len(rows) == 1:
        return _record(rows.iloc[0])
    if len(rows) > 1:
        listing = ", ".join(f"{r.config_id} ({r.strategy}, {r.status})" for r in rows.itertuples())
        raise InputError(
            f"config id prefix {wanted!r} matches {len(rows)} configs: {listing}",
            hint="give more characters of the id",
        )
    known = store.query("SELECT config_id FROM configs")["config_id"].tolist()
    guess = difflib.get_close_matches(wanted, known, n=3, cutoff=0.5)
    guess += [k for k in known if k.startswith(wanted[:MIN_PREFIX]) and k not in guess][:3]
    raise NotFoundError(
        f"no config with id {wanted!r}",
        hint=(f"did you mean {' or '.join(guess)}? " if guess else "")
        + "wb configs list shows the stored configs",
    )


def list_configs(store, status: str | None = None) -> list[ConfigRecord]:
    """Stored configs, most recently changed first; only those in ``status`` when given."""
    if status is not None and status not in STATUSES:
        raise InputError(f"there is no status {status!r}", hint=_did_you_mean(status, STATUSES))
    sql = f"SELECT {_COLUMNS} FROM configs"
    params: list[Any] = []
    if status is not None:
        sql += " WHERE status = ?"
        params.append(status)
    rows = store.query(sql + " ORDER BY updated_at DESC, config_id", params)
    return [_record(row) for _, row in rows.iterrows()]


def approved_configs(store) -> list[StrategyConfig]:
    """The configs the live loop may trade now: status approved (paused ones excluded)."""
    return [record.config for record in list_configs(store, "approved")]


# -- YAML export ---------------------------------------------------------------------------


def yaml_path(data_dir: str | Path, config_id: str) -> Path:
    """Where the readable YAML export of a config lives."""
    return Path(data_dir) / CONFIGS_DIR / f"{config_id}.yaml"


def record_yaml(record: ConfigRecord) -> str:
    """The config as YAML under a comment header with its registry status."""
    config = record.config
    header = [
        f"# strategy config {record.config_id}: {config.strategy} on {', '.join(config.universe)}",
        f"# status: {record.status} (as of {record.updated_at:%Y-%m-%d %H:%M:%S} UTC)",
        "# exported from the registry, which is the source of truth; edits here change nothing",
    ]
    header += [f"# failed: {reason}" for reason in record.reasons]
    return "\n".join(header) + "\n" + config.to_yaml()


def export_yaml(data_dir: str | Path, record: ConfigRecord) -> Path:
    """The path of the config's YAML export, (re)written atomically: temp file, then rename."""
    path = yaml_path(data_dir, record.config_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{record.config_id}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(record_yaml(record))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)  # readers see the old file or the new one, never half of one
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


# -- helpers -------------------------------------------------------------------------------


def _status_in(con: duckdb.DuckDBPyConnection, config_id: str) -> str | None:
    row = con.execute("SELECT status FROM configs WHERE config_id = ?", [config_id]).fetchone()
    return None if row is None else row[0]


def _record(row) -> ConfigRecord:
    try:
        config = StrategyConfig.model_validate_json(row["config"])
    except (pydantic.ValidationError, InputError) as exc:
        raise OperatorError(
            f"stored config {row['config_id']} no longer loads: {exc}",
            hint="the strategy or its params changed since it was saved; retire it and validate again",
        ) from exc
    if config.config_id != row["config_id"]:
        raise OperatorError(
            f"stored config {row['config_id']} now hashes to {config.config_id}: what it "
            "trades has changed meaning (the strategy's params or the backtest settings "
            "changed shape) since it was saved",
            hint="do not trade it; retire it and validate the strategy again",
        )
    return ConfigRecord(
        config_id=row["config_id"],
        strategy=row["strategy"],
        status=row["status"],
        config=config,
        reasons=list(json.loads(row["reasons"])),
        created_by=row["created_by"],
        created_at=row["created_at"].to_pydatetime(),
        updated_at=row["updated_at"].to_pydatetime(),
    )


def _require_actor(actor: str) -> str:
    actor = (actor or "").strip()
    if not actor:
        raise InputError(
            "who is doing this? the actor is empty", hint="pass --user NAME or set $USER"
        )
    return actor


def _proposal_why(verdict: Verdict | None) -> str:
    if verdict is None:
        return "saved as a draft, not yet validated"
    if verdict.validated:
        return "passed every check of the validation policy"
    return "failed the validation policy: " + "; ".join(verdict.reasons)


def _headline(config: StrategyConfig) -> dict[str, Any]:
    """The figures a trader reads first, for the event payload."""
    evidence = config.evidence
    if evidence is None:
        return {}
    return {
        "oos_sharpe": evidence.out_of_sample.get(SHARPE),
        "oos_max_drawdown": evidence.out_of_sample.get(MAX_DRAWDOWN),
        "oos_trades": evidence.out_of_sample.get(TRADES),
        "deflated_sharpe": evidence.deflated_sharpe,
        "pbo": evidence.pbo,
        "run_id": evidence.run_id,
    }


def _did_you_mean(word: str, choices) -> str:
    guess = difflib.get_close_matches(str(word), list(choices), n=1)
    prefix = f"did you mean {guess[0]!r}? " if guess else ""
    return prefix + f"choose from: {', '.join(choices)}"
