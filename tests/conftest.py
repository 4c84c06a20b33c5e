"""Fixtures every test folder can use: a fresh data dir, a store, a store with sample bars."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
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


def built_once(tmp_path_factory, name: str, build: Callable[[Path], object]) -> Path:
    """The folder ``name`` after ``build(folder)`` filled it, once for the whole test run.

    Under pytest-xdist each worker process would build its own (a seeded control room is
    about 20 s of a core): the first worker to ask builds it in the run's shared temporary
    folder and the others wait for it. Tests copy what it holds; none writes to it.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        path = tmp_path_factory.mktemp(name)
        build(path)
        return path
    path = tmp_path_factory.getbasetemp().parent / name  # the run's, shared by its workers
    built, failed = path.with_name(f"{name}.built"), path.with_name(f"{name}.failed")
    try:
        path.mkdir()  # atomic: exactly one worker wins and builds
    except FileExistsError:
        deadline = time.monotonic() + 900
        while not built.exists():
            if failed.exists() or time.monotonic() > deadline:
                pytest.fail(f"another test process failed to build {name}: see its error")
            time.sleep(0.1)
        return path
    try:
        build(path)
    except BaseException:
        failed.touch()
        raise
    built.touch()
    return path


@pytest.fixture(scope="session")
def _empty_store_file(tmp_path_factory) -> Path:
    # Every migration, once: half a second of schema a test need not rebuild.
    return built_once(tmp_path_factory, "empty-store", Store.open) / DB_FILE


@pytest.fixture
def store(data_dir: Path, _empty_store_file: Path) -> Store:
    """A migrated, empty store (a copy of the test's own)."""
    shutil.copy(_empty_store_file, data_dir / DB_FILE)
    return Store.open(data_dir)


@pytest.fixture(scope="session")
def _sample_store_file(tmp_path_factory) -> Path:
    from engine.data.ingest import ingest
    from engine.data.sources import SampleSource

    def build(path: Path) -> None:
        ingest(Store.open(path), SampleSource(), progress=False, actor="test")

    return built_once(tmp_path_factory, "sample-store", build) / DB_FILE


@pytest.fixture
def sample_store(data_dir: Path, _sample_store_file: Path) -> Store:
    """A store holding every bundled sample bar (a copy of the test's own)."""
    shutil.copy(_sample_store_file, data_dir / DB_FILE)
    return Store.open(data_dir)


#: The SYNTHETIC 5-minute sample the intraday tests share: three symbols over eight weeks
#: that hold a holiday (Thanksgiving, 2013-11-28) and an early close (13:00 the day after).
INTRADAY_SAMPLE = {"symbols": ["AAPL", "F", "GE"], "start": "2013-10-01", "end": "2013-11-29",
                   "bar_size": "5m"}  # fmt: skip


def synthetic_store_file(tmp_path_factory, sample: dict, name: str) -> Path:
    """A store file (in the temporary folder ``name``, built once per run) holding the
    SYNTHETIC bars that ``sample`` names: its symbols from its start to its end, at its bar size."""
    from engine.data.ingest import ingest
    from engine.data.sources import SyntheticSource

    def build(path: Path) -> None:
        ingest(Store.open(path), SyntheticSource(), sample["symbols"], sample["start"],
               sample["end"], bar_size=sample["bar_size"], progress=False, actor="test")  # fmt: skip

    return built_once(tmp_path_factory, name, build) / DB_FILE


@pytest.fixture(scope="session")
def _intraday_store_file(tmp_path_factory) -> Path:
    return synthetic_store_file(tmp_path_factory, INTRADAY_SAMPLE, "intraday-store")


@pytest.fixture
def intraday_store(data_dir: Path, _intraday_store_file: Path) -> Store:
    """A store holding the SYNTHETIC 5-minute sample of INTRADAY_SAMPLE (a copy of the test's own)."""
    shutil.copy(_intraday_store_file, data_dir / DB_FILE)
    return Store.open(data_dir)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with slow tests first, each kept whole (its module fixtures built once).

    On several workers (``python3 dev.py test``), the long tests start early and the many
    short ones fill in at the end, so no worker finishes alone with a 40-second test while
    the other waits. The order is the same on every worker, as pytest-xdist requires.
    """
    slow = {item.module for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module not in slow)  # stable: in file order otherwise
