"""A process that shares the store with others: writes numbered events, reads between writes.

Run as: python concurrent_worker.py DATA_DIR NAME WRITES
Prints one JSON line: how many events it wrote and read-checks it made.
"""

import json
import sys
import time

from engine.store import Store, append_event


def main(data_dir: str, name: str, writes: int) -> None:
    store = Store.open(data_dir)
    written = reads = 0
    started = time.monotonic()
    while written < writes:
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
    print(json.dumps({"name": name, "written": written, "reads": reads, "retries": store.retries,
                      "seconds": round(time.monotonic() - started, 2)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
