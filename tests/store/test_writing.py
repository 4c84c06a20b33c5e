"""Upserts keep the meaning of writing the rows one by one."""

from engine.store.writing import insert_rows, upsert_rows

MANY = 205  # more rows than a small batch


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
    store.transaction(lambda con: upsert_rows(con, "t", rows, ["book", "id"]))
    with store.connect() as con:
        got = con.execute("SELECT id, qty, note FROM t WHERE book = 'b' ORDER BY id").fetchall()
    assert got == [("1", 2.0, None), ("2", 4.0, "last")]
    assert store.scalar("SELECT count(*) FROM t WHERE book = 'c'") == MANY
