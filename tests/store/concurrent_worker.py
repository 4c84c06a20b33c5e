"""A process that shares the store with others: writes numbered events, reads between writes.

Run as: python concurrent_worker.py DATA_DIR NAME SECONDS
Prints one JSON line: how many events it wrote and read-checks it made.
"""

import json
import sys
import time

from engine.store import Store, append_event


def main(data_dir: str, name: str, seconds: float) -> None:
    store = Store.open(data_dir)
    written = reads = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        store.transaction(
            lambda con, n=written: append_event(con, "test.concurrency", name, str(n), {"n": n})
        )
        written += 1
        seen = store.scalar(
            "SELECT count(*) FROM events WHERE actor = ? AND kind = 'test.concurrency'", [name]
        )
        if seen != written:  # our own committed writes must all be visible
            raise SystemExit(f"{name}: wrote {written} but read back {seen}")
        reads += 1
    print(json.dumps({"name": name, "written": written, "reads": reads, "retries": store.retries}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
