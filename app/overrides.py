"""The trader's override controls: buttons, confirmations, and where each command stands.

Only a trader ever sees these (pages call them behind ``visitor.can_trade``), and
:mod:`app.facade` refuses a viewer again. A destructive override (kill switch on,
flatten, close, manual order, retire, new limits) opens a confirmation first. Every
submitted command is tracked in the session and shown pending -> applied/denied.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import streamlit as st

from app import facade, views
from app.figures import LoopStatus, TradingStatus
from engine.brokers import open_book
from engine.errors import InputError, NotFoundError, WorkbenchError
from engine.live.commands import CancelOrder, FlattenAll, Halt, KillSwitch, ResumeTrading
from engine.risk import states

CONFIRM_KEY = "confirming"
TRACKED_KEY = "my_commands"
NOTICE_KEY = "notice"
#: The last direct flatten's report, kept on the page (a toast is too easy to miss).
FLATTEN_REPORT_KEY = "flatten_report"


# -- confirmations ---------------------------------------------------------------------------


def ask(what: str, **details) -> None:
    """Open the confirmation for ``what`` on the next run (details travel with it)."""
    st.session_state[CONFIRM_KEY] = {"what": what, **details}


def asking(what: str) -> dict | None:
    """The details of the open confirmation if it is for ``what``."""
    current = st.session_state.get(CONFIRM_KEY)
    return current if current and current.get("what") == what else None


def _close() -> None:
    st.session_state.pop(CONFIRM_KEY, None)


def confirm(
    title: str, body: str, action: Callable[[], str | None], *, label: str, danger: bool = True
) -> None:
    """A modal asking to confirm; ``action`` runs on yes and returns a notice to show."""

    @st.dialog(title, on_dismiss=_close)
    def dialog() -> None:
        st.markdown(body)
        left, right = st.columns(2)
        if left.button(
            label, type="primary" if danger else "secondary", key="confirm_yes", width="stretch"
        ):
            try:
                notice = action()
            except WorkbenchError as exc:
                st.error(str(exc))  # and Cancel stays, to close the dialog
            else:
                _close()
                if notice:
                    st.session_state[NOTICE_KEY] = notice
                st.rerun()
        if right.button("Cancel", key="confirm_no", width="stretch"):
            _close()
            st.rerun()

    dialog()


def notices() -> None:
    """The outcome of the last confirmed override, shown once as a toast.

    A toast leaves the page's layout alone; "Your commands" keeps the lasting record.
    """
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.toast(notice, icon=":material/check_circle:", duration="long")
    report = st.session_state.pop(FLATTEN_REPORT_KEY, None)
    if report:
        text, left_open = report
        (st.error if left_open else st.success)(text, icon=":material/close_fullscreen:")


# -- tracking commands -----------------------------------------------------------------------


def track(command_id: int) -> str:
    """Remember a command this session submitted; returns the notice for the trader."""
    st.session_state.setdefault(TRACKED_KEY, []).insert(0, int(command_id))
    return f"Command #{command_id} queued: pending until the live loop applies it."


def submit(store, visitor, command) -> str:
    """Queue ``command`` in the visitor's name; the notice to show."""
    return track(facade.submit(store, command, visitor))


@st.fragment(run_every="2s")
def my_commands(store) -> None:
    """This session's commands, refreshed every 2 seconds until the loop decides them."""
    tracked = st.session_state.get(TRACKED_KEY, [])
    if not tracked:
        return
    st.markdown("###### Your commands")
    views.commands_table(facade.command_status(store, tracked[:20]), key="my_commands_table")


# -- the overrides on the Overview page ------------------------------------------------------


def trading_controls(store, visitor, loop: LoopStatus, trading: TradingStatus) -> None:
    """Kill switch, halt, resume trading and flatten all, each behind a confirmation.

    The confirmations say what :mod:`engine.risk.states` says each control does: the words
    the gate's reasons and ``wb --help`` use too.
    """
    with st.container(horizontal=True, gap="small"):
        if trading.kill_switch:
            if st.button("Kill switch OFF", icon=":material/play_arrow:", key="kill_off"):
                ask("kill_off")
        elif st.button("KILL SWITCH", type="primary", icon=":material/block:", key="kill_on"):
            ask("kill_on")
        if trading.state != "HALTED" and st.button(
            "Halt", icon=":material/pan_tool:", key="halt_trading"
        ):
            ask("halt")
        if trading.state != "ACTIVE" and st.button(
            "Resume trading", icon=":material/restart_alt:", key="resume_trading"
        ):
            ask("resume_trading")
        if st.button("Flatten all", icon=":material/close_fullscreen:", key="flatten_all"):
            ask("flatten")
    queued = "" if loop.running else "\n\n_No live loop is running: it is applied when one starts._"
    resuming_from = f"The state is **{trading.state}**" + (
        f" ({trading.reason})" if trading.reason else ""
    )
    # Each control's confirmation: the question, what it does, the command sent on yes, the
    # button's words, and whether that button is the red one.
    confirmations = {
        "kill_on": ("Turn the kill switch ON?", states.KILL_SWITCH_ON, KillSwitch(on=True),
                    "Yes, kill switch ON", True),
        "kill_off": ("Turn the kill switch off?", states.KILL_SWITCH_OFF, KillSwitch(on=False),
                     "Turn it off", False),
        "halt": ("Halt all trading?", states.HALT, Halt(), "Yes, halt", True),
        "resume_trading": ("Resume trading?", f"{resuming_from}. {states.RESUME}",
                           ResumeTrading(), "Resume trading", False),
    }  # fmt: skip
    for control, (question, what, command, label, danger) in confirmations.items():
        if asking(control):
            confirm(question, f"{what}{queued}", partial(submit, store, visitor, command),
                    label=label, danger=danger)  # fmt: skip
    if asking("flatten"):
        _confirm_flatten(store, visitor, loop)


def _confirm_flatten(store, visitor, loop: LoopStatus) -> None:
    if loop.running:
        confirm(
            "Flatten everything?",
            f"{states.FLATTEN} The live loop does it at its next step.",
            lambda: submit(store, visitor, FlattenAll()),
            label="Yes, flatten all",
        )
        return
    broker_name = (loop.book or loop.broker or "paper").split(":")[0]

    def flatten() -> str:
        broker = direct_broker(store, loop, visitor.name)  # built only once the trader confirms
        done = facade.flatten_direct(store, visitor, broker, kill_switch=True)
        track(done.command_id)
        st.session_state[FLATTEN_REPORT_KEY] = (done.report(broker.name), bool(done.still_open))
        return done.report(broker.name)

    confirm(
        "Flatten everything, directly?",
        f"**No live loop is running** ({loop.why}), so the control room sends the closing "
        f"orders **straight to the {broker_name} broker** now and cancels open orders. The kill "
        "switch is queued ON too, so that a loop started later does not buy the book back.",
        flatten,
        label="Yes, flatten now",
    )


def direct_broker(store, loop: LoopStatus, actor: str):
    """The broker of the book the last loop traded, to flatten without it.

    The book is ``paper:<account>`` (the paper broker in this store; the account must
    exist, since there is nothing to flatten in one never opened), ``alpaca:paper`` or
    ``alpaca:live`` (keys from the environment, never shown).
    """
    book = loop.book or f"{loop.broker or 'paper'}:{'live' if loop.mode == 'live' else 'paper'}"
    try:
        return open_book(store, book, actor=actor)
    except NotFoundError as exc:
        raise InputError(f"{exc.message}: nothing to flatten") from None


# -- cancel an open order (the Orders page) --------------------------------------------------


def cancel_orders(store, visitor, open_orders, loop: LoopStatus) -> None:
    """A picker of the shown book's open orders and a Cancel button, behind a confirmation.

    With the loop running the cancel is a command it applies at its next step; without one
    it goes straight to the broker, and the trader reads what the broker answered.
    """
    if open_orders.empty:
        return
    st.markdown("###### Cancel an open order")
    labels = {
        row.id: f"{row.side} {row.qty:g} {row.symbol} {row.type}"
        + (f" ${row.limit_price:,.2f}" if row.type == "limit" else "")
        + (f" stop ${row.stop_price:,.2f}" if row.type in ("stop", "stop_limit") else "")
        + f" · {row.status} · {row.client_order_id}"
        for row in open_orders.itertuples()
    }
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
    picked = row.selectbox(
        "Open order", list(labels), format_func=labels.get, index=None, key="cancel_pick",
        placeholder="pick an open order", width=520,
    )  # fmt: skip
    if row.button(
        "Cancel order", icon=":material/cancel:", key="cancel_order", disabled=not picked
    ):
        order = open_orders[open_orders["id"] == picked].iloc[0]
        ask("cancel_order", order_id=str(picked), symbol=str(order["symbol"]), label=labels[picked])
    pending = asking("cancel_order")
    if not pending:
        return
    if loop.running:
        confirm(
            "Cancel this order?",
            f"**{pending['label']}**\n\nThe live loop cancels it at its next step (a held "
            "position's protective stop is refused: the loop would put it back).",
            lambda: submit(
                store, visitor, CancelOrder(order_id=pending["order_id"], symbol=pending["symbol"])
            ),
            label="Yes, cancel it",
        )
        return

    def cancel_now() -> str:
        broker = direct_broker(store, loop, visitor.name)
        done = facade.cancel_direct(store, visitor, broker, pending["order_id"], pending["symbol"])
        track(done.command_id)
        outcome = "Canceled" if done.applied else "Not canceled"
        return (
            f"{outcome} directly through {broker.name} (command #{done.command_id}): {done.result}"
        )

    confirm(
        "Cancel this order, directly?",
        f"**{pending['label']}**\n\n**No live loop is running** ({loop.why}), so the control "
        "room asks the broker to cancel it now.",
        cancel_now,
        label="Yes, cancel it now",
    )


# -- entries waiting for approval (the Orders page) ------------------------------------------


def proposals(store, visitor, book: str | None) -> None:
    """The book's proposed entries with their reasons; a trader approves or rejects each,
    behind a confirmation (a command the loop applies; it sends an approved entry through
    the risk gate)."""
    waiting = facade.waiting_proposals(store, book)
    if not waiting:
        return
    st.markdown("###### Entries waiting for approval")
    for p in waiting:
        with st.container(border=True, key=f"proposal_{p.id}"):
            lines = [f"**{p.describe()}** · expires {p.expires_at:%Y-%m-%d %H:%M} UTC"]
            lines += [f"{name.capitalize()}: {p.reasons.get(name, '')}"
                      for name in ("signal", "size", "stop", "target", "risk")]  # fmt: skip
            lines.append(f"_Why it waits: {p.why}_")
            st.markdown(_dollars("  \n".join(lines)))
            if not visitor.can_trade:
                continue
            row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
            reason = row.text_input("Reason to reject", key=f"reject_reason_{p.id}", width=320)
            if row.button(f"Approve #{p.id}", type="primary", key=f"approve_{p.id}"):
                ask("approve_proposal", id=p.id, label=_dollars(p.describe()))
            if row.button(f"Reject #{p.id}", key=f"reject_{p.id}"):
                if reason.strip():
                    ask("reject_proposal", id=p.id, label=_dollars(p.describe()),
                        reason=reason.strip())
                else:
                    st.error("Say why it is rejected (the reason goes in the audit trail).")
    approving, rejecting = asking("approve_proposal"), asking("reject_proposal")
    if approving:
        confirm(
            "Approve this entry?",
            f"**{approving['label']}**\n\nThe live loop sends it at its next step, through the "
            "same risk gate as any order (the gate may still deny it, with the reason).",
            lambda: track(facade.answer_proposal(store, approving["id"], visitor, approve=True)),
            label="Yes, approve it",
        )
    if rejecting:
        confirm(
            "Reject this entry?",
            f"**{rejecting['label']}**\n\nReason: {_dollars(rejecting['reason'])}. It is never sent.",
            lambda: track(facade.answer_proposal(store, rejecting["id"], visitor, approve=False,
                                                 reason=rejecting["reason"])),
            label="Yes, reject it",
        )  # fmt: skip


def _dollars(text: str) -> str:
    """``text`` with its dollar signs kept as such (markdown would read ``$...$`` as maths)."""
    return text.replace("$", "\\$")
