"""Entries a trader approves: the loop proposes them, a trader approves or rejects each.

The account's risk limits (``approve_entries``: ``all``, or ``above`` a value in dollars)
or a config's settings (the same two names) ask for it; the stricter wins. A step's
entries that need approval pass the risk gate as usual, then wait as proposals instead of
going to the broker (:func:`needs_approval`, the router's ``hold``), each with its reasons
(signal, size, stop, target, risk) and an expiry: the close of the bar it was meant to
fill in, or ``approval_expires`` (HH:MM New York) on that bar's session, if sooner.
Exits and protective stops never wait.

A trader approves or rejects with a command (``wb approve``, ``wb reject``, the control
room's Orders page), which the loop applies like any other
(:mod:`engine.live.overrides`): an approval sends the entry through the one order path
(:mod:`engine.live.router`: the gate again, the kill switch) under the decision's client
order id, marked ``approved`` before it goes and ``sent`` with its order. A crash between
the two leaves the command pending; applied again, it sends under the same id and the
broker gives back the order it already has. Proposals still waiting at their expiry are
marked ``expired`` at the next step; an expired or rejected proposal is never sent.

This module owns the ``proposals`` table (migration 0016).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd

from engine.brokers.base import OrderRequest
from engine.errors import InputError, NotFoundError
from engine.live.alerts import Alert
from engine.live.clock import BarClose, next_bar, session_close
from engine.live.orders import PendingOrder
from engine.live.records import LiveOrder
from engine.risk import OrderIntent
from engine.store.events import append_event, utcnow

NEW_YORK = "America/New_York"
#: Proposals a trader can still act on.
WAITING = "proposed"
#: Approved and on its way: sent by the command that approved it (again after a crash).
IN_FLIGHT = "approved"


@dataclass(frozen=True)
class Proposal:
    """An entry waiting for a trader, or what became of it (a ``proposals`` row)."""

    id: int
    book: str
    mode: str
    client_order_id: str
    config_id: str
    symbol: str
    qty: float
    price: float
    stop_price: float | None
    target_price: float | None
    stop_fraction: float | None
    time_in_force: str
    decision_bar: date
    decided_at: datetime
    bar: str
    why: str
    reasons: dict
    proposed_at: datetime
    expires_at: datetime
    state: str
    state_by: str | None = None
    note: str | None = None
    command_id: int | None = None

    @property
    def notional(self) -> float:
        return self.qty * self.price

    def describe(self) -> str:
        """``#3 buy 120 AAPL ~$18,000 (sma_crossover · 5c0f3e9a)``: the proposal in a trader's words."""
        strategy = self.reasons.get("strategy", "")
        who = f"{strategy} · {self.config_id[:8]}" if strategy else self.config_id[:8]
        return f"#{self.id} buy {self.qty:g} {self.symbol} ~${self.notional:,.0f} ({who})"

    def entry_order(self, actor: str, now: datetime) -> PendingOrder:
        """The entry this proposal sends once approved: the order the step decided, under its id."""
        stop = _num(self.stop_price)
        target = _num(self.target_price)
        intent = OrderIntent(
            symbol=self.symbol, side="buy", qty=self.qty, purpose="entry", order_type="market",
            config_id=self.config_id, actor=actor, bar=self.decided_at,
        )  # fmt: skip
        request = OrderRequest(
            symbol=self.symbol, side="buy", qty=self.qty, client_order_id=self.client_order_id,
            type="market", stop_loss_price=stop, take_profit_price=target,
            time_in_force=self.time_in_force,
        )  # fmt: skip
        record = LiveOrder(
            client_order_id=self.client_order_id, config_id=self.config_id, symbol=self.symbol,
            side="buy", purpose="entry", qty=self.qty, stop_loss_price=stop,
            take_profit_price=target, decision_bar=self.decision_bar, decision_price=self.price,
            stop_fraction=_num(self.stop_fraction), created_at=now,
        )  # fmt: skip
        return PendingOrder(intent, request, record)


# -- what needs approval (pure) -----------------------------------------------------------


def needs_approval(item: PendingOrder, limits, settings) -> str | None:
    """Why a trader must approve ``item`` first, or None: only a strategy's entry ever waits.

    ``limits`` are the account's risk limits, ``settings`` the config's (None: unknown).
    """
    if item.record.purpose != "entry" or item.record.config_id is None:
        return None
    notional = item.request.qty * (item.record.decision_price or 0.0)
    asked = [("the account's risk limits", limits.approve_entries, limits.approve_entries_above)]
    if settings is not None:
        asked.append(("the config", settings.approve_entries, settings.approve_entries_above))
    for who, mode, above in asked:
        if mode == "all":
            return f"{who} ask a trader to approve every entry"
        if mode == "above" and notional > above:
            return f"${notional:,.0f} is above the ${above:,.0f} {who} let go without a trader"
    return None


def expires_at(bar: date | BarClose, setting: str) -> datetime:
    """When a proposal decided at ``bar`` expires (naive UTC): the close of the next bar,
    the one it was meant to fill in, or ``setting`` (HH:MM New York) on that bar's session
    when that comes sooner (``09:25``: a daily entry is approved before the open it fills at).
    """
    if isinstance(bar, BarClose):
        following = next_bar(bar.close, bar.bar_size)
    else:
        following = next_bar(session_close(bar), "1d")
    end = _naive_utc(following.close)
    if setting == "next_bar":
        return end
    hour, minute = (int(x) for x in setting.split(":"))
    cutoff = pd.Timestamp(following.session) + pd.Timedelta(hours=hour, minutes=minute)
    return min(end, _naive_utc(cutoff.tz_localize(NEW_YORK)))


def reasons(item: PendingOrder, strategy: str, equity: float, bar) -> dict:
    """Why the loop wants this entry, as a trader weighs it: signal, size, stop, target, risk."""
    record = item.record
    price = float(record.decision_price or 0.0)
    qty = float(item.request.qty)
    stop, target = record.stop_loss_price, record.take_profit_price
    risk = qty * (price - stop) if stop is not None else None
    return {
        "strategy": strategy,
        "signal": f"{strategy} entry signal at the close of {bar} (${price:,.2f}, traded)",
        "size": f"{qty:g} shares, ${qty * price:,.0f}"
        + (f" ({qty * price / equity:.1%} of equity)" if equity > 0 else ""),
        "stop": "none" if stop is None else f"${stop:,.2f} ({(price - stop) / price:.1%} below)",
        "target": "none"
        if target is None
        else f"${target:,.2f} ({(target - price) / price:.1%} above)",
        "risk": "unbounded: no stop"
        if risk is None
        else f"${risk:,.0f} lost at the stop"
        + (f" ({risk / equity:.2%} of equity)" if equity > 0 else ""),
        "equity": equity,
    }


def alerts(held: list[tuple[PendingOrder, dict]]) -> list[Alert]:
    """One alert per entry a step held for a trader: what, why, and until when."""
    return [
        Alert("approval",
              f"entry waiting for a trader's approval until {extra['expires_at']:%Y-%m-%d %H:%M} "
              f"UTC: buy {item.request.qty:g} {item.record.symbol} ({extra['why']}); "
              "`wb proposals` or the Orders page",
              {"client_order_id": item.client_order_id})  # fmt: skip
        for item, extra in held
    ]


# -- writes (inside the caller's transaction) ------------------------------------------------


def record_step(con, book: str, mode: str, held: list[tuple[PendingOrder, dict]],
                now: datetime, actor: str, *, expire: bool = True) -> None:  # fmt: skip
    """Writes a step's new proposals (``held``: each order with its row's extra fields) and
    marks expired those still waiting past their expiry, each an event (``expire`` False:
    the step read that none is due, and leaves the statement out).

    A repeated step proposes the same entries again under the same client order ids: the
    proposals already there (whatever became of them) are left as they are.
    """
    if expire:
        expire_due(con, book, now, actor)
    for item, extra in held:
        record = item.record
        row = con.execute(
            "INSERT INTO proposals (book, mode, client_order_id, config_id, symbol, qty, price,"
            " stop_price, target_price, stop_fraction, time_in_force, decision_bar, decided_at,"
            " bar, why, reasons, proposed_at, expires_at, state)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'proposed')"
            " ON CONFLICT (book, client_order_id) DO NOTHING RETURNING id",
            [book, mode, record.client_order_id, record.config_id, record.symbol,
             item.request.qty, record.decision_price, record.stop_loss_price,
             record.take_profit_price, record.stop_fraction, item.request.time_in_force,
             record.decision_bar, item.intent.bar, extra["bar"], extra["why"],
             json.dumps(extra["reasons"]), now, extra["expires_at"]],
        ).fetchone()  # fmt: skip
        if row is None:
            continue
        append_event(
            con, "proposal.created", actor, subject=str(row[0]),
            payload={"book": book, "client_order_id": record.client_order_id,
                     "symbol": record.symbol, "qty": item.request.qty, "why": extra["why"],
                     "expires_at": extra["expires_at"].isoformat()},
        )  # fmt: skip


def expire_due(con, book: str, now: datetime, actor: str) -> list[int]:
    """Marks ``book``'s proposals still waiting at ``now`` past their expiry expired; gives their ids."""
    rows = con.execute(
        "UPDATE proposals SET state = 'expired', state_at = ?, state_by = ?,"
        " note = 'no trader approved it before ' || strftime(expires_at, '%Y-%m-%d %H:%M UTC')"
        " WHERE book = ? AND state = 'proposed' AND expires_at <= ? RETURNING id, symbol",
        [now, actor, book, now],
    ).fetchall()
    for proposal_id, symbol in rows:
        append_event(con, "proposal.expired", actor, subject=str(proposal_id),
                     payload={"book": book, "symbol": symbol})  # fmt: skip
    return [int(r[0]) for r in rows]


def set_state(con, proposal_id: int, state: str, *, by: str, now: datetime, note: str = "",
              command_id: int | None = None) -> None:  # fmt: skip
    """Moves proposal ``proposal_id`` to ``state`` in ``by``'s name, with an event."""
    con.execute(
        "UPDATE proposals SET state = ?, state_at = ?, state_by = ?, note = ?,"
        " command_id = coalesce(?, command_id) WHERE id = ?",
        [state, now, by, note or None, command_id, proposal_id],
    )
    append_event(con, f"proposal.{state}", by, subject=str(proposal_id),
                 payload={"note": note, "command_id": command_id})  # fmt: skip


# -- reads ---------------------------------------------------------------------------------

_COLUMNS = (
    "id, book, mode, client_order_id, config_id, symbol, qty, price, stop_price, target_price,"
    " stop_fraction, time_in_force, decision_bar, decided_at, bar, why, reasons, proposed_at,"
    " expires_at, state, state_by, note, command_id"
)


def get(store, proposal_id: int) -> Proposal:
    """Proposal ``proposal_id``; NotFoundError when there is none."""
    rows = _read(store, "WHERE id = ?", [int(proposal_id)])
    if not rows:
        raise NotFoundError(
            f"no proposal {proposal_id}", hint="`wb proposals` lists them with their ids"
        )
    return rows[0]


def listed(store, book: str | None = None, *, waiting_only: bool = False,
           limit: int = 200) -> list[Proposal]:  # fmt: skip
    """The newest proposals first (of ``book``, or every book), or only those waiting."""
    where, params = [], []
    if book is not None:
        where.append("book = ?")
        params.append(book)
    if waiting_only:
        where.append("state = 'proposed'")
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    return _read(store, f"{clause} ORDER BY id DESC LIMIT {int(limit)}", params)


def open_proposals(rows) -> tuple[frozenset[str], datetime | None]:
    """From ``(client order id, state, expires_at)`` rows of a book's approved and waiting
    proposals (the loop reads them with its step's other records): the client order ids of
    the approved ones whose sending is not recorded yet (their command is applied again
    after a restart, and records what it sent), and the soonest expiry of those still
    waiting for a trader (None: none waits)."""
    in_flight = frozenset(cid for cid, state, _ in rows if state == IN_FLIGHT)
    return in_flight, min((at for _, state, at in rows if state == WAITING), default=None)


def _read(store, tail: str, params: list) -> list[Proposal]:
    frame = store.query(f"SELECT {_COLUMNS} FROM proposals {tail}", params)
    found = []
    for row in frame.to_dict("records"):
        row["reasons"] = json.loads(row["reasons"]) if row["reasons"] else {}
        for key in ("stop_price", "target_price", "stop_fraction", "command_id"):
            row[key] = _num(row[key])
        row["command_id"] = None if row["command_id"] is None else int(row["command_id"])
        row["decision_bar"] = pd.Timestamp(row["decision_bar"]).date()
        for key in ("decided_at", "proposed_at", "expires_at"):
            row[key] = pd.Timestamp(row[key]).to_pydatetime()
        found.append(Proposal(**row))
    return found


# -- a trader's answer -----------------------------------------------------------------------


def refusal(proposal: Proposal, now: datetime, *, command_id: int | None = None) -> str | None:
    """Why ``proposal`` can no longer be approved or rejected at ``now`` (None: it can).

    An approved proposal is still in hand for the command that approved it (``command_id``),
    which is applied again after a crash.
    """
    if proposal.state == IN_FLIGHT and command_id is not None and proposal.command_id == command_id:
        return None
    if proposal.state != WAITING:
        by = f" by {proposal.state_by}" if proposal.state_by else ""
        note = f": {proposal.note}" if proposal.note else ""
        return f"proposal {proposal.describe()} was already {proposal.state}{by}{note}"
    if now >= proposal.expires_at:
        return (
            f"proposal {proposal.describe()} expired at {proposal.expires_at:%Y-%m-%d %H:%M} "
            "UTC: an expired entry is never sent"
        )
    return None


def ask(store, proposal_id: int, actor: str, *, approve: bool, reason: str = "") -> int:
    """Queues a trader's approval or rejection of ``proposal_id`` for the loop; gives the
    command's id.

    Refused at once (InputError) when the proposal is unknown, already decided, or (outside
    a replay, whose time is simulated) past its expiry; the same answer already queued is
    refused too. The loop judges it again when it applies it.
    """
    from engine.live.commands import ApproveProposal, RejectProposal, submit_command

    proposal = get(store, proposal_id)
    now = utcnow() if proposal.mode != "replay" else proposal.proposed_at
    why = refusal(proposal, now)
    if why:
        raise InputError(why, hint="`wb proposals` lists those still waiting")
    if not approve and not reason.strip():
        raise InputError(
            f"say why proposal #{proposal_id} is rejected", hint="e.g. --reason 'earnings tonight'"
        )
    command = (
        ApproveProposal(proposal_id=proposal.id)
        if approve
        else RejectProposal(proposal_id=proposal.id, reason=reason.strip())
    )
    return submit_command(store, command, actor, once=True)


def _num(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _naive_utc(stamp) -> datetime:
    return pd.Timestamp(stamp).tz_convert(UTC).tz_localize(None).to_pydatetime()

