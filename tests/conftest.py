"""Fixtures every test folder can use: a fresh data dir, a store, a store with sample bars."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Nothing in a test may reach the internet: the demo and any network probe honour this.
os.environ["WB_OFFLINE"] = "1"

from engine.store import Store  # noqa: E402
from engine.store.db import DB_FILE  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data dir of the test's own."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def store(data_dir: Path) -> Store:
    """A migrated, empty store."""
    return Store.open(data_dir)


@pytest.fixture(scope="session")
def _sample_store_file(tmp_path_factory) -> Path:
    from engine.data.ingest import ingest
    from engine.data.sources import SampleSource

    path = tmp_path_factory.mktemp("sample-store")
    ingest(Store.open(path), SampleSource(), progress=False, actor="test")
    return path / DB_FILE


@pytest.fixture
def sample_store(data_dir: Path, _sample_store_file: Path) -> Store:
    """A store holding every bundled sample bar (a copy of the test's own)."""
    shutil.copy(_sample_store_file, data_dir / DB_FILE)
    return Store.open(data_dir)
