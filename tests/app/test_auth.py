"""Users, password hashes and their strength, and when the control room may serve without a login."""

from __future__ import annotations

import pytest

from engine import users as user_file
from engine.errors import InputError


def test_a_user_line_holds_a_salted_hash_that_checks_the_password():
    line = user_file.user_line("ana", "trader", "correct horse battery")
    assert "correct horse" not in line
    users = user_file.parse_users(line)
    assert user_file.verify(users, "ana", "correct horse battery") == users["ana"]
    assert user_file.verify(users, "ana", "correct horse batterY") is None
    assert user_file.verify(users, "bob", "correct horse battery") is None
    # The same password twice gets different salts, so equal hashes reveal nothing.
    assert (
        line.split(":")[2:]
        != user_file.user_line("ana", "trader", "correct horse battery").split(":")[2:]
    )


def test_several_users_and_their_roles():
    text = ";".join(
        [
            user_file.user_line("ana", "trader", "ana's long passphrase"),
            user_file.user_line("vic", "viewer", "vic watches quietly"),
        ]
    )
    users = user_file.parse_users(text)
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
        user_file.parse_users(entry)
    assert "cd" * 8 not in str(caught.value)  # a hash is never echoed back
    assert caught.value.hint  # and it says what to do


def test_a_user_configured_twice_is_refused():
    line = user_file.user_line("ana", "trader", "ana's long passphrase")
    with pytest.raises(InputError, match="configured twice"):
        user_file.parse_users(f"{line};{line}")


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("x", "has 1 characters; use at least 12"),
        ("short-phrase", None),
        ("aaaaaaaaaaaaaaaa", "fewer than 5 different characters"),
        ("123456789012", "is only digits and symbols"),
        ("qwertyuiopasdfgh", None),
        ("q1w2e3r4t5y6", "is a well-known password"),
        ("Password2024!", "well-known password with digits or symbols added"),
        ("iloveyou!!!!", "well-known password with digits or symbols added"),
        ("monkeymonkey", "well-known password written twice"),
        ("ana-2024-2025", "is the user name"),
        ("correct horse battery staple", None),
    ],
)
def test_a_password_must_be_long_and_not_well_known(password, says):
    if says is None:
        user_file.parse_users(user_file.user_line("ana", "trader", password))
        return
    with pytest.raises(InputError, match=says) as caught:
        user_file.user_line("ana", "trader", password)
    assert password not in str(caught.value)  # never echoed
    assert "12 or more characters" in caught.value.hint


def test_the_well_known_list_is_bundled_with_its_source():
    from engine.users.password_policy import COMMON_FILE, common_passwords

    assert "National Cyber Security Centre" in COMMON_FILE.read_text()[:800]
    assert {"password", "qwerty", "iloveyou", "1qaz2wsx3edc"} <= common_passwords()
    assert len(common_passwords()) > 500


def test_users_come_from_the_environment_before_the_secrets_file(tmp_path):
    secrets = tmp_path / "secrets.toml"
    from_file = user_file.user_line("file_user", "viewer", "file user's passphrase")
    secrets.write_text(f'WB_APP_USERS = ["{from_file}"]\n')
    assert list(user_file.load_users({}, [secrets])) == ["file_user"]
    from_env = user_file.user_line("env_user", "trader", "env user's passphrase")
    assert list(user_file.load_users({"WB_APP_USERS": from_env}, [secrets])) == ["env_user"]
    assert user_file.load_users({}, [tmp_path / "missing.toml"]) == {}


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
    assert user_file.is_loopback(address) is loopback


def test_serving_beyond_loopback_needs_users():
    users = user_file.parse_users(user_file.user_line("ana", "trader", "ana's long passphrase"))
    user_file.check_bind("127.0.0.1", {})
    user_file.check_bind("0.0.0.0", users)
    with pytest.raises(InputError, match="without a login") as caught:
        user_file.check_bind("0.0.0.0", {})
    assert "hash-password" in caught.value.hint


def test_a_session_cookie_is_refused_when_forged_tampered_expired_or_from_another_data_dir(tmp_path):
    from app import login_cookie

    key = login_cookie.secret(tmp_path)
    assert login_cookie.secret(tmp_path) == key  # kept, not made anew on each read
    assert (tmp_path / login_cookie.SECRET_FILE).stat().st_mode & 0o077 == 0  # owner only
    token = login_cookie.issue("tina", "trader", key, now=1_000.0)
    assert login_cookie.read_token(token, key, now=1_001.0).name == "tina"
    assert login_cookie.read_token(token.replace(":trader:", ":viewer:"), key, now=1_001.0) is None
    assert login_cookie.read_token(token, b"another data dir", now=1_001.0) is None
    late = 1_000.0 + login_cookie.LIFETIME_S + 1
    assert login_cookie.read_token(token, key, now=late) is None
    assert login_cookie.read_token("tina:trader", key, now=1_001.0) is None
