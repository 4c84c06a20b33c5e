"""Logins that hold: a guesser slows down, the trader still gets in, and every try is audited."""

from __future__ import annotations

import json

import pytest

from app import auth
from app.login_throttle import FREE_FAILURES, LONGEST_DELAY_S, WINDOW_S, LoginThrottle
from engine import users as user_file
from engine.store import read_events
from tests.app.conftest import PASSWORDS, log_in, open_app

ATTACKER, TRADER = "203.0.113.9", "198.51.100.7"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def users():
    return user_file.parse_users(user_file.user_line("tina", "trader", PASSWORDS["tina"]))


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def throttle(clock):
    return LoginThrottle(clock=clock)


def guess(users, throttle, source, password="hunter2-guess", name="tina"):
    return auth.attempt_login(users, name, password, source, throttle=throttle)


def test_a_guesser_waits_longer_after_each_failure_while_the_trader_gets_in_at_once(
    users, throttle, clock
):
    waits = []
    for _ in range(14):
        attempt = guess(users, throttle, ATTACKER)
        if attempt.outcome == "throttled":
            waits.append(attempt.throttle.wait_s)
            clock.now += attempt.throttle.wait_s  # the guesser waits as told, then tries again
            attempt = guess(users, throttle, ATTACKER)
        assert attempt.outcome == "failed"
        # The trader, from their own machine, with the right password: in, every time.
        trader = guess(users, throttle, TRADER, PASSWORDS["tina"])
        assert trader.outcome == "succeeded" and trader.user.name == "tina"
    assert waits[:6] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]  # growing delays, not a lockout
    assert max(waits) == LONGEST_DELAY_S["source"]
    assert len(waits) == 14 - FREE_FAILURES["source"]
    # Right after a failure, even the right password from the guesser's source must wait.
    assert guess(users, throttle, ATTACKER, PASSWORDS["tina"]).outcome == "throttled"


def test_many_sources_guessing_one_name_each_wait_and_a_mistyping_trader_waits_a_minute_at_most(
    users, throttle, clock
):
    for k in range(40):  # a botnet: one guess per address, one second apart
        assert guess(users, throttle, f"10.0.{k}.1").outcome == "failed"
        clock.now += 1
    # Each address that failed must now wait before its next guess, because of the name's count.
    second = guess(users, throttle, "10.0.39.1")
    assert second.outcome == "throttled" and second.throttle.by == "user"
    # The trader mistypes once while this goes on: they wait at most a minute, then get in.
    assert guess(users, throttle, TRADER, "tina-trades-2O24").outcome == "failed"
    retry = guess(users, throttle, TRADER, PASSWORDS["tina"])
    assert retry.outcome == "throttled" and retry.throttle.wait_s <= LONGEST_DELAY_S["user"]
    for k in range(20):  # the botnet keeps going, which does not extend the trader's wait
        guess(users, throttle, f"10.1.{k}.1")
    clock.now += retry.throttle.wait_s
    assert guess(users, throttle, TRADER, PASSWORDS["tina"]).outcome == "succeeded"


def test_a_throttled_try_is_refused_before_its_password_is_hashed(users, throttle, monkeypatch):
    for _ in range(FREE_FAILURES["source"]):
        guess(users, throttle, ATTACKER)
    hashed = []
    real = user_file.hash_password
    monkeypatch.setattr(user_file, "hash_password", lambda *a: hashed.append(1) or real(*a))
    assert guess(users, throttle, ATTACKER).outcome == "throttled"
    assert hashed == []


def test_failures_are_forgotten_after_a_quiet_window(users, throttle, clock):
    for _ in range(FREE_FAILURES["source"]):
        guess(users, throttle, ATTACKER)
    assert guess(users, throttle, ATTACKER).outcome == "throttled"
    clock.now += WINDOW_S
    assert throttle.failures(ATTACKER, "tina") == (0, 0)
    assert guess(users, throttle, ATTACKER, PASSWORDS["tina"]).outcome == "succeeded"


def test_failed_throttled_and_good_logins_are_in_the_audit_trail(app_env, on_seeded, with_users):
    clock = Clock()
    app_env.setattr(auth, "THROTTLE", LoginThrottle(clock=clock))
    at = open_app()
    for _ in range(FREE_FAILURES["source"] + 2):
        log_in(at, "tina", "not her password")
    assert any("Too many failed logins: wait 1 s" in e.value for e in at.error)

    failed = read_events(on_seeded, kinds=["login.failed"])
    assert len(failed) == FREE_FAILURES["source"]
    assert set(failed["subject"]) == {"tina"} and set(failed["actor"]) == {"login-form:loopback"}
    newest = json.loads(failed["payload"].iloc[0])
    assert newest == {"source": "loopback", "failures_from_source": 3, "failures_for_user": 3}
    throttled = read_events(on_seeded, kinds=["login.throttled"])
    assert len(throttled) == 1  # one event per wait, however often the button is pressed
    assert json.loads(throttled["payload"].iloc[0])["wait_s"] == 1.0

    clock.now += 1
    log_in(at, "tina")
    assert "kill_on" in {w.key for w in at.button if w.key}
    [ok] = read_events(on_seeded, kinds=["login.succeeded"]).itertuples()
    assert ok.actor == "tina" and json.loads(ok.payload)["source"] == "loopback"
