"""A gate rule and the facts about it that the live loop acts on, declared with the rule.

>>> @rule(needs_marks=True, buys_only=True)
... def no_entries_after_losses(intent, ctx):
...     '''Deny buys after a bad day.'''
>>> no_entries_after_losses.needs_marks, no_entries_after_losses.alerts
(True, True)

A rule stays a plain function of ``(intent, ctx)``; :func:`rule` wraps it with what the
loop must know, so a new rule needs no edit to the loop:

- ``alerts``: whether its denials alert a person. Denials that follow from what a trader
  set (the kill switch, a halt, a paused strategy) are expected and do not.
- ``needs_marks``: whether it reads the account's equity history (the drawdown rules);
  the loop reads those marks from the store only for a gate that has such a rule.
- ``buys_only``: whether it judges only orders that add exposure (buys: the book is
  long-only). Every other order passes it unasked, so the rule itself never checks the
  side: exits and protective stops cannot be stopped by an exposure limit by mistake.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

Check = Callable[[Any, Any], Any]


class Rule:
    """A gate rule: call it as ``rule(intent, ctx)``; its facts are attributes."""

    def __init__(
        self,
        check: Check,
        *,
        alerts: bool = True,
        needs_marks: bool = False,
        buys_only: bool = False,
    ):
        self.check = check
        self.alerts = alerts
        self.needs_marks = needs_marks
        self.buys_only = buys_only
        functools.update_wrapper(self, check)

    @property
    def name(self) -> str:
        return self.check.__name__

    def judges(self, intent) -> bool:
        """True when ``intent`` is an order this rule has a say on (a buys-only rule passes sells)."""
        return intent.adds_exposure or not self.buys_only

    def __call__(self, intent, ctx):
        """The rule's outcome for ``intent``: None for an order it does not judge."""
        return self.check(intent, ctx) if self.judges(intent) else None

    def __repr__(self) -> str:
        return f"<rule {self.name}>"


def rule(*, alerts: bool = True, needs_marks: bool = False, buys_only: bool = False):
    """Declares a rule function with its facts: ``@rule(alerts=False)`` above ``def ...``."""
    return lambda check: Rule(check, alerts=alerts, needs_marks=needs_marks, buys_only=buys_only)


def as_rules(checks: Iterable[Check]) -> tuple[Rule, ...]:
    """``checks`` as rules; a plain function has the default facts (it alerts, nothing else)."""
    return tuple(c if isinstance(c, Rule) else Rule(c) for c in checks)
