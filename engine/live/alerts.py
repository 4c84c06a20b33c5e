"""Alerts: what the loop tells a person right away, through the log and a webhook.

Kinds: ``halt`` (trading HALTED or the kill switch engaged), ``limit`` (the gate refused an
order on a risk limit), ``rejected`` (the broker refused an order), ``reconciliation`` (the
store and the broker disagree), ``stale_data`` (no bar for the session that just closed),
``broker`` (the broker could not be reached, or has not confirmed a cancel), ``calendar``
(the broker's calendar or clock differs from the NYSE calendar), ``code_changed`` (at
start-up: a config's signal or rule code differs from the code it was validated on).
Every alert is logged; with a webhook URL (``--webhook`` or the ``WB_ALERT_WEBHOOK``
environment variable) it is also POSTed as JSON that Slack (``text``) and Discord
(``content``) both read. A webhook that fails is logged and never stops the loop: an alert
is worth less than the trading it reports on.

>>> notifier = notifier_from(None)       # log only                      # doctest: +SKIP
>>> notifier.send(Alert("halt", "kill switch engaged by alice"))          # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.errors import InputError

log = logging.getLogger("engine.live.alerts")

WEBHOOK_ENV = "WB_ALERT_WEBHOOK"
KINDS = (
    "halt",
    "limit",
    "rejected",
    "reconciliation",
    "stale_data",
    "broker",
    "calendar",
    "code_changed",
    "approval",
)
_LEVELS = {"halt": logging.ERROR, "reconciliation": logging.ERROR, "broker": logging.ERROR}


@dataclass(frozen=True)
class Alert:
    """One thing a person should know now: its kind, one line, and details for the record."""

    kind: str
    text: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InputError(f"alert kind {self.kind!r} is not one of: {', '.join(KINDS)}")


class Notifier(Protocol):
    def send(self, alert: Alert) -> None:
        """Pass ``alert`` on; never raise."""


class LogNotifier:
    """Alerts to the log (always on)."""

    def send(self, alert: Alert) -> None:
        log.log(_LEVELS.get(alert.kind, logging.WARNING), "ALERT %s: %s", alert.kind, alert.text)


class WebhookNotifier:
    """Alerts POSTed as JSON to a chat webhook (Slack, Discord, Mattermost, ...)."""

    def __init__(
        self, url: str, *, timeout: float = 5.0, attempts: int = 3, source: str = "wb live"
    ):
        if not url.startswith(("http://", "https://")):
            raise InputError(
                f"the alert webhook {url!r} is not an http(s) URL",
                hint=f"pass --webhook https://hooks.slack.com/... or set {WEBHOOK_ENV}",
            )
        self.url = url
        self.timeout = timeout
        self.attempts = attempts
        self.source = source
        self.failures = 0

    def __repr__(self) -> str:  # the URL is a secret in most chat services: never print it
        return "WebhookNotifier(<url hidden>)"

    def send(self, alert: Alert) -> None:
        line = f"[{self.source}] {alert.kind.upper()}: {alert.text}"
        body = json.dumps(
            {"text": line, "content": line, "kind": alert.kind, "details": alert.details},
            default=str,
        ).encode()
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(
                self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    if answer.status < 300:
                        return
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                reason = getattr(exc, "code", None) or type(exc).__name__
                if attempt == self.attempts:
                    self.failures += 1
                    log.warning(
                        "alert webhook failed %d times (%s); alert kept in the log", attempt, reason
                    )
                    return
                time.sleep(0.2 * attempt)


class Notifiers:
    """Several notifiers as one: each gets every alert, in order."""

    def __init__(self, *notifiers: Notifier):
        self.notifiers = list(notifiers)
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.sent.append(alert)
        for notifier in self.notifiers:
            try:
                notifier.send(alert)
            except Exception:  # a notifier must never stop the loop
                log.exception("notifier %r failed", notifier)


def notifier_from(webhook: str | None) -> Notifiers:
    """The log, plus the webhook given or named by WB_ALERT_WEBHOOK."""
    url = webhook or os.environ.get(WEBHOOK_ENV)
    return Notifiers(LogNotifier(), *([WebhookNotifier(url)] if url else []))
