"""What every benchmark shares: where results go and what machine they came from."""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    import psutil

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def save(name: str, figures: dict) -> Path:
    """Write ``figures`` with the machine to benchmarks/results/<name>.json and print them."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), "figures": figures}, indent=2))
    for key, value in figures.items():
        print(f"{key:55} {value}")
    print(f"-> {path}")
    return path


class WatchedConnection:
    """A DuckDB connection (or cursor) that tells ``seen(sql, parameters, wall, cpu)`` of
    every statement it runs: the seconds of DuckDB's ``execute`` (its parameters' binding
    included), wall clock and this process's CPU time; all else passes through."""

    def __init__(self, con, seen):
        self._con, self._seen = con, seen

    def execute(self, sql, *args, **kwargs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = self._con.execute(sql, *args, **kwargs)
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        self._seen(sql, args[0] if args else None, wall, cpu)
        return self if result is self._con else result

    def cursor(self):
        return WatchedConnection(self._con.cursor(), self._seen)

    def __getattr__(self, name):
        return getattr(self._con, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._con.__exit__(*exc)


def watch_store_statements(seen) -> None:
    """Every connection the store opens from now on is a :class:`WatchedConnection` telling
    ``seen`` of its statements (the store module opens files through its own name for
    duckdb: that name, replaced)."""
    import duckdb

    from engine.store import db

    db.duckdb = SimpleNamespace(
        **{name: getattr(duckdb, name) for name in dir(duckdb) if not name.startswith("_")}
    )
    db.duckdb.connect = lambda *a, **k: WatchedConnection(duckdb.connect(*a, **k), seen)
