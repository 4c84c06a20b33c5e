"""The loop's books kept in memory between steps: a cache of the store, never the truth.

Reading its books whole (:func:`engine.live.ledger.read_records`) costs a step several
queries, and the cash its fills brought a sum over every fill it ever had. What only the
loop writes (its orders, positions, corporate actions taken, book row and equity marks)
is kept here instead, as its own transactions stored it (their RETURNING rows), taken in
only after the transaction committed (a step's one transaction, :meth:`Store.step`,
when the step commits): a failed or retried one leaves the memory as it was. (A step
reads its books before it writes any of them: what it reads is what was committed.)
What others write is read every step, in one statement
(:func:`engine.live.ledger.read_shared`): the controls, the configs' registry status, the
proposals, and the books' version, which every other writer of the loop's orders or
positions bumps in its own transaction (a trader's command, applied by the loop or by the
control room when no loop runs: :func:`engine.live.overrides.write`). A new version, a
new process, or a time before the kept windows: the books are read whole again. The
stored splits and dividends of the symbols held are kept too, read again when a stamp of
them (read with the rest) moves.

Only one loop trades a book at a time (:mod:`engine.live.book_lock`), so no other loop
writes these rows behind this one's back.
"""

from __future__ import annotations

from datetime import date, datetime

from engine.data.corporate_actions import STAMP_SQL, CorporateAction, KnownActions
from engine.live import ledger
from engine.live.books import Books, Written


class KeptBooks:
    """``book``'s records for each step: read whole once, then kept (see the module docstring)."""

    def __init__(self, store, book: str):
        self.store = store
        self.book = book
        self._books: Books | None = None
        self._version: int | None = None
        #: How many times the books were read whole (start-up, and after others wrote them).
        self.reads = 0
        self._shared: ledger.Shared | None = None  # the last read of what others write
        #: (the store's writes mark, the config ids) under which ``_shared`` is still true.
        self._quiet: tuple[int, tuple[str, ...]] | None = None
        self._actions = KnownActions()

    def shared(self, config_ids: list[str]) -> ledger.Shared:
        """What others wrote: read now (one statement), or the last step's read when the
        store can tell that nothing wrote it since (:meth:`keep_shared`)."""
        quiet = self._quiet
        if quiet is not None and quiet[1] == tuple(config_ids) and self.store.unwritten_since(quiet[0]):
            return self._shared
        with self.store.connect() as con:
            return ledger.read_shared(con, self.book, config_ids)

    def keep_shared(self, config_ids: list[str]) -> None:
        """Says, inside a step, that the step wrote none of what others write (the controls,
        the proposals, the commands: :class:`~engine.live.ledger.Shared`): once it commits,
        what it read of them stays true until anything else may write the store
        (:meth:`Store.writes_mark <engine.store.db.Store.writes_mark>` moves: a write of this
        process, or the file let go to another). The next step then reads none of it."""
        shared, ids = self._shared, tuple(config_ids)
        if shared is None:
            return

        def keep(mark):
            self._shared, self._quiet = shared, (mark, ids)

        self.store.after_commit_mark(keep)

    def records(self, config_ids: list[str], now: datetime, *, marks: bool = True,
                shared: ledger.Shared | None = None) -> ledger.Records:  # fmt: skip
        """The loop's books at ``now``: what :func:`~engine.live.ledger.read_records` gives
        (``shared``: what others wrote, read for ``config_ids`` this instant; else read now)."""
        shared = shared or self.shared(config_ids)
        books = self._books
        if books is None or shared.version != self._version or now < books.since:
            shared, books = self.store.transaction(self._read, config_ids, now)
            self._books, self._version = books, shared.version
            self.reads += 1
        books.forget_before(now)
        self._shared = shared
        return ledger.assemble(shared, books, now, marks=marks)

    def actions(self, symbols: list[str], after: date, through: date, *,
                among: list[str] = ()) -> list[CorporateAction]:  # fmt: skip
        """The stored splits and dividends of ``symbols`` that went ex in (``after``,
        ``through``]: kept from one read (of those of ``among`` too) while the last
        :meth:`records` found none added, replaced or removed since."""
        with self.store.connect() as con:
            stamp = self._shared.actions if self._shared else con.execute(STAMP_SQL).fetchone()[0]
            return self._actions.between(con, stamp, symbols, after, through, among=among)

    def _read(self, con, config_ids: list[str], now: datetime):
        """What others wrote and the books, read whole in one snapshot of the store."""
        return ledger.read_shared(con, self.book, config_ids), ledger.read_books(con, self.book, now)

    def take(self, written: Written) -> None:
        """Takes in what a transaction of the loop stored, once it has committed: now, or
        when the store's open step commits."""
        self.store.after_commit(lambda: self._take(written))

    def _take(self, written: Written) -> None:
        if self._books is not None:
            self._books.take(written)

    def forget(self) -> None:
        """Reads the books whole at the next step (after a write not described to :meth:`take`)."""
        self._books = None
