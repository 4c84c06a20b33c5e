"""Users, password hashes, lockout, and when the control room may serve without a login."""

from __future__ import annotations

import pytest

from app import auth
from engine.errors import InputError


@pytest.fixture(autouse=True)
def _no_failures():
    auth._failures.clear()
    yield
    auth._failures.clear()


def test_a_user_line_holds_a_salted_hash_that_checks_the_password():
    line = auth.user_line("ana", "trader", "correct horse battery")
    assert "correct horse" not in line
    users = auth.parse_users(line)
    assert auth.verify(users, "ana", "correct horse battery") == users["ana"]
    assert auth.verify(users, "ana", "correct horse batterY") is None
    assert auth.verify(users, "bob", "correct horse battery") is None
    # The same password twice gets different salts, so equal hashes reveal nothing.
    assert (
        line.split(":")[2:]
        != auth.user_line("ana", "trader", "correct horse battery").split(":")[2:]
    )


def test_several_users_and_their_roles():
    text = ";".join(
        [auth.user_line("ana", "trader", "pw-a"), auth.user_line("vic", "viewer", "pw-v")]
    )
    users = auth.parse_users(text)
    assert {u.name: u.can_trade for u in users.values()} == {"ana": True, "vic": False}


@pytest.mark.parametrize(
    "entry, message",
    [
        ("ana:trader:abcd", "has 3 fields, not 4"),
        ("ana:admin:" + "ab" * 16 + ":" + "cd" * 32, "role 'admin'"),
        ("ana:trader:zz:" + "cd" * 32, "must be hex"),
        ("ana:trader:" + "ab" * 16 + ":" + "cd" * 8, "wrong length"),
        ("a na:trader:" + "ab" * 16 + ":" + "cd" * 32, "not allowed"),
    ],
)
def test_a_bad_user_entry_is_refused_without_echoing_it(entry, message):
    with pytest.raises(InputError, match=message) as caught:
        auth.parse_users(entry)
    assert "cd" * 8 not in str(caught.value)  # a hash is never echoed back
    assert caught.value.hint  # and it says what to do


def test_a_user_configured_twice_is_refused():
    line = auth.user_line("ana", "trader", "pw")
    with pytest.raises(InputError, match="configured twice"):
        auth.parse_users(f"{line};{line}")


def test_repeated_failures_lock_the_name_out_even_for_the_right_password():
    users = auth.parse_users(auth.user_line("ana", "trader", "right"))
    for _ in range(auth.MAX_FAILURES):
        assert auth.verify(users, "ana", "wrong") is None
    assert auth.locked_out("ana")
    assert auth.verify(users, "ana", "right") is None
    assert not auth.locked_out("bob")  # other names are not affected


def test_users_come_from_the_environment_before_the_secrets_file(tmp_path):
    secrets = tmp_path / "secrets.toml"
    from_file = auth.user_line("file_user", "viewer", "pw")
    secrets.write_text(f'WB_APP_USERS = ["{from_file}"]\n')
    assert list(auth.load_users({}, [secrets])) == ["file_user"]
    from_env = auth.user_line("env_user", "trader", "pw")
    assert list(auth.load_users({"WB_APP_USERS": from_env}, [secrets])) == ["env_user"]
    assert auth.load_users({}, [tmp_path / "missing.toml"]) == {}


@pytest.mark.parametrize(
    "address, loopback",
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
        ("192.168.1.20", False),
        ("example.com", False),
    ],
)
def test_only_loopback_addresses_count_as_this_machine(address, loopback):
    assert auth.is_loopback(address) is loopback


def test_serving_beyond_loopback_needs_users():
    users = auth.parse_users(auth.user_line("ana", "trader", "pw"))
    auth.check_bind("127.0.0.1", {})
    auth.check_bind("0.0.0.0", users)
    with pytest.raises(InputError, match="without a login") as caught:
        auth.check_bind("0.0.0.0", {})
    assert "hash-password" in caught.value.hint
