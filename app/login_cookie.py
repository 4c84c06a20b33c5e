"""The signed, expiring session cookie that keeps a login across a browser reload.

A login issues a token ``name:role:session:expires:signature``: the signature is an
HMAC-SHA256 (stdlib :mod:`hmac`) over the rest, keyed by a secret kept in the data dir
(``.session_secret``, created on first use, readable by its owner only, never in git).
A reload sends the cookie back; :func:`read_token` lets it in only when the signature
holds, the time has not run out, and the user still exists with the same role. Logging
out records the session as ended (a ``login.logout`` event), which refuses the token from
then on even where a copy of the cookie survives.

>>> secret = b"k" * 32
>>> token = issue("tina", "trader", secret, now=1000.0, session="s1")
>>> read_token(token, secret, now=1001.0)
Session(name='tina', role='trader', session='s1', expires=44200.0)
>>> read_token(token, secret, now=50000.0) is None  # expired
True
>>> read_token(token.replace("trader", "viewer"), secret, now=1001.0) is None  # tampered
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

COOKIE = "wb_session"
SECRET_FILE = ".session_secret"
#: How long a login lasts without logging in again: a trading day and then some.
LIFETIME_S = 12 * 3600


@dataclass(frozen=True)
class Session:
    """A login the cookie stands for: who, in which role, which session, until when (epoch s)."""

    name: str
    role: str
    session: str
    expires: float


def secret(data_dir: Path) -> bytes:
    """The data dir's signing key, created (owner-only) on first use."""
    path = Path(data_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two servers starting at once cannot each write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def issue(name: str, role: str, key: bytes, *, now: float, session: str | None = None) -> str:
    """A token for ``name`` in ``role`` that expires :data:`LIFETIME_S` after ``now``."""
    body = f"{name}:{role}:{session or secrets.token_hex(8)}:{int(now + LIFETIME_S)}"
    return f"{body}:{_sign(body, key)}"


def read_token(token: str | None, key: bytes, *, now: float) -> Session | None:
    """The session a token stands for, or None: malformed, forged, tampered or expired."""
    if not token:
        return None
    body, _, signature = token.rpartition(":")
    parts = body.split(":")
    if len(parts) != 4 or not hmac.compare_digest(signature, _sign(body, key)):
        return None
    name, role, session, expires = parts
    if not expires.isdigit() or float(expires) <= now:
        return None
    return Session(name, role, session, float(expires))


def _sign(body: str, key: bytes) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
