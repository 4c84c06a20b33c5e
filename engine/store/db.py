"""Short-lived DuckDB connections with retry on lock contention, and migrations."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from engine.errors import InputError, OperatorError, StoreBusyError, StoreDamagedError

T = TypeVar("T")

DB_FILE = "workbench.duckdb"
#: What DuckDB says when the file itself is damaged: a failed block checksum, a file cut
#: short, a header that is not DuckDB's. No retry helps; a backup does.
_DAMAGE_SIGNS = (
    "corrupt database file",
    "not a valid duckdb database file",
    "could not read enough bytes",
    "checksum",
)
#: What `wb` tells a person who meets a damaged store.
RESTORE_HINT = (
    "restore the newest backup with `wb restore` (`wb backup --list` shows them); the "
    "damaged file is kept beside the store"
)

_migrated: set[Path] = set()
_migrate_lock = threading.Lock()
_path_locks: dict[Path, threading.RLock] = {}
_path_locks_guard = threading.Lock()
#: Database files this process holds (:meth:`Store.hold`): path -> the outermost hold.
_held: dict[Path, Hold] = {}
#: The transaction a step has open on each file in this process (:meth:`Store.step`).
_steps: dict[Path, Step] = {}
#: Each file's writes as this process can count them (:meth:`Store.writes_mark`): moved by
#: every piece of work that may have written it, and by every let-go of a hold.
_writes: dict[Path, int] = {}


def _may_have_written(path: Path) -> None:
    _writes[path] = _writes.get(path, 0) + 1


def path_lock(path: Path) -> threading.RLock:
    """One lock per database file (a resolved path) for this process.

    DuckDB fails (rather than waits) when threads of one process open and close the same
    file at the same moment, and the control room serves each browser session from its
    own thread; so threads take turns here. Re-entrant: work inside a transaction may read.
    Whoever keeps a cache of the file's rows (the paper broker) takes this same lock, so a
    step's transaction (:meth:`Store.step`), which holds it throughout, never waits on a
    second lock that another thread holds while it waits for this one.
    """
    with _path_locks_guard:
        return _path_locks.setdefault(path, threading.RLock())


def _is_contention(exc: Exception) -> bool:
    """True when ``exc`` means another writer is in the way, so trying again can succeed."""
    if isinstance(exc, duckdb.TransactionException):
        return "conflict" in str(exc).lower()
    if isinstance(exc, duckdb.IOException):
        text = str(exc).lower()
        return "lock" in text
    return False


def _is_damage(exc: Exception) -> bool:
    """True when ``exc`` says the database file is damaged (see _DAMAGE_SIGNS)."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and any(sign in text for sign in _DAMAGE_SIGNS)


def damaged(path: Path, exc: Exception) -> StoreDamagedError:
    """The error a person sees for a damaged store file: what DuckDB found, and how to restore."""
    found = str(exc).splitlines()[0].removeprefix("IO Error: ")
    return StoreDamagedError(f"the store {path} is damaged: {found}", hint=RESTORE_HINT)


class Store:
    """A DuckDB file under the data dir, opened briefly for each piece of work.

    >>> store = Store.open(tmp_path)                                  # doctest: +SKIP
    >>> store.transaction(lambda con: con.execute("insert ..."))      # doctest: +SKIP
    >>> store.query("select count(*) as n from bars")                 # doctest: +SKIP
    """

    #: Other processes may open this store (a live loop then locks its book against them).
    shared = True

    def __init__(self, path: str | Path, *, busy_timeout: float = 60.0):
        self.path = Path(path).resolve()
        self.busy_timeout = busy_timeout
        self._lock = path_lock(self.path)
        #: Lock waits seen by this object; the concurrency benchmark reports them.
        self.retries = 0

    @classmethod
    def open(cls, data_dir: str | Path, *, busy_timeout: float = 60.0) -> Store:
        """The store of ``data_dir``, created and migrated to the newest schema if needed."""
        data_dir = Path(data_dir)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InputError(
                f"the data dir {data_dir} is a file (or inside one), not a folder",
                hint="point --data-dir (or WB_DATA_DIR) at a folder, or move that file away",
            ) from None
        except PermissionError:
            raise InputError(
                f"cannot create the data dir {data_dir}: permission denied",
                hint="point --data-dir (or WB_DATA_DIR) at a folder you can write",
            ) from None
        store = cls(data_dir / DB_FILE, busy_timeout=busy_timeout)
        store.migrate()
        return store

    @property
    def data_dir(self) -> Path:
        return self.path.parent

    # -- connections -----------------------------------------------------------------

    def _connection(self) -> duckdb.DuckDBPyConnection:
        """A new connection to the file: a cheap cursor while this process holds it open
        (:meth:`hold`), else an open of the file. The caller holds ``self._lock``."""
        holder = _held.get(self.path)
        con = None if holder is None else holder.connection
        return con.cursor() if con is not None else duckdb.connect(str(self.path))

    @contextmanager
    def hold(self, *, synced: bool = True) -> Iterator[Hold]:
        """Keep the file open in this process until the block ends: a fast run of many short
        transactions (a replay) without opening, checkpointing and closing the file for each.

        DuckDB lets one process at a time open the file, so the holder gives way to others:
        a process kept waiting says so (:class:`_Waiting`), and the holder, at its next
        :meth:`Hold.give_way` (between two of its steps), closes the file until the waiters
        are through; or, while it sleeps between steps (:meth:`Hold.idle`), lets it go as soon
        as anyone waits. A hold inside a hold of the same file is the outer one's, and takes
        the file back if the outer one let it go. Every transaction still commits on its own,
        as without the hold (unless a :meth:`step` makes many of them one): a holder killed
        loses nothing it committed (DuckDB replays its write-ahead log at the next open).

        ``synced=False`` (a replay's hold, see :class:`Hold`): commits reach the operating
        system but are not flushed to the disk one by one; the file is made durable every
        :data:`SYNC_EVERY_S` and when the hold lets it go.
        """
        holding = Hold(self, synced=synced)
        try:
            yield holding
        finally:
            holding.close()

    @contextmanager
    def step(self) -> Iterator[Step]:
        """One transaction for all that the block writes: each :meth:`transaction` inside it (this
        thread's, on any store object of the file) joins it, and reads see what it wrote.

        It commits when the block ends, or rolls back whole when an exception leaves the
        block, or when any work inside it failed, even one whose error was caught: DuckDB
        has no savepoint to undo only that part. Memory that mirrors what the block writes
        changes through :meth:`after_commit` (or is dropped by :meth:`on_rollback`), so a
        rolled-back block leaves no cache ahead of the store. :class:`StaleStep` from
        inside asks the caller to run the block again from its start.

        The block holds the file's lock throughout (other threads of this process wait);
        use it where the file is held (:meth:`hold`) and nothing waits on a network. Inside
        an open step it joins that one.
        """
        with self._lock:
            joined = self._step()
            if joined is not None:
                yield joined
                return
            con = self._retrying(self._connection)
            step = Step(con)
            try:
                con.execute("BEGIN TRANSACTION")
                _steps[self.path] = step
                try:
                    yield step
                    del _steps[self.path]
                    if step.failed is not None:
                        raise step.failed
                    step.write_waiting()
                    con.execute("COMMIT")
                except BaseException as exc:
                    _steps.pop(self.path, None)
                    with contextlib.suppress(duckdb.Error):
                        con.execute("ROLLBACK")
                    step.rolled_back()
                    if isinstance(exc, duckdb.Error) and _is_damage(exc):
                        raise damaged(self.path, exc) from exc
                    raise
            finally:
                con.close()
                _may_have_written(self.path)
                step.mark = self.writes_mark()  # under the lock: before anyone writes again
        step.committed()

    def _step(self) -> Step | None:
        """The step open on this file in this thread (the caller holds ``self._lock``, which
        a step holds from its start to its end: no other thread's step can be open)."""
        return _steps.get(self.path)

    @property
    def in_step(self) -> bool:
        """True inside a :meth:`step` of this thread: a transaction joins it, and its failure
        fails the step whole."""
        return self.current_step() is not None

    def current_step(self) -> Step | None:
        """The :meth:`step` open in this thread on this file (None: none)."""
        with self._lock:
            return self._step()

    def after_commit(self, change: Callable[[], None]) -> None:
        """``change()`` once what was just written has committed: when the open :meth:`step`
        commits (never, if it rolls back), or now outside a step (a transaction that
        returned has committed)."""
        with self._lock:
            step = self._step()
            if step is not None:
                step.after.append(change)
                return
        change()

    def writes_mark(self) -> int | None:
        """A mark that stays the same while nothing can have written the file: this process
        holds it (:meth:`hold`) and has run no work on it that may write since. None when
        it is not held, as others may write at any time.

        A cache of what others write (the loop's controls, the paper broker's corporate
        actions) is good while the mark is the one taken when it was last known true: no
        read needed to tell. A :meth:`step` gives the mark its commit left
        (:attr:`Step.mark`), taken before any memory changes that follow it.
        """
        with self._lock:
            holder = _held.get(self.path)
            if holder is None or holder.connection is None:
                return None
            return _writes.get(self.path, 0)

    def after_commit_mark(self, keep: Callable[[int | None], None]) -> None:
        """Inside a :meth:`step`: ``keep(mark)`` once it commits, with the :meth:`writes_mark`
        its commit left; outside one, nothing. What the step read or checked of the rows
        others write stays true while :meth:`unwritten_since` that mark."""
        with self._lock:
            step = self._step()
        if step is not None:
            self.after_commit(lambda: keep(step.mark))

    def unwritten_since(self, mark: int | None) -> bool:
        """True when nothing can have written the file since :meth:`writes_mark` was
        ``mark`` (None, a mark of a file not held: never)."""
        return mark is not None and self.writes_mark() == mark

    def on_rollback(self, forget: Callable[[], None]) -> None:
        """``forget()`` if the open :meth:`step` rolls back (outside a step: nothing to do);
        it may write (in a transaction of its own: the step's has ended)."""
        with self._lock:
            step = self._step()
            if step is not None and forget not in step.undo:  # once, however often asked
                step.undo.append(forget)

    def _retrying(self, work: Callable[[], T]) -> T:
        """Run ``work`` until it gets past lock contention or ``busy_timeout`` runs out."""
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.002
        with _Waiting(self.path) as waiting:
            while True:
                try:
                    return work()
                except duckdb.Error as exc:
                    if _is_damage(exc):
                        raise damaged(self.path, exc) from exc
                    if not _is_contention(exc):
                        raise
                    if time.monotonic() >= deadline:
                        raise StoreBusyError(
                            f"the store {self.path} stayed locked for {self.busy_timeout:.0f}s",
                            hint="another process is holding it; check `ps` for a stuck wb process",
                        ) from exc
                    waiting.announce()  # a process holding the file open gives way to us
                    self.retries += 1
                    # Full jitter keeps several waiting processes from retrying in lock step.
                    time.sleep(random.uniform(0, delay))
                    delay = min(delay * 2, 0.25)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one short piece of work; closed (and the file freed) on exit.

        Only opening is retried here; use :meth:`transaction` for work that must be
        retried as a whole.
        """
        with self._lock:
            step = self._step()
            if step is not None:  # the step's own connection, inside its transaction
                with step.failing():
                    yield step.con
                return
            con = self._retrying(self._connection)
            try:
                yield con
            except duckdb.Error as exc:
                if _is_damage(exc):
                    raise damaged(self.path, exc) from exc
                raise
            finally:
                con.close()
                _may_have_written(self.path)

    def transaction(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``work(con, *args, **kwargs)`` in one transaction, retried on contention.

        ``work`` must be safe to run again from the start: it runs in a fresh
        transaction each try, and a failed try is rolled back whole. Inside a
        :meth:`step` it joins the step's transaction instead: it commits with the step,
        and its failure rolls back the whole step.
        """
        with self._lock:
            step = self._step()
            if step is not None:
                with step.failing(any_error=True):
                    return work(step.con, *args, **kwargs)

        def attempt() -> T:
            with self._lock:
                con = self._connection()
                try:
                    con.execute("BEGIN TRANSACTION")
                    try:
                        result = work(con, *args, **kwargs)
                        con.execute("COMMIT")
                    except BaseException:
                        # A failed COMMIT has already ended the transaction; don't let the
                        # rollback's own complaint hide the real error.
                        with contextlib.suppress(duckdb.Error):
                            con.execute("ROLLBACK")
                        raise
                    return result
                finally:
                    con.close()
                    _may_have_written(self.path)

        return self._retrying(attempt)

    def execute(self, sql: str, params: Any = None) -> None:
        """Run one writing statement in its own transaction."""
        self.transaction(lambda con: con.execute(sql, params))

    def query(self, sql: str, params: Any = None) -> pd.DataFrame:
        """The result of one reading statement as a DataFrame."""
        return self._read(sql, params, lambda result: result.df())

    def rows(self, sql: str, params: Any = None) -> list[tuple]:
        """The result of one reading statement as tuples: a loop's small reads every step,
        without building a DataFrame for a few rows."""
        return self._read(sql, params, lambda result: result.fetchall())

    def _read(self, sql: str, params: Any, fetch: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        with self._lock:
            step = self._step()
            if step is not None:  # what the step has written so far included
                with step.failing():
                    return fetch(step.con.execute(sql, params))

        def attempt() -> T:
            with self._lock:
                con = self._connection()
                try:
                    return fetch(con.execute(sql, params))
                finally:
                    con.close()

        return self._retrying(attempt)

    def copy_to(self, target: Path, *, before: Callable[..., None] | None = None) -> None:
        """Copy the database file to ``target``, consistent: nobody writes during the copy.

        The copy holds the store's lock the way any writer does (DuckDB's lock on the
        file, which every process waits for): ``before(con)`` commits first (an audit
        event the copy should hold), a checkpoint moves the write-ahead log into the
        file, and the file's bytes are copied. Other processes wait, as for any short
        transaction, for as long as copying the bytes takes.
        """

        def attempt() -> None:
            with self._lock:
                con = self._connection()
                try:
                    if before is not None:
                        con.execute("BEGIN TRANSACTION")
                        before(con)
                        con.execute("COMMIT")
                    con.execute("CHECKPOINT")
                    shutil.copyfile(self.path, target)
                    wal = wal_path(self.path)
                    if wal.exists() and wal.stat().st_size:  # a checkpoint normally empties it
                        shutil.copyfile(wal, wal_path(Path(target)))
                finally:
                    con.close()
                    _may_have_written(self.path)

        self._retrying(attempt)

    def scalar(self, sql: str, params: Any = None) -> Any:
        """The first column of the first row of a reading statement, as a Python value (an
        int, a float, a str, a date...; None for NULL or no row)."""
        row = self._read(sql, params, lambda result: result.fetchone())
        return None if row is None else row[0]

    # -- schema ------------------------------------------------------------------------

    def schema_version(self) -> int:
        with self.connect() as con:
            return _current_version(con)

    def migrate(self) -> int:
        """Apply the numbered migrations this database has not seen; returns its version.

        Each migration and its ``schema_version`` row commit together, so a crash leaves
        the database at the previous version, never half-migrated.
        """
        with _migrate_lock:
            if self.path in _migrated:
                return self.schema_version()
            migrations = available_migrations()
            newest = max(migrations, default=0)

            def apply(con: duckdb.DuckDBPyConnection, version: int) -> None:
                if version in _applied_versions(con):
                    return  # another process got here first
                con.execute(migrations[version][1])
                con.execute(
                    "INSERT INTO schema_version VALUES (?, ?, now())",
                    [version, migrations[version][0]],
                )

            with self.connect() as con:
                con.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
                    " applied_at TIMESTAMP NOT NULL)"
                )
                current = _current_version(con)
                seen = _applied_versions(con)
            if current > newest:
                raise OperatorError(
                    f"the store {self.path} is at schema version {current}, newer than this "
                    f"code knows ({newest})",
                    hint="upgrade the workbench before opening this data dir",
                )
            # Every migration not yet applied, lower numbers included: branches merged in
            # any order may add a lower number after a store has seen a higher one.
            for version in sorted(v for v in migrations if v not in seen):
                self.transaction(apply, version)
            _migrated.add(self.path)
            return max(current, newest)


#: How often an unsynced hold (a replay's) makes what it committed durable, in seconds.
SYNC_EVERY_S = 30.0


def step_on(con) -> Step | None:
    """The open :meth:`Store.step` whose transaction ``con`` is (None: none): a writer
    handed only a connection can tell that it writes inside a step."""
    return next((step for step in _steps.values() if step.con is con), None)


class StaleStep(Exception):
    """Work inside a :meth:`Store.step` found a cache it relied on stale: the step is rolled
    back, and the caller runs it again from its start (on the store's rows)."""


class Step:
    """A step's one open transaction (:meth:`Store.step`): its connection, and what to do
    with memory once it commits or rolls back."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        #: Memory changes that wait for the commit, in the order they were asked.
        self.after: list[Callable[[], None]] = []
        #: Caches to drop if the transaction rolls back.
        self.undo: list[Callable[[], None]] = []
        #: The first error a piece of work inside met: the step cannot commit.
        self.failed: BaseException | None = None
        #: What the caches of this process know of the rows this transaction changed, for
        #: their owners (a cache's key -> its note; the paper broker's: _paper_memory.py).
        self.caches: dict[Any, Any] = {}
        #: The file's :meth:`Store.writes_mark` once this step committed (None: not held).
        self.mark: int | None = None
        #: Rows many pieces of work add, written once just before the commit, one statement
        #: instead of one each (the audit trail's events, the paper broker's order
        #: statuses): a key -> (the rows, how to write them). See :meth:`waiting`.
        self._waiting: dict[Any, tuple[Any, Callable[[duckdb.DuckDBPyConnection, Any], None]]] = {}

    def waiting(self, key: Any, empty: Callable[[], T],
                write: Callable[[duckdb.DuckDBPyConnection, T], None]) -> T:  # fmt: skip
        """The rows waiting under ``key`` for the step's end, for the caller to add to:
        ``empty()`` at the first ask, when ``write(con, rows)`` is set to run just before the
        commit (the keys in the order first asked for). :meth:`write_waiting` writes them
        sooner, for a statement that must see them."""
        if key not in self._waiting:
            self._waiting[key] = (empty(), write)
        return self._waiting[key][0]

    def write_waiting(self, key: Any = None) -> None:
        """Writes the rows waiting under ``key`` now (None: all of them, in order)."""
        for k in list(self._waiting) if key is None else [key]:
            found = self._waiting.pop(k, None)
            if found is not None:
                rows, write = found
                write(self.con, rows)

    @contextmanager
    def failing(self, *, any_error: bool = False) -> Iterator[None]:
        """Notes the error leaving the block (a database error; ``any_error``: any, as for a
        transaction's work, which may have written half) as the step's failure."""
        try:
            yield
        except BaseException as exc:
            if self.failed is None and (any_error or isinstance(exc, duckdb.Error)):
                self.failed = exc
            raise

    def committed(self) -> None:
        for change in self.after:
            change()

    def rolled_back(self) -> None:
        for forget in self.undo:
            forget()


class Hold:
    """The file of a store held open by this process (:meth:`Store.hold`).

    An unsynced hold (``synced=False``) is a replay's: its steps simulate trading over stored
    history, so a step need not be on the disk the moment it commits (DuckDB flushes each
    commit to the disk with ``fsync``, about half of a replay step's time on this machine's
    disk). Its commits still reach the operating system, so a killed process loses none;
    only the operating system's own crash can lose what the last sync had not flushed (the
    replay then steps those bars again). The database file itself is written only by synced
    checkpoints (never an automatic one while unsynced), so no crash can damage it: every
    :data:`SYNC_EVERY_S` between two steps, and when the file is let go.
    """

    def __init__(self, store: Store, *, synced: bool = True):
        self.store = store
        self.synced = synced
        self._waiters = _Waiting(store.path)
        self._synced_at = time.monotonic()
        #: The open file; None while let go (to a waiting process) until taken back.
        self.connection: duckdb.DuckDBPyConnection | None = None
        with store._lock:
            outer = _held.get(store.path)
            #: False inside an outer hold of the same file, which alone opens and gives way.
            self.owner = outer is None
            if self.owner:
                self.take()
                _held[store.path] = self
            else:
                outer.take()  # a step starting after its loop let the file go while idle

    def take(self) -> None:
        """Open the file unless it is open already (it was let go to another process)."""
        with self.store._lock:
            if self.connection is not None:
                return
            con = self.store._retrying(lambda: duckdb.connect(str(self.store.path)))
            # A hold runs many statements of a few rows each: handing each to a pool of
            # threads costs more than it runs (a step's transaction, about 30% more CPU with
            # the default pool). The settings belong to this open of the file and go when
            # it closes.
            con.execute("SET threads = 1")
            if not self.synced:
                con.execute("SET fsync_mode = 'NONE'")
                con.execute("SET checkpoint_threshold = '1TB'")  # only synced checkpoints
            self.connection = con
            self._synced_at = time.monotonic()

    def _let_go(self) -> None:
        """Close the file (the caller holds the store's lock); its commits are on disk."""
        _may_have_written(self.store.path)  # others may write it now
        if self.connection is not None:
            if not self.synced:  # the closing checkpoint syncs
                self.connection.execute("SET fsync_mode = 'STANDARD'")
            self.connection.close()
            self.connection = None

    def sync(self) -> None:
        """Makes what an unsynced hold committed durable: a checkpoint flushed to the disk."""
        with self.store._lock:
            held = self.connection
            if self.synced or not self.owner or held is None:
                return
            held.execute("SET fsync_mode = 'STANDARD'")
            try:
                held.execute("CHECKPOINT")
            finally:
                held.execute("SET fsync_mode = 'NONE'")
            self._synced_at = time.monotonic()

    def give_way(self, patience: float = 5.0) -> bool:
        """Close the file while other processes wait for it (for up to ``patience`` seconds),
        then open it again; True if someone was waiting. Call it between two steps (an
        unsynced hold also syncs there, every :data:`SYNC_EVERY_S`)."""
        if not self.synced and time.monotonic() - self._synced_at >= SYNC_EVERY_S:
            self.sync()
        if not self.owner or not self._waiters.anyone():
            return False
        with self.store._lock:
            self._let_go()
            deadline = time.monotonic() + patience
            while self._waiters.anyone() and time.monotonic() < deadline:
                time.sleep(0.005)
            self.take()
        return True

    @contextmanager
    def idle(self, every: float = 0.02) -> Iterator[None]:
        """While the block runs (the holder asleep between steps, for seconds or a night),
        let the file go within ``every`` seconds of wall time of another process waiting.

        A thread watches, so the block may sleep on any clock (a look every 20 ms costs
        about 1% of a core). The file stays let go after the waiter is through, until the
        next hold of it (the holder's next step) takes it back: a control-room page runs
        many reads in a row, and each would wait again.
        """
        if not self.owner:
            yield
            return
        done = threading.Event()

        def watch() -> None:
            while not done.wait(every):
                if self._waiters.anyone():
                    # Under the store's lock: never while this process's thread uses the file.
                    with self.store._lock:
                        self._let_go()
                    return

        watcher = threading.Thread(
            target=watch, name=f"idle hold of {self.store.path}", daemon=True
        )
        watcher.start()
        try:
            yield
        finally:
            done.set()
            watcher.join()

    def close(self) -> None:
        """Let the file go (its last committed transaction is on disk already)."""
        if self.owner:
            with self.store._lock:
                self._let_go()
                _held.pop(self.store.path, None)
        self._waiters.close()


class _Waiting:
    """Processes waiting for a store file that another holds: each takes a shared ``flock``
    on ``<file>.waiting`` while it waits; a holder that cannot take it exclusively knows
    someone waits. The operating system drops a dead waiter's lock, so none is stale."""

    def __init__(self, path: Path):
        self.path = path.with_name(path.name + ".waiting")
        self._fd: int | None = None

    def __enter__(self) -> _Waiting:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _file(self) -> int | None:
        if self._fd is None:
            with contextlib.suppress(OSError):  # a read-only data dir: nobody can hold it
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        return self._fd

    def announce(self) -> None:
        """Say that this process waits (until :meth:`close`)."""
        fd = self._file()
        if fd is not None:
            # Busy only for the instant a holder looks; the next retry announces again.
            with contextlib.suppress(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)

    def anyone(self) -> bool:
        """True while some other process waits for the file."""
        fd = self._file()
        if fd is None:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def wal_path(path: Path) -> Path:
    """The write-ahead log DuckDB keeps beside the database file ``path``."""
    return path.with_name(path.name + ".wal")


def forget_migrated(path: Path) -> None:
    """Make the next open of ``path`` in this process check its schema again (a restored file)."""
    with _migrate_lock:
        _migrated.discard(Path(path).resolve())


def available_migrations() -> dict[int, tuple[str, str]]:
    """Migrations shipped with the code: version -> (name, SQL), from ``NNNN_name.sql``."""
    found: dict[int, tuple[str, str]] = {}
    for entry in resources.files("engine.store.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found[int(name[:4])] = (name[5:-4], entry.read_text())
    return found


def _applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    return {row[0] for row in con.execute("SELECT version FROM schema_version").fetchall()}


def _current_version(con: duckdb.DuckDBPyConnection) -> int:
    return max(_applied_versions(con), default=0)
