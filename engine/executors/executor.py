"""What an executor is: tasks in, their results out in task order, under one progress bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

from engine.executors.plan import Task


class Executor:
    """Runs a list of tasks and gives back their results in task order.

    A subclass says where the tasks run (:meth:`results`) and how finely the work is cut
    (:meth:`wanted_tasks`); the progress bar of the tasks' weights is the same for all.
    """

    name: str
    workers: int

    def wanted_tasks(self, cells: int) -> int:
        """How many tasks work of ``cells`` bars x columns should be cut into."""
        raise NotImplementedError

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
        total = sum(task.weight for task in tasks)
        label = self.progress_label(desc)
        with tqdm(total=total, desc=label, unit=unit, disable=not progress) as bar:
            return self.results(fn, shared, tasks, bar=bar, desc=desc)

    def progress_label(self, desc: str) -> str:
        """What the progress bar says it is doing."""
        return desc

    def results(self, fn, shared, tasks: Sequence[Task], *, bar: tqdm, desc: str) -> list[Any]:
        """Each task's ``fn(shared, task.payload)`` in task order; ``bar`` moves by each task's
        weight, and ``desc`` names the work in an error."""
        raise NotImplementedError
