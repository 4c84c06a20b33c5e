"""Alerts: always logged; POSTed to a chat webhook (a loopback server here) when one is set."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.errors import InputError
from engine.live.alerts import Alert, WebhookNotifier, notifier_from


class Hook:
    """A loopback chat webhook: keeps what it is sent, answers with ``status``."""

    def __init__(self, status: int = 200):
        self.status = status
        self.received: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(json.loads(body))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/secret"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    server = Hook()
    yield server
    server.close()


def test_an_alert_reaches_the_webhook_in_words_slack_and_discord_both_read(hook):
    notifier = notifier_from(hook.url)
    notifier.send(Alert("halt", "kill switch engaged by alice: trading HALTED", {"by": "alice"}))
    (sent,) = hook.received
    assert (
        sent["text"]
        == sent["content"]
        == "[wb live] HALT: kill switch engaged by alice: trading HALTED"
    )
    assert (sent["kind"], sent["details"]) == ("halt", {"by": "alice"})


def test_the_webhook_is_read_from_the_environment(hook, monkeypatch):
    monkeypatch.setenv("WB_ALERT_WEBHOOK", hook.url)
    notifier_from(None).send(Alert("stale_data", "no bar for 2024-05-01 yet"))
    assert [r["kind"] for r in hook.received] == ["stale_data"]


def test_a_failing_webhook_is_retried_then_logged_and_never_stops_the_loop(caplog):
    broken = Hook(status=500)
    try:
        webhook = WebhookNotifier(broken.url, timeout=1, attempts=2)
        with caplog.at_level(logging.WARNING, logger="engine.live.alerts"):
            notifiers = notifier_from(None)
            notifiers.notifiers.append(webhook)
            notifiers.send(Alert("rejected", "alpaca rejected cfg-AAPL-buy-20240501"))
        assert len(broken.received) == 2  # tried twice
        assert webhook.failures == 1
        assert "ALERT rejected: alpaca rejected" in caplog.text  # the log always has it
        assert "alert webhook failed 2 times" in caplog.text
        assert "secret" not in caplog.text and "secret" not in repr(webhook)
    finally:
        broken.close()


def test_a_webhook_that_is_not_a_url_is_refused_with_what_to_do():
    with pytest.raises(InputError, match="not an http"):
        WebhookNotifier("hooks.slack.com/T000")


def test_an_unknown_alert_kind_is_a_bug_said_plainly():
    with pytest.raises(InputError, match="alert kind 'panic'"):
        Alert("panic", "?")
