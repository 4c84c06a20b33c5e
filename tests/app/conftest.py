"""Fixtures for the control room: a seeded and an empty data dir, users, and the app under test."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from app import auth
from app.login_throttle import LoginThrottle
from engine import users as user_file
from engine.store import Store
from engine.store.db import DB_FILE
from engine.store.events import utcnow
from tests.app.seed import NOTEBOOKS, research_run, seed_control_room
from tests.conftest import built_once

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "streamlit_app.py"
PAGES = [
    "overview", "positions", "orders", "risk", "performance", "strategies", "research", "audit",
    "settings",
]  # fmt: skip
PASSWORDS = {"tina": "tina-trades-2024", "vic": "vic-only-watches"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def _seeded_template(tmp_path_factory, _sample_store_file) -> Path:
    """A data dir seeded once per test run (about 20 s); tests copy it."""

    def build(path: Path) -> None:
        shutil.copy(_sample_store_file, path / DB_FILE)
        store = Store.open(path)
        info = seed_control_room(store)
        research_run(store, path)
        (path / "seed.txt").write_text(repr(info))

    return built_once(tmp_path_factory, "control-room", build)


def chromium() -> str:
    found = os.environ.get("WB_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None
    )
    if not found:
        pytest.skip("no Chromium: apt-get install -y chromium (or set WB_CHROMIUM)")
    return found


@pytest.fixture(scope="session")
def browser():
    """Chromium, launched once for every browser test of this process (each opens its own page)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chrome = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield chrome
        chrome.close()


@pytest.fixture
def seeded_dir(tmp_path, _seeded_template) -> Path:
    """A copy of the seeded data dir whose live loop beats now (this test process is the 'loop')."""
    path = tmp_path / "seeded"
    shutil.copytree(_seeded_template, path)
    Store.open(path).execute(
        "UPDATE heartbeats SET pid = ?, started_at = ?, beat_at = ?",
        [os.getpid(), process_started(), utcnow()],
    )
    return path


def process_started() -> datetime:
    """When this process started (UTC): a loop in it cannot have started earlier."""
    created = datetime.fromtimestamp(psutil.Process().create_time(), UTC).replace(tzinfo=None)
    return created + timedelta(milliseconds=500)


@pytest.fixture(scope="session")
def users_line() -> str:
    return ";".join(
        [
            user_file.user_line("tina", "trader", PASSWORDS["tina"]),
            user_file.user_line("vic", "viewer", PASSWORDS["vic"]),
        ]
    )


@pytest.fixture
def app_env(monkeypatch, tmp_path):
    """An environment with no users, no secrets files and no broker keys, unless a test adds them."""
    for name in list(os.environ):
        if name.startswith(("APCA_", "WB_APP_USERS")):
            monkeypatch.delenv(name)
    monkeypatch.setattr(user_file, "secrets_files", lambda: [tmp_path / "no-secrets.toml"])
    monkeypatch.setenv("WB_NOTEBOOKS_DIR", str(NOTEBOOKS))
    monkeypatch.setattr(auth, "THROTTLE", LoginThrottle())
    return monkeypatch


@pytest.fixture
def on_seeded(app_env, seeded_dir):
    app_env.setenv("WB_DATA_DIR", str(seeded_dir))
    return Store.open(seeded_dir)


@pytest.fixture
def on_empty(app_env, data_dir):
    app_env.setenv("WB_DATA_DIR", str(data_dir))
    return Store.open(data_dir)


@pytest.fixture
def with_users(app_env, users_line):
    app_env.setenv("WB_APP_USERS", users_line)
    return users_line


def open_app(timeout: float = 60):
    """The control room under AppTest, run once (login form or Overview)."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=timeout).run()


def log_in(at, name: str, password: str | None = None):
    at.text_input(key="login_user").input(name)
    at.text_input(key="login_password").input(password if password is not None else PASSWORDS[name])
    return at.button(key="login_submit").click().run()


def page(at, name: str):
    return at.switch_page(f"app/pages/{name}.py").run()


def texts(at) -> str:
    """Every piece of text the run rendered, for asserting what a person would read."""
    parts = []
    for kind in (
        "markdown",
        "caption",
        "error",
        "warning",
        "info",
        "success",
        "metric",
        "title",
        "header",
        "subheader",
        "text",
        "json",
        "code",
        "exception",
    ):
        for element in getattr(at, kind, []):
            parts.append(str(getattr(element, "value", "")))
            parts.append(str(getattr(element, "label", "")))
    for element in at.get("dataframe"):
        parts.append(
            element.value.to_csv() if hasattr(element.value, "to_csv") else str(element.value)
        )
    for element in at.get("badge"):
        parts.append(str(element.proto))
    return "\n".join(parts)
