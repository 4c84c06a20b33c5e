"""The scratch store of a parity replay stays in memory: nothing left in the temp folder."""

from __future__ import annotations

import tempfile

from engine.live.scratch import ScratchStore


def test_a_held_scratch_store_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    store = ScratchStore()
    with store.hold():
        store.transaction(lambda con: con.execute("SELECT 1").fetchall())
        assert store.query("SELECT 41 + 1 AS n")["n"].iloc[0] == 42
    store.close()
    assert list(tmp_path.iterdir()) == []
