"""A replay's steps are not flushed to the disk one by one; a paper loop's are."""

from engine.live.setup import open_loop
from tests.live.conftest import open_replay


def _fsync_mode(store) -> str:
    return store.scalar("SELECT current_setting('fsync_mode')")


def test_a_replay_holds_its_store_unsynced_and_a_paper_loop_synced(replay_store):
    replay = open_replay(replay_store).loop
    with replay.holding():
        assert _fsync_mode(replay_store) == "NONE"  # bars it can step again after a crash
    paper = open_loop(replay_store, mode="paper", config_ids=[replay_store.config.config_id]).loop
    with paper.holding():
        assert _fsync_mode(replay_store) == "STANDARD"  # the paper account's track record
