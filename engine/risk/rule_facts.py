"""A gate rule and the facts about it that the live loop acts on, declared with the rule.

>>> @rule(needs_marks=True)
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
    ):
        self.check = check
        self.alerts = alerts
        self.needs_marks = needs_marks
        functools.update_wrapper(self, check)

    @property
    def name(self) -> str:
        return self.check.__name__

    def __call__(self, intent, ctx):
        return self.check(intent, ctx)

    def __repr__(self) -> str:
        return f"<rule {self.name}>"


def rule(*, alerts: bool = True, needs_marks: bool = False):
    """Declares a rule function with its facts: ``@rule(alerts=False)`` above ``def ...``."""
    return lambda check: Rule(check, alerts=alerts, needs_marks=needs_marks)


def as_rules(checks: Iterable[Check]) -> tuple[Rule, ...]:
    """``checks`` as rules; a plain function has the default facts (it alerts, nothing else)."""
    return tuple(c if isinstance(c, Rule) else Rule(c) for c in checks)
