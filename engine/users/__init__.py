"""Who may use the control room: users with salted password hashes, roles, and the bind rule.

Users are configured as lines ``name:role:salt:hash`` (salt and hash in hex, the hash
being scrypt of the password), separated by ``;`` in the environment variable
``WB_APP_USERS``, or under the key ``WB_APP_USERS`` (a string, or a list of lines) in
``.streamlit/secrets.toml``. No password is ever stored, only its hash; ``wb app
hash-password`` prints a line to paste. Both faces read them: ``wb app`` (which refuses to
serve beyond loopback without users) and the control room's login (:mod:`app.auth`).

- Roles: ``viewer`` sees everything and can change nothing (no override control is even
  drawn); ``trader`` may also override (kill switch, orders, limits, approvals).
- With users configured, every visitor logs in. Without any, the app serves only
  loopback (this machine's user is the trader, recorded as ``local:<name>``); bound to
  any other address it refuses to start (``wb app``) or to show anything (a plain
  ``streamlit run``).

>>> line = user_line("ana", "trader", "correct horse battery")
>>> users = parse_users(line)
>>> verify(users, "ana", "correct horse battery").role
'trader'
>>> verify(users, "ana", "wrong") is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError
from engine.users.password_policy import MIN_LENGTH, password_problem

ROLES = ("viewer", "trader")
USERS_ENV = "WB_APP_USERS"
#: scrypt cost: 16 MiB and ~50 ms per check, which makes guessing offline slow.
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 2**20, "dklen": 32}
SALT_BYTES = 16
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")

#: The project's folder: its .streamlit/secrets.toml is one place users are looked for.
PROJECT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class User:
    """A configured user: a name, a role, and the salted hash of the password."""

    name: str
    role: str
    salt: str
    hash: str

    @property
    def can_trade(self) -> bool:
        """True for a trader: the override controls are drawn and accepted."""
        return self.role == "trader"


def hash_password(password: str, salt: bytes | None = None) -> tuple[str, str]:
    """(salt, hash) in hex for ``password``; a fresh random salt unless one is given."""
    if not password:
        raise InputError(
            "the password is empty", hint=f"choose a password of {MIN_LENGTH} or more characters"
        )
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return salt.hex(), digest.hex()


def user_line(name: str, role: str, password: str) -> str:
    """The ``name:role:salt:hash`` line that configures a user (the password is not in it).

    A password that is short or well known is refused (see :mod:`engine.users.password_policy`).
    """
    _check_name(name)
    _check_role(role, name)
    problem = password_problem(password, name)
    if problem:
        raise InputError(
            f"the password for {name!r} {problem}",
            hint=f"choose {MIN_LENGTH} or more characters that nobody would guess: a few "
            "unrelated words make a good one",
        )
    salt, digest = hash_password(password)
    return f"{name}:{role}:{salt}:{digest}"


def parse_users(text: str | Iterable[str] | None) -> dict[str, User]:
    """Users by name from ``name:role:salt:hash`` lines (``;`` or newlines between them).

    Raises InputError naming the bad entry (never echoing a hash) so that a typo in the
    configuration cannot silently leave the app open or lock everyone out.
    """
    if text is None:
        return {}
    lines = [text] if isinstance(text, str) else list(text)
    entries = [e.strip() for line in lines for e in re.split(r"[;\n]", str(line)) if e.strip()]
    users: dict[str, User] = {}
    for number, entry in enumerate(entries, start=1):
        parts = entry.split(":")
        if len(parts) != 4:
            raise InputError(
                f"user entry {number} of {USERS_ENV} has {len(parts)} fields, not 4",
                hint="each entry is name:role:salt:hash; make one with `wb app hash-password`",
            )
        name, role, salt, digest = (p.strip() for p in parts)
        _check_name(name)
        _check_role(role, name)
        try:
            salt_bytes, hash_bytes = bytes.fromhex(salt), bytes.fromhex(digest)
        except ValueError:
            raise InputError(
                f"user {name!r}: the salt and hash must be hex",
                hint="paste the whole line `wb app hash-password` printed",
            ) from None
        if len(salt_bytes) < 8 or len(hash_bytes) != SCRYPT["dklen"]:
            raise InputError(
                f"user {name!r}: the salt or hash has the wrong length",
                hint="paste the whole line `wb app hash-password` printed",
            )
        if name in users:
            raise InputError(f"user {name!r} is configured twice", hint="keep one line per user")
        users[name] = User(name, role, salt, digest)
    return users


def secrets_files() -> list[Path]:
    """Where secrets are looked for: ./.streamlit, the project's .streamlit, then ~/.streamlit."""
    found = []
    for folder in (Path.cwd(), PROJECT, Path.home()):
        path = (folder / ".streamlit" / "secrets.toml").resolve()
        if path not in found:
            found.append(path)
    return found


def load_users(
    environ: Mapping[str, str] | None = None, files: Iterable[Path] | None = None
) -> dict[str, User]:
    """The configured users: ``WB_APP_USERS`` in the environment, else in a secrets file."""
    environ = os.environ if environ is None else environ
    if environ.get(USERS_ENV, "").strip():
        return parse_users(environ[USERS_ENV])
    for path in secrets_files() if files is None else files:
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InputError(
                f"{path} is not valid TOML: {exc}", hint="fix the line it names"
            ) from None
        if USERS_ENV in data:
            return parse_users(data[USERS_ENV])
    return {}


def verify(users: Mapping[str, User], name: str, password: str) -> User | None:
    """The user if ``password`` is theirs; None otherwise.

    An unknown name costs the same scrypt as a known one, so timing does not reveal
    which names exist.
    """
    name = (name or "").strip()
    user = users.get(name)
    salt = bytes.fromhex(user.salt) if user else b"\0" * SALT_BYTES
    _, digest = hash_password(password or " ", salt)
    expected = user.hash if user else "00" * SCRYPT["dklen"]
    if user is not None and password and hmac.compare_digest(digest, expected):
        return user
    return None


def is_loopback(address: str | None) -> bool:
    """True when ``address`` serves this machine only (127.0.0.0/8, ::1, localhost).

    An empty address means every interface to Streamlit, so it is not loopback.
    """
    address = (address or "").strip().strip("[]")
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_bind(address: str | None, users: Mapping[str, User]) -> None:
    """Nothing when serving ``address`` is safe with these users; else an InputError why not."""
    if users or is_loopback(address):
        return
    shown = address or "every interface"
    raise InputError(
        f"refusing to serve the control room on {shown} without a login: anyone who can "
        "reach that address could trade",
        hint=f"configure users (wb app hash-password, then set {USERS_ENV} or "
        ".streamlit/secrets.toml), or bind to 127.0.0.1",
    )


def _check_name(name: str) -> None:
    if not _NAME.match(name or ""):
        raise InputError(
            f"user name {name!r} is not allowed",
            hint="use 1-64 letters, digits, or . _ @ - (no colons or semicolons)",
        )


def _check_role(role: str, name: str) -> None:
    if role not in ROLES:
        raise InputError(f"user {name!r} has role {role!r}", hint=f"roles: {', '.join(ROLES)}")
