"""What the 500-symbol step's writes cost in DuckDB, and the same rows written by SQLite.

    .venv/bin/python benchmarks/store_floor.py

The step of ``benchmarks/live_step.py`` (the same synthetic 500 symbols, config and limits,
the store held as the paper runner holds it). Every statement a step writes with is recorded
as the step runs it, its SQL, its parameters and its time in DuckDB, with the step's BEGIN
and COMMIT. Then the same rows are written by SQLite (the standard library's ``sqlite3``,
WAL journal, ``synchronous=FULL``: each commit on the disk, as DuckDB's), one transaction a
step, into tables with the same columns and keys, filled first with what the DuckDB tables
held when the timed steps began. Each DuckDB statement becomes what a row store takes for
it: its rows as one ``executemany`` of a statement of one row (a list parameter unnested
becomes rows), a statement of scalars as it was written. Reads are left out: the bars would
stay in DuckDB whatever stored the books. A statement SQLite cannot run as written is
counted (``untranslated``), never guessed.

The figure this answers: how much of a step is the store's floor per statement (DuckDB
takes about a millisecond for any statement, however few its rows), and what the step's
ratio to its signals alone would be with the same writes at a row store's cost
(``step_over_signals_alone_with_sqlite_writes``, the step's own CPU time less its DuckDB
writes plus SQLite's). It is a measurement of the storage floor, not a plan: the books, the
paper broker and the events share one DuckDB transaction per step (docs/architecture.md).
"""

from __future__ import annotations

import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import save, watch_store_statements  # noqa: E402
from benchmarks.live_step import paper_loop, setting, time_signals, timed_steps  # noqa: E402
from engine.store.writing import python_value  # noqa: E402

STEPS = 40
#: Each step's writes as DuckDB ran them: (sql, parameters, CPU seconds).
RECORDED: list[list[tuple[str, object, float]]] = []
RECORDING = [False]
WRITES = ("INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT")

sqlite3.register_adapter(datetime, lambda v: v.isoformat(" "))
sqlite3.register_adapter(date, lambda v: v.isoformat())


def recorded(sql: str, params, _wall: float, cpu: float) -> None:
    """Keeps a write of the step running now (its CPU seconds), while recording is on."""
    if RECORDING[0] and sql.lstrip().upper().startswith(WRITES):
        RECORDED[-1].append((sql, params, cpu))


# -- SQLite: the same tables, the same rows -------------------------------------------------


def sqlite_copy(con: duckdb.DuckDBPyConnection, tables: set[str], path: Path) -> sqlite3.Connection:
    """A SQLite file with ``tables`` as DuckDB has them: columns, primary and unique keys
    and every row. A column DuckDB numbers from a sequence is an ``INTEGER PRIMARY KEY``
    when it is the key (SQLite's own row number), else written as the rows give it."""
    lite = sqlite3.connect(path, isolation_level=None)
    lite.execute("PRAGMA journal_mode = WAL")
    lite.execute("PRAGMA synchronous = FULL")
    for table in sorted(tables):
        columns = [c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
            [table]).fetchall()]  # fmt: skip
        keys = con.execute(
            "SELECT constraint_type, constraint_column_names FROM duckdb_constraints()"
            " WHERE table_name = ? AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
            [table],
        ).fetchall()
        numbered = {c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ?"
            " AND column_default LIKE 'nextval%'", [table]).fetchall()}  # fmt: skip
        rowid = next((k[0] for kind, k in keys if kind == "PRIMARY KEY" and len(k) == 1
                      and k[0] in numbered), None)  # fmt: skip
        body = [f"{c} INTEGER PRIMARY KEY" if c == rowid else c for c in columns]
        body += [f"{kind} ({', '.join(k)})" for kind, k in keys if k != [rowid]]
        lite.execute(f"CREATE TABLE {table} ({', '.join(body)})")
        rows = con.execute(f"SELECT * FROM {table}").fetchall()
        if rows:
            marks = ", ".join("?" * len(columns))
            lite.execute("BEGIN")
            lite.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            lite.execute("COMMIT")
    return lite


_INSERT = re.compile(r"INSERT INTO (\w+)(?: \(([^)]*)\))? (?:SELECT unnest|VALUES)")
_DELETE_IN = re.compile(r"DELETE FROM (\w+) WHERE (.*?)(\w+) IN \(SELECT unnest\(\?\)\)$")
_BY_ROWS = re.compile(r"^(UPDATE|DELETE FROM) (\w+) (?:SET (.*) FROM|USING) \(SELECT .*\) v WHERE (.*)$")


def row_store_statements(sql: str, params) -> list[tuple[str, list]] | None:
    """What a row store runs for one of DuckDB's write statements: (statement, rows of
    parameters) for ``executemany``; None when it has no such form here."""
    sql = " ".join(sql.split())
    sql = re.sub(r" RETURNING .*$", "", sql)
    if isinstance(params, dict) and params and all(isinstance(v, list) for v in params.values()):
        rows = [tuple(map(python_value, row)) for row in zip(*params.values(), strict=True)]
        if found := _INSERT.match(sql):
            columns = list(params)
            verb = "INSERT OR IGNORE" if "ON CONFLICT DO NOTHING" in sql else "INSERT"
            marks = ", ".join("?" * len(columns))
            return [(f"{verb} INTO {found[1]} ({', '.join(columns)}) VALUES ({marks})", rows)]
        if found := _BY_ROWS.match(sql):
            verb, table, sets, match = found.groups()
            keys = re.findall(rf"{table}\.(\w+) = v\.\1", match)
            where = " AND ".join(f"{k} = ?" for k in keys)
            names = list(params)
            if verb == "DELETE FROM":
                order = [names.index(k) for k in keys]
                return [(f"DELETE FROM {table} WHERE {where}", [tuple(r[i] for i in order) for r in rows])]
            changed = re.findall(r"(\w+) = v\.\1", sets)
            order = [names.index(c) for c in (*changed, *keys)]
            sets = ", ".join(f"{c} = ?" for c in changed)
            return [(f"UPDATE {table} SET {sets} WHERE {where}", [tuple(r[i] for i in order) for r in rows])]
        return None
    if isinstance(params, list) and params and isinstance(params[-1], list):
        if found := _DELETE_IN.match(sql):
            table, leading, last = found.groups()
            return [(f"DELETE FROM {table} WHERE {leading}{last} = ?",
                     [(*params[:-1], python_value(v)) for v in params[-1]])]  # fmt: skip
        return None
    if isinstance(params, list) and (found := _INSERT.match(sql)) and " VALUES " in sql:
        width = sql.split(" VALUES ", 1)[1].split(")", 1)[0].count("?")
        verb = "INSERT OR IGNORE" if "ON CONFLICT DO NOTHING" in sql else "INSERT"
        head = f"{verb} INTO {found[1]}" + (f" ({found[2]})" if found[2] else "")
        rows = [tuple(map(python_value, params[i : i + width])) for i in range(0, len(params), width)]
        return [(f"{head} VALUES ({', '.join('?' * width)})", rows)]
    # A statement of scalars: as written, in SQLite's words for DuckDB's.
    sql = re.sub(r"(\w+\([^()]*\))::VARCHAR", r"CAST(\1 AS TEXT)", sql.replace("greatest(", "max("))
    return [(sql, [params if params is not None else []])]


def sqlite_step(lite: sqlite3.Connection, statements: list[tuple[str, object, float]]) -> tuple[float, float, int]:
    """Writes one step's rows in one SQLite transaction; gives (CPU seconds, wall seconds,
    statements it could not run as written)."""
    plans, untranslated = [], 0
    for sql, params, _ in statements:
        if sql.strip().upper().startswith(("BEGIN", "COMMIT")):
            continue
        found = row_store_statements(sql, params)
        if found is None:
            untranslated += 1
        else:
            plans.extend(found)
    start, start_cpu = time.perf_counter(), time.process_time()
    lite.execute("BEGIN IMMEDIATE")
    for sql, rows in plans:
        try:
            lite.executemany(sql, rows)
        except sqlite3.Error:
            untranslated += 1
    lite.execute("COMMIT")
    return time.process_time() - start_cpu, time.perf_counter() - start, untranslated


def main() -> None:
    watch_store_statements(recorded)

    days, config, limits = setting()
    loop = paper_loop(days, config, limits)
    steps = timed_steps(days, STEPS + 1)  # the first one untimed
    step_cpu = []
    with loop.holding() as held:
        loop.start(steps[0])
        loop.step(steps[0])  # the first step reads the window whole: not timed
        # The books as the timed steps find them (every table but the bars, which would
        # stay in DuckDB).
        with loop.store.connect() as con:
            tables = {t for (t,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE table_name NOT LIKE '%bars'"
            ).fetchall()}  # fmt: skip
            lite = sqlite_copy(con, tables, Path(tempfile.mkdtemp(prefix="wb-floor-")) / "books.sqlite")
        RECORDING[0] = True
        for day in steps[1:]:
            RECORDED.append([])
            start_cpu = time.process_time()
            loop.step(day)
            step_cpu.append(time.process_time() - start_cpu)
            with held.idle():
                pass
        RECORDING[0] = False

    alone_cpu = []  # the same signals alone on each step's window
    for day in steps[1:]:
        time_signals(config, loop.feed.window(day), [], alone_cpu, wait=False)
    results = [sqlite_step(lite, step) for step in RECORDED]

    n = len(RECORDED)
    duck = [sum(seconds for _, _, seconds in step) for step in RECORDED]
    signals = statistics.median(alone_cpu)
    with_lite = [cpu - d + lite_cpu for cpu, d, (lite_cpu, _, _) in zip(step_cpu, duck, results, strict=True)]
    figures = {
        "symbols": len(config.universe),
        "steps_timed": n,
        "write_statements_per_step_begin_and_commit_included": round(sum(len(s) for s in RECORDED) / n, 1),
        "duckdb_writes_cpu_ms_per_step_median": round(statistics.median(duck) * 1e3, 2),
        "sqlite_same_rows_cpu_ms_per_step_median": round(statistics.median(r[0] for r in results) * 1e3, 2),
        "sqlite_same_rows_wall_ms_per_step_median": round(statistics.median(r[1] for r in results) * 1e3, 2),
        "untranslated_statements": sum(r[2] for r in results),
        "step_cpu_ms_median": round(statistics.median(step_cpu) * 1e3, 2),
        "signals_alone_cpu_ms_median": round(signals * 1e3, 2),
        "step_over_signals_alone": round(statistics.median(step_cpu) / signals, 2),
        "step_over_signals_alone_with_sqlite_writes": round(statistics.median(with_lite) / signals, 2),
    }
    save("store_floor", figures)


if __name__ == "__main__":
    main()
