"""The default executor: every task in this process, one after the other."""

from __future__ import annotations

from typing import Any

from engine.executors.executor import Executor


class LocalExecutor(Executor):
    """Runs tasks here, in order; an error in a task propagates unchanged (with its traceback)."""

    name = "local"
    workers = 1

    def wanted_tasks(self, cells: int) -> int:
        """One: in one process, only memory bounds how the work is cut."""
        return 1

    def results(self, fn, shared, tasks, *, bar, desc) -> list[Any]:
        """Each task in turn, here; an error in one propagates unchanged."""
        results = []
        for task in tasks:
            results.append(fn(shared, task.payload))
            bar.update(task.weight)
        return results

    def __repr__(self) -> str:
        return "LocalExecutor()"
