"""Who is using this browser session, on which data dir: the login gate and shared handles."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import streamlit as st

from app import auth
from engine.errors import InputError
from engine.store import Store

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
        users = auth.load_users()
        auth.check_bind(served_address(), users)
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


def _login_form(users: dict[str, auth.User]) -> None:
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
        if auth.locked_out(name):
            st.error(
                f"Too many failed logins for {name!r}: wait {auth.LOCKOUT_S:.0f}s and try again."
            )
            return
        user = auth.verify(users, name, password)
        if user is None:
            log.warning("failed control-room login for user %r", name)
            st.error("Wrong user or password.")
            return
        log.info("control-room login: %s (%s)", user.name, user.role)
        st.session_state[VISITOR_KEY] = auth.Visitor(user.name, user.role)
        st.rerun()


def log_out() -> None:
    """Forget the visitor of this session (and anything it was about to confirm)."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]
