"""Who is using this browser session, on which data dir: the login gate and shared handles."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path

import streamlit as st

from app import auth, login_cookie
from engine import users as user_file
from engine.errors import InputError, WorkbenchError
from engine.store import Store, append_event
from engine.store.events import read_events

log = logging.getLogger("wb.app")

VISITOR_KEY = "visitor"
#: The cookie to write (a token) or clear (""), on the next run that draws the page.
COOKIE_KEY = "session_cookie"
#: The login session of this browser session (its id in the cookie), and whether it ended.
SESSION_KEY = "login_session"
LOGGED_OUT_KEY = "logged_out"


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


BOOK_KEY = "book"
#: The picker's first choice: whatever the running loop trades (else the book traded last).
FOLLOW_LOOP = "the live loop's book"


def book() -> str | None:
    """The book the trader picked, or None to show the running loop's (else the one traded last)."""
    picked = st.session_state.get(BOOK_KEY)
    return None if picked in (None, FOLLOW_LOOP) else picked


def book_picker(names: list[str], shown: str | None) -> None:
    """A menu of the data dir's books, drawn only when there is more than one to choose from."""
    if len(names) < 2:
        st.session_state.pop(BOOK_KEY, None)
        return
    if st.session_state.get(BOOK_KEY) not in (FOLLOW_LOOP, *names):
        st.session_state[BOOK_KEY] = FOLLOW_LOOP  # a book that has gone: back to the loop's
    st.selectbox(
        "Book", [FOLLOW_LOOP, *names], key=BOOK_KEY, label_visibility="collapsed",
        format_func=lambda name: f"Book: {name}" if name != FOLLOW_LOOP else f"Book: {shown} (live loop's)",
        help="Which account Overview, Positions, Orders and Risk show: the running loop's, or one you pick.",
    )  # fmt: skip


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
    current = _from_cookie(users)
    if current is not None:
        st.session_state[VISITOR_KEY] = current
        return current
    _login_form(users)
    return None


def write_cookie() -> None:
    """Write (or clear) the session cookie in the browser when a login or logout asked to.

    Streamlit reads cookies (``st.context.cookies``) but has no call to set one, so a
    line of script sets it; SameSite=Strict keeps other sites from sending it.
    """
    token = st.session_state.pop(COOKIE_KEY, None)
    if token is None:
        return
    age = login_cookie.LIFETIME_S if token else 0
    st.html(
        "<script>document.cookie = "
        f"{json.dumps(f'{login_cookie.COOKIE}={token}; path=/; max-age={age}; SameSite=Strict')}"
        " + (location.protocol === 'https:' ? '; Secure' : '');</script>",
        unsafe_allow_javascript=True,
    )


def _from_cookie(users: dict[str, user_file.User]) -> auth.Visitor | None:
    """The visitor a reloaded browser's session cookie stands for, if it still holds."""
    if st.session_state.get(LOGGED_OUT_KEY):
        return None  # this browser session logged out: its old cookie does not count
    token = st.context.cookies.get(login_cookie.COOKIE) if st.context.cookies else None
    found = login_cookie.read_token(token, login_cookie.secret(data_dir()), now=time.time())
    if found is None or found.name not in users or users[found.name].role != found.role:
        return None
    if session_ended(found.name, found.session):
        return None
    st.session_state[SESSION_KEY] = found.session
    return auth.Visitor(found.name, found.role)


def session_ended(name: str, session: str) -> bool:
    """True when ``name`` logged out of login session ``session``."""
    ended = read_events(store(), kinds=["login.logout"], subject=name, limit=200)
    return any(json.loads(p).get("session") == session for p in ended["payload"])


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
        st.session_state.pop(LOGGED_OUT_KEY, None)
        token = login_cookie.issue(attempt.user.name, attempt.user.role,
                                   login_cookie.secret(data_dir()), now=time.time())  # fmt: skip
        st.session_state[COOKIE_KEY] = token
        st.session_state[SESSION_KEY] = token.split(":")[2]
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
    """End the login: recorded as ended (its cookie no longer lets anyone in), cookie cleared,
    and the session forgotten (with anything it was about to confirm)."""
    current, session = visitor(), st.session_state.get(SESSION_KEY)
    if current is not None and session:
        try:
            store().transaction(lambda con: append_event(
                con, "login.logout", current.name, current.name, {"session": session}))  # fmt: skip
        except WorkbenchError as exc:
            log.error("could not record a logout in the audit trail: %s", exc)
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state[LOGGED_OUT_KEY] = True
    st.session_state[COOKIE_KEY] = ""
