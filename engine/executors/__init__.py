"""Where sweeps and walk-forwards run: in this process (``local``, the default) or on Ray.

    >>> from engine.backtest.sweep import sweep
    >>> result = sweep(bars, "sma_crossover", grid, executor="ray")          # doctest: +SKIP
    >>> result = sweep(bars, "sma_crossover", grid,
    ...                executor=RayExecutor("10.0.0.5:6379", max_retries=5))  # doctest: +SKIP

Both executors run the same tasks (:mod:`engine.executors.plan` cuts the work) with the
same functions, and the caller assembles their results in the same order: the table
of a Ray run is the table of a local run. Ray only adds what a cluster needs: the bars
sent once, retries of lost workers, progress across the cluster, and an
:class:`IncompleteRunError` naming every task that could not finish.
"""

from __future__ import annotations

import difflib

from engine.errors import InputError
from engine.executors.executor import Executor
from engine.executors.failures import IncompleteRunError, TaskFailure
from engine.executors.local import LocalExecutor
from engine.executors.plan import Task, plan_tasks
from engine.executors.ray_cluster import RayExecutor

#: The executor names a notebook parameter, the CLI or the Python API accept.
EXECUTORS = ("local", "ray")


def resolve_executor(
    executor: str | Executor | None = "local", *, ray_address: str | None = None
) -> Executor:
    """The executor named ``executor`` ("local" or "ray"), or ``executor`` itself if it is one.

    ``ray_address`` (a running cluster's address) goes with "ray" only.
    """
    if executor is None:
        executor = "local"
    if not isinstance(executor, str):
        if not callable(getattr(executor, "run", None)):
            raise InputError(
                f"{executor!r} is not an executor",
                hint="pass 'local', 'ray', or an executor such as RayExecutor(address=...)",
            )
        if ray_address is not None:
            raise InputError(
                "ray_address goes with executor='ray', not with an executor object",
                hint="pass RayExecutor(address=...) instead",
            )
        return executor
    if executor == "ray":
        return RayExecutor(ray_address)
    if executor == "local":
        if ray_address is not None:
            raise InputError(
                f"a Ray address ({ray_address}) was given but the executor is local",
                hint="add --executor ray (executor='ray') to run on that cluster, or drop the address",
            )
        return LocalExecutor()
    close = difflib.get_close_matches(str(executor), EXECUTORS, n=1, cutoff=0.5)
    raise InputError(
        f"unknown executor {executor!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
        hint="use 'local' (this process, the default) or 'ray' (a Ray cluster)",
    )


__all__ = [
    "EXECUTORS",
    "Executor",
    "IncompleteRunError",
    "LocalExecutor",
    "RayExecutor",
    "Task",
    "TaskFailure",
    "plan_tasks",
    "resolve_executor",
]
