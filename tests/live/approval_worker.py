"""A replay loop started in a process of its own, to apply a trader's approval and be killed.

python -m tests.live.approval_worker DATA_DIR CONFIG_ID START END [KILL_AT]

The loop starts (applying the commands waiting for it) and stops. With ``KILL_AT`` the
process SIGKILLs itself inside the approval: ``before_submit`` (the proposal marked
approved, nothing sent yet) or ``after_submit`` (the broker has the order, nothing else
recorded).
"""

from __future__ import annotations

import os
import signal
import sys

from engine.brokers.paper import PaperBroker
from engine.live.router import OrderRouter
from engine.live.runner import _first_undone
from engine.live.setup import open_loop
from engine.store import Store


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> None:
    data_dir, config_id, start, end, *kill = argv
    if kill == ["before_submit"]:
        OrderRouter._submit = lambda self, approved, routed: _die()
    elif kill == ["after_submit"]:
        submit_many = PaperBroker.submit_many

        def submit_then_die(self, orders):
            submit_many(self, orders)
            _die()

        PaperBroker.submit_many = submit_then_die
    opened = open_loop(
        Store.open(data_dir), mode="replay", config_ids=[config_id], start=start, end=end
    )
    opened.loop.start(_first_undone(opened.loop, opened.days))
    opened.loop.stop("approval applied")


if __name__ == "__main__":
    main(sys.argv[1:])
