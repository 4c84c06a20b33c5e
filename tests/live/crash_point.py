"""`wb` in a process that SIGKILLs itself at one point of a loop's step, the Nth time there.

python -m tests.live.crash_point POINT N WB_ARGS...

The points are where a step's writes used to commit one by one: ``bar`` (the paper
broker has taken the bar: fills, marks), ``cancel`` (it has canceled what the step
replaces), ``submit`` (it has the step's new orders) and ``record`` (the loop's record is
written, not yet committed). A process killed there must leave the store as the step found
it: the step is one transaction.
"""

from __future__ import annotations

import functools
import os
import signal
import sys

from engine.brokers.paper import PaperBroker
from engine.cli import main
from engine.live import ledger

#: The point -> (the owner, the function after whose return the process dies).
POINTS = {
    "bar": (PaperBroker, "process_bar"),
    "cancel": (PaperBroker, "cancel_many"),
    "submit": (PaperBroker, "submit_many"),
    "record": (ledger, "save_book"),
}


def die_after(point: str, nth: int) -> None:
    """Makes the process SIGKILL itself when ``point`` is passed the ``nth`` time in a step
    (a call that does something: a cancel or submit of no order, a book saved outside a
    step, do not count)."""
    owner, name = POINTS[point]
    original = getattr(owner, name)
    seen = [0]

    @functools.wraps(original)
    def then_die(*args, **kwargs):
        result = original(*args, **kwargs)
        counts = kwargs.get("bar") is not None if point == "record" else (
            point == "bar" or bool(args[1]))  # fmt: skip
        if counts:
            seen[0] += 1
            if seen[0] == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, then_die)


if __name__ == "__main__":
    point, nth, *args = sys.argv[1:]
    die_after(point, int(nth))
    main(args)
