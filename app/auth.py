"""The control room's login: the visitor of a browser session, login attempts, their throttle.

The users themselves (their file, hashes, roles and the bind rule) are :mod:`engine.users`,
which ``wb app`` reads too.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass

from app.login_throttle import Decision, LoginThrottle
from engine.users import User, verify

#: Failed logins of this server process (every browser session's), and the delays they
#: impose: by source and by user name, never a lockout (see app.login_throttle).
THROTTLE = LoginThrottle()


@dataclass(frozen=True)
class Visitor:
    """The person using this browser session: a name for the audit trail and a role."""

    name: str
    role: str

    @property
    def can_trade(self) -> bool:
        return self.role == "trader"


@dataclass(frozen=True)
class LoginAttempt:
    """One try at the login form: who got in, or that the password was wrong, or to wait."""

    outcome: str  # succeeded | failed | throttled
    user: User | None = None
    throttle: Decision | None = None  # for a throttled try: how long and why


def attempt_login(
    users: Mapping[str, User],
    name: str,
    password: str,
    source: str,
    *,
    throttle: LoginThrottle | None = None,
) -> LoginAttempt:
    """The outcome of ``source`` trying ``name`` and ``password`` (throttled tries are not checked).

    ``throttle`` defaults to this process's :data:`THROTTLE`.
    """
    throttle = throttle or THROTTLE
    name = (name or "").strip()[:64]
    decision = throttle.check(source, name)
    if not decision.allowed:
        return LoginAttempt("throttled", throttle=decision)
    user = verify(users, name, password)
    if user is None:
        throttle.failed(source, name)
        return LoginAttempt("failed")
    throttle.succeeded(source)
    return LoginAttempt("succeeded", user=user)


def local_visitor() -> Visitor:
    """This machine's user, as the trader when no login is configured (loopback only)."""
    try:
        name = getpass.getuser()
    except Exception:  # containers without a passwd entry
        name = "user"
    return Visitor(f"local:{name}", "trader")
