"""The default executor: every task in this process, one after the other."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

from engine.executors.plan import Task


class LocalExecutor:
    """Runs tasks here, in order; an error in a task propagates unchanged (with its traceback)."""

    name = "local"
    workers = 1

    def wanted_tasks(self, cells: int) -> int:
        """One: in one process, only memory bounds how the work is cut."""
        return 1

    def run(
        self,
        fn: Callable[[Any, Any], Any],
        shared: Any,
        tasks: Sequence[Task],
        *,
        desc: str,
        unit: str,
        progress: bool,
    ) -> list[Any]:
        """``[fn(shared, task.payload) for task in tasks]``, with a progress bar of the tasks' weights."""
        results = []
        total = sum(task.weight for task in tasks)
        with tqdm(total=total, desc=desc, unit=unit, disable=not progress) as bar:
            for task in tasks:
                results.append(fn(shared, task.payload))
                bar.update(task.weight)
        return results

    def __repr__(self) -> str:
        return "LocalExecutor()"
