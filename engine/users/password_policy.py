"""Which passwords a control-room user may have: long enough, and not one everybody tries first.

The rules follow NIST SP 800-63B (section 5.1.1.2: check new passwords against values
known to be commonly used; no composition rules) and OWASP ASVS 4.0.3 V2.1.1 (at least
12 characters). The list of well-known passwords is ``common_passwords.txt`` beside this
module; its header says where it comes from.

>>> password_problem("correct horse battery staple", "ana") is None
True
>>> password_problem("Password2024!", "ana")
'is a well-known password with digits or symbols added'
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

MIN_LENGTH = 12
#: Fewer different characters than this is a pattern, not a password ("aaaaaaaaaaaa").
MIN_DISTINCT = 5
COMMON_FILE = Path(__file__).with_name("common_passwords.txt")
_PADDING = string.digits + string.punctuation + string.whitespace


@cache
def common_passwords() -> frozenset[str]:
    """The bundled well-known passwords, lower-cased."""
    lines = COMMON_FILE.read_text().splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def password_problem(password: str, name: str) -> str | None:
    """What is wrong with ``password`` for user ``name`` (never quoting it), or None if it will do."""
    if len(password) < MIN_LENGTH:
        return f"has {len(password)} characters; use at least {MIN_LENGTH}"
    folded = password.casefold()
    if len(set(folded)) < MIN_DISTINCT:
        return f"uses fewer than {MIN_DISTINCT} different characters"
    core = folded.strip(_PADDING)
    if not core:
        return "is only digits and symbols"
    if core == name.casefold():
        return "is the user name (with digits or symbols added)"
    common = common_passwords()
    if folded in common:
        return "is a well-known password"
    if core in common:
        return "is a well-known password with digits or symbols added"
    half = core[: len(core) // 2]
    if core == half * 2 and half in common:
        return "is a well-known password written twice"
    return None
