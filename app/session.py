"""Who is using this browser session, on which data dir: the login gate and shared handles."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import streamlit as st

from app import auth
from engine import users as user_file
from engine.errors import InputError, WorkbenchError
from engine.store import Store, append_event

log = logging.getLogger("wb.app")

VISITOR_KEY = "visitor"


def data_dir() -> Path:
    """The data dir in use: ``WB_DATA_DIR`` (``wb app --data-dir`` sets it), else ./data."""
    return Path(os.environ.get("WB_DATA_DIR") or "data").resolve()


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    # One Store object per data dir per server process; it holds no connection open.
    return Store.open(path)


def store() -> Store:
    """The store of the data dir in use, migrated on first use."""
    return _store(str(data_dir()))


def served_address() -> str | None:
    """The address the server listens on (AppTest serves nothing, which counts as loopback)."""
    if st.get_option("global.appTest"):
        return "127.0.0.1"
    return st.get_option("server.address")


def visitor() -> auth.Visitor | None:
    """The logged-in person, or None while the login form is shown."""
    return st.session_state.get(VISITOR_KEY)


def gate() -> auth.Visitor | None:
    """The visitor allowed in, after a login if one is configured; None to stop the page.

    Renders the reason (misconfigured users, an open bind without users) or the login
    form itself when it returns None.
    """
    try:
        users = user_file.load_users()
        user_file.check_bind(served_address(), users)
    except InputError as exc:
        st.error(f"The control room will not open: {exc.message}")
        if exc.hint:
            st.info(f"What to do: {exc.hint}")
        return None
    current = visitor()
    if current is not None:
        # A user removed from the configuration (or whose role changed) is let go at once.
        if users and (current.name not in users or users[current.name].role != current.role):
            st.session_state.pop(VISITOR_KEY, None)
            current = None
        elif users or current.name.startswith("local:"):
            return current
    if not users:
        st.session_state[VISITOR_KEY] = auth.local_visitor()
        return st.session_state[VISITOR_KEY]
    _login_form(users)
    return None


def _login_form(users: dict[str, user_file.User]) -> None:
    _, middle, _ = st.columns([1, 1.2, 1])
    with middle:
        st.markdown("### Trading Workbench · control room")
        st.caption(f"Data dir `{data_dir()}`. Log in to continue.")
        with st.form("login", border=True):
            name = st.text_input("User", key="login_user", autocomplete="username")
            password = st.text_input(
                "Password", type="password", key="login_password", autocomplete="current-password"
            )
            submitted = st.form_submit_button(
                "Log in", type="primary", key="login_submit", width="stretch"
            )
        if not submitted:
            return
        source = login_source()
        attempt = auth.attempt_login(users, name, password, source)
        record_login(attempt, name, source)
        if attempt.outcome == "throttled":
            st.error(
                f"Too many failed logins: wait {math.ceil(attempt.throttle.wait_s)} s and try again."
            )
            return
        if attempt.user is None:
            st.error("Wrong user or password.")
            return
        st.session_state[VISITOR_KEY] = auth.Visitor(attempt.user.name, attempt.user.role)
        st.rerun()


def login_source() -> str:
    """Where a login comes from: the client's address (``loopback`` for this machine).

    Streamlit gives None for this machine (and no address at all under AppTest).
    """
    address = st.context.ip_address
    return address if isinstance(address, str) and address else "loopback"


def record_login(attempt: auth.LoginAttempt, name: str, source: str) -> None:
    """Put a login in the audit trail: each success and failure, a throttle once per wait.

    A login is let in (or refused) even when the store cannot record it; the server log
    then says so.
    """
    name = (name or "").strip()[:64]
    if attempt.outcome == "throttled" and not attempt.throttle.first:
        return  # one event per wait: a hammering client cannot flood the audit trail
    from_source, for_name = auth.THROTTLE.failures(source, name)
    payload = {"source": source, "failures_from_source": from_source, "failures_for_user": for_name}
    if attempt.outcome == "throttled":
        payload |= {"wait_s": round(attempt.throttle.wait_s, 1), "by": attempt.throttle.by}
    actor = attempt.user.name if attempt.user else f"login-form:{source}"
    log.log(
        logging.INFO if attempt.user else logging.WARNING,
        "control-room login %s: user %r from %s", attempt.outcome, name, source,
    )  # fmt: skip
    try:
        store().transaction(
            lambda con: append_event(con, f"login.{attempt.outcome}", actor, name, payload)
        )
    except WorkbenchError as exc:
        log.error("could not record a login in the audit trail: %s", exc)


def log_out() -> None:
    """Forget the visitor of this session (and anything it was about to confirm)."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]
