"""Upserts keep the meaning of writing the rows one by one."""

import numpy as np
import pytest

from engine.store import writing
from engine.store.writing import insert_rows, put_rows

MANY = 205  # more rows than a small batch


@pytest.fixture(autouse=True, params=["as the batch's size says", "each value named", "lists"])
def statement_form(request, monkeypatch):
    """Every test writes its rows in each form a statement may take: the meaning is the same."""
    if request.param == "each value named":
        monkeypatch.setattr(writing, "FEW_ROWS", 10_000)
    elif request.param == "lists":
        monkeypatch.setattr(writing, "FEW_ROWS", 0)


def test_an_upsert_batch_updates_existing_rows_and_a_repeated_key_keeps_its_last_row(store):
    store.execute("CREATE TABLE t (book VARCHAR, id VARCHAR, qty DOUBLE, note VARCHAR,"
                  " PRIMARY KEY (book, id))")  # fmt: skip
    first = [{"book": "b", "id": "1", "qty": 1.0, "note": "old"}]
    store.transaction(lambda con: insert_rows(con, "t", first))
    rows = [
        {"book": "b", "id": "1", "qty": 2.0, "note": None},  # updates the stored row
        {"book": "b", "id": "2", "qty": 3.0, "note": "first"},
        {"book": "b", "id": "2", "qty": 4.0, "note": "last"},  # the same key again: it wins
        *({"book": "c", "id": str(i), "qty": float(i), "note": "x"} for i in range(MANY)),
    ]
    store.transaction(lambda con: put_rows(con, "t", rows, ["book", "id"]))
    with store.connect() as con:
        got = con.execute("SELECT id, qty, note FROM t WHERE book = 'b' ORDER BY id").fetchall()
    assert got == [("1", 2.0, None), ("2", 4.0, "last")]
    assert store.scalar("SELECT count(*) FROM t WHERE book = 'c'") == MANY


def test_put_rows_writes_what_an_upsert_writes_whatever_its_hint_of_stored_keys_says(store):
    """The hint only saves statements: a key it names that is gone is inserted, one it
    leaves out that is there is updated, and a repeated key keeps its last row."""
    store.execute("CREATE TABLE t (book VARCHAR, id VARCHAR, qty DOUBLE, note VARCHAR,"
                  " PRIMARY KEY (book, id))")  # fmt: skip
    first = [{"book": "b", "id": "1", "qty": 1.0, "note": "old"},
             {"book": "b", "id": "3", "qty": 1.0, "note": "old"}]  # fmt: skip
    store.transaction(lambda con: insert_rows(con, "t", first))

    def put(rows, hint):
        store.transaction(lambda con: put_rows(con, "t", rows, ["book", "id"], stored=hint))
        with store.connect() as con:
            return con.execute("SELECT id, qty, note FROM t ORDER BY id").fetchall()

    # All said to be stored: one is, one is not (and comes twice: its last row wins).
    said_stored = [{"book": "b", "id": "1", "qty": 2.0, "note": None},
                   {"book": "b", "id": "2", "qty": 3.0, "note": "first"},
                   {"book": "b", "id": "2", "qty": 4.0, "note": "last"}]  # fmt: skip
    assert put(said_stored, [("b", "1"), ("b", "2")]) == [
        ("1", 2.0, None), ("2", 4.0, "last"), ("3", 1.0, "old")]  # fmt: skip
    # None said to be stored: one is.
    said_new = [{"book": "b", "id": "3", "qty": 5.0, "note": "new"},
                {"book": "b", "id": "4", "qty": 6.0, "note": None}]  # fmt: skip
    assert put(said_new, []) == [("1", 2.0, None), ("2", 4.0, "last"), ("3", 5.0, "new"),
                                 ("4", 6.0, None)]  # fmt: skip
    # Both kinds at once (a quantity sized in NumPy among them).
    both = [{"book": "b", "id": "1", "qty": np.int64(7), "note": "x"},
            {"book": "b", "id": "5", "qty": 8.0, "note": "y"}]  # fmt: skip
    assert put(both, [("b", "1")])[0] == ("1", 7.0, "x")
    assert store.scalar("SELECT qty FROM t WHERE id = '5'") == 8.0


@pytest.mark.parametrize("books", ["one book", "two books"])
def test_put_rows_deletes_the_rows_gone_and_a_key_both_gone_and_written_is_written(store, books):
    """A book's closed positions go with its rewritten ones; one closed and opened again in
    the same write is there after it."""
    store.execute("CREATE TABLE t (book VARCHAR, id VARCHAR, qty DOUBLE, PRIMARY KEY (book, id))")
    other = "b" if books == "one book" else "c"
    first = [{"book": "b", "id": "1", "qty": 1.0}, {"book": "b", "id": "2", "qty": 1.0},
             {"book": other, "id": "3", "qty": 1.0}, {"book": "b", "id": "4", "qty": 1.0}]  # fmt: skip
    store.transaction(lambda con: insert_rows(con, "t", first))
    rows = [{"book": "b", "id": "2", "qty": 2.0}, {"book": "b", "id": "5", "qty": 5.0}]
    gone = [("b", "1"), (other, "3"), ("b", "5")]
    store.transaction(lambda con: put_rows(con, "t", rows, ["book", "id"], gone=gone))
    with store.connect() as con:
        got = con.execute("SELECT book, id, qty FROM t ORDER BY book, id").fetchall()
    assert got == [("b", "2", 2.0), ("b", "4", 1.0), ("b", "5", 5.0)]


def test_an_update_batch_tells_which_keys_it_found_and_writes_only_those(store):
    """A batch update whose keys are not all stored: the caller learns which were found (the
    others it must insert), and only those rows change."""
    store.execute("CREATE TABLE t (book VARCHAR, id VARCHAR, qty DOUBLE, PRIMARY KEY (book, id))")
    store.transaction(lambda con: insert_rows(con, "t", [{"book": "b", "id": str(i), "qty": 1.0}
                                                         for i in range(4)]))  # fmt: skip
    every = [{"book": "b", "id": str(i), "qty": 2.0} for i in range(3)]
    some = [{"book": "b", "id": "3", "qty": 3.0}, {"book": "b", "id": "9", "qty": 3.0},
            {"book": "c", "id": "0", "qty": 3.0}]  # fmt: skip
    assert store.transaction(lambda con: writing.update_rows(con, "t", every, ["book", "id"])) == {
        ("b", "0"), ("b", "1"), ("b", "2")}  # fmt: skip
    assert store.transaction(lambda con: writing.update_rows(con, "t", some, ["book", "id"])) == {
        ("b", "3")}  # fmt: skip
    with store.connect() as con:
        got = con.execute("SELECT book, id, qty FROM t ORDER BY book, id").fetchall()
    assert got == [("b", "0", 2.0), ("b", "1", 2.0), ("b", "2", 2.0), ("b", "3", 3.0)]
