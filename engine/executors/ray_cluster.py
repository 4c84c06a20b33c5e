"""The Ray executor: the tasks of a sweep or walk-forward spread over the CPUs of a Ray cluster.

Ray is an optional extra: nothing here imports it until an executor is made, and a
missing Ray is an InputError that gives the pip command.

- The shared inputs (the bars and the strategy) go to the object store once
  (``ray.put``); every task gets a reference to that one copy, never its own.
- A task whose worker process or node dies is retried by Ray (``max_retries``); a task
  whose own code raises is not (it would fail the same way again).
- Results come back in task order whatever order the tasks finish in, so the caller
  assembles exactly the table a local run gives. If any task still fails, the run
  raises :class:`~engine.executors.failures.IncompleteRunError` listing every failed
  task, and returns nothing: no partial table can reach a report or the store.
- Each worker checks that it runs the same engine code and numeric libraries as the
  caller, so a cluster with another version installed, or workers still holding code
  from before an edit, fail loudly instead of returning different numbers.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
import os
import platform
import socket
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any

from engine.errors import InputError, NetworkError, OperatorError
from engine.executors.executor import Executor
from engine.executors.failures import IncompleteRunError, RemoteTaskError, TaskFailure
from engine.strategies.plugins import PATH_VARIABLE
from engine.strategies.plugins import fingerprint as user_strategies_fingerprint

PIP_INSTALL = "pip install 'trading-workbench[ray]'  (or: pip install 'ray[default]>=2.30')"

#: Tasks per CPU of the cluster: a few each, so that a slow task or node does not leave
#: the others idle at the end, and the progress bar moves.
TASKS_PER_WORKER = 4
#: Bars x columns below which a task is not worth sending: about 40 ms of simulation on
#: one core, against a few milliseconds of scheduling and transfer per task.
MIN_TASK_CELLS = 500_000
#: Retries of a task whose worker died, before the run gives up on it.
MAX_RETRIES = 3
#: How long to wait for a cluster's head to answer (Ray itself would wait for ever).
CONNECT_SECONDS = 10.0

#: What must be the same on every worker for a result to be the caller's result.
ENGINE_PACKAGES = ("backtest", "data", "executors", "strategies")
NUMERIC_LIBRARIES = ("numpy", "pandas", "numba", "vectorbt")


def import_ray():
    """The ``ray`` module, or an InputError with the pip command when it is not installed."""
    try:
        import ray
    except ImportError as exc:
        raise InputError(
            "the Ray executor needs Ray, which is not installed here",
            hint=f"install the extra: {PIP_INSTALL}; or run with the local executor",
        ) from exc
    return ray


@dataclass(repr=False, eq=False)
class RayExecutor(Executor):
    """Runs tasks on a Ray cluster: the one this process is connected to, ``address``, or a new local one.

    ``address`` is a running cluster's address (``10.0.0.5:6379``, ``ray://head:10001`` or
    ``auto``); None uses ``$RAY_ADDRESS`` if set, else starts a Ray instance on this
    machine, which stays up for later runs until the process ends. ``max_retries``
    retries a task whose worker died; ``tasks_per_worker`` and ``min_task_cells`` size
    the tasks (see :mod:`engine.executors.plan`); ``runtime_env`` is passed to
    ``ray.init`` (e.g. ``{"py_modules": [...]}`` to ship code to a cluster);
    ``log_to_driver=False`` keeps the workers' own output (and Ray's notices of dead
    workers) off this process's stdout, e.g. under ``--json``.
    """

    name = "ray"

    address: str | None = None
    _: KW_ONLY
    max_retries: int = MAX_RETRIES
    tasks_per_worker: int = TASKS_PER_WORKER
    min_task_cells: int = MIN_TASK_CELLS
    runtime_env: dict | None = None
    log_to_driver: bool = True

    def __post_init__(self) -> None:
        for name, least in (("max_retries", 0), ("tasks_per_worker", 1), ("min_task_cells", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < least:
                raise InputError(
                    f"{name} must be a whole number of at least {least}, not {value!r}"
                )
        import_ray()  # fail now, before bars are loaded, if Ray is missing

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, max_retries={self.max_retries})"

    def connect(self):
        """The ``ray`` module, connected: an existing session is used as it is."""
        ray = import_ray()
        if ray.is_initialized():
            return ray
        options: dict[str, Any] = {
            "address": self.address,
            "logging_level": logging.WARNING,
            "log_to_driver": self.log_to_driver,
        }
        if self.runtime_env is not None:
            options["runtime_env"] = self.runtime_env
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address is None:
            options["include_dashboard"] = False  # a private instance: start it quickly
        else:
            _check_reachable(address)
        try:
            ray.init(**options)
        except ConnectionError as exc:
            raise _unreachable(address, exc) from exc
        return ray

    @property
    def workers(self) -> int:
        """CPUs in the cluster (each task takes one)."""
        return max(1, int(self.connect().cluster_resources().get("CPU", 1)))

    def wanted_tasks(self, cells: int) -> int:
        """Tasks for work of ``cells`` bars x columns: a few per CPU, none too small to be worth it."""
        return max(1, min(self.workers * self.tasks_per_worker, cells // self.min_task_cells))

    def progress_label(self, desc: str) -> str:
        return f"{desc} on ray ({self.workers} CPUs)"

    def results(self, fn, shared, tasks, *, bar, desc) -> list[Any]:
        """Each task's result computed on the cluster (see the module docstring).

        ``fn`` must be importable by the workers (a module-level function of the engine);
        ``shared`` is sent once.
        """
        ray = self.connect()
        shared_ref = ray.put(shared)
        options: dict[str, Any] = {"max_retries": self.max_retries, "retry_exceptions": False}
        folders = os.environ.get(PATH_VARIABLE)
        if folders:
            # The workers load the caller's own strategies from the same folders (Ray merges
            # these variables into a session's own runtime environment, even one started
            # before, e.g. by a notebook).
            options["runtime_env"] = {"env_vars": {PATH_VARIABLE: folders}}
        remote = _remote_task(ray).options(**options)
        fingerprint = code_fingerprint()
        refs = [remote.remote(fn, shared_ref, task.payload, fingerprint) for task in tasks]
        position = {ref: k for k, ref in enumerate(refs)}
        results: list[Any] = [None] * len(tasks)
        failures: dict[int, TaskFailure] = {}
        pending, finished = list(refs), 0
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    k = position[ref]
                    try:
                        results[k] = ray.get(ref)
                    except Exception as exc:  # sorted into lost or raised below
                        failures[k] = _failure(ray, tasks[k].label, exc)
                    finished += 1
                    bar.update(tasks[k].weight)
                    bar.set_postfix_str(
                        f"tasks {finished}/{len(tasks)}"
                        + (f", {len(failures)} failed" if failures else "")
                    )
        except KeyboardInterrupt:
            for ref in pending:  # stop the cluster's work too, not just this process
                ray.cancel(ref, force=True)
            raise
        if failures:
            ordered = [failures[k] for k in sorted(failures)]
            first_raised = next((f.error for f in ordered if not f.lost), None)
            raise IncompleteRunError(ordered, total=len(tasks), what=desc) from first_raised
        return results


def _check_reachable(address: str) -> None:
    """Nothing if the head at ``host:port`` (or ``ray://host:port``) answers; a NetworkError if not."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and the like: Ray finds the cluster itself, and says if it cannot
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        raise _unreachable(address, exc) from exc


def _unreachable(address: str | None, exc: Exception) -> NetworkError:
    return NetworkError(
        f"cannot reach the Ray cluster at {address}: {exc}",
        hint="start it with `ray start --head` on the head node and pass the address it "
        "prints (e.g. --ray-address 10.0.0.5:6379); `ray status` there shows whether it is up",
    )


def _failure(ray, label: str, exc: Exception) -> TaskFailure:
    """A failed task sorted: its worker, node or data was lost (worth a retry later), or not."""
    errors = ray.exceptions
    lost = (
        errors.WorkerCrashedError,
        errors.NodeDiedError,
        errors.LocalRayletDiedError,
        errors.ObjectLostError,
        errors.OutOfMemoryError,
        errors.ObjectStoreFullError,
        errors.OutOfDiskError,
        errors.RaySystemError,
    )
    if isinstance(exc, errors.RayTaskError):
        cause = getattr(exc, "cause", None) or exc
        kind, said = getattr(cause, "kind", type(cause).__name__), getattr(cause, "message", cause)
        return TaskFailure(label, _first_line(f"{kind}: {said}"), False, cause)
    if isinstance(exc, lost):
        what = "node" if isinstance(exc, errors.NodeDiedError) else "worker"
        reason = f"its {what} was lost on every attempt ({type(exc).__name__})"
        return TaskFailure(label, reason, True, exc)
    return TaskFailure(label, _first_line(f"{type(exc).__name__}: {exc}"), False, exc)


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= limit else line[: limit - 3] + "..."


@functools.cache
def _remote_task(ray):
    """The task wrapper as a Ray remote function, made once per process."""
    return ray.remote(num_cpus=1)(_run_task)


def _run_task(fn: Callable[[Any, Any], Any], shared: Any, payload: Any, expected: dict) -> Any:
    """On a worker: refuse to compute with code other than the caller's, then run the task.

    Errors go back as RemoteTaskError: an exception class that cannot be rebuilt on the
    caller's side would otherwise arrive as an unreadable "failed to deserialize".
    """
    try:
        _check_code(expected)
        return fn(shared, payload)
    except Exception as exc:
        raise RemoteTaskError.of(exc) from None


def _check_code(expected: dict[str, str]) -> None:
    mine = code_fingerprint()
    differs = [name for name in expected if mine.get(name) != expected[name]]
    if differs:
        raise OperatorError(
            f"worker {platform.node()} (pid {os.getpid()}) runs other code than the caller: "
            + ", ".join(
                f"{name} {mine.get(name)} here, {expected[name]} there" for name in differs
            ),
            hint="install the same workbench and libraries on every node of the cluster "
            f"({PIP_INSTALL}); after editing the engine, restart the cluster (ray stop; ray "
            "start --head ...) or the kernel, since running workers keep the code they loaded",
        )


@functools.cache
def code_fingerprint() -> dict[str, str]:
    """What decides a backtest's numbers here: hashes of the engine's and the user strategies' source, library versions.

    Taken once per process, at its first run or task (soon after it imported the engine),
    so it stands for the code the process has loaded, not for files edited since.
    """
    import engine

    root = Path(engine.__file__).parent
    digest = hashlib.sha256()
    for package in ENGINE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    versions = {}
    for library in NUMERIC_LIBRARIES:
        try:
            versions[library] = importlib.metadata.version(library)
        except importlib.metadata.PackageNotFoundError:
            versions[library] = "missing"
    return {
        "engine": digest.hexdigest()[:16],
        "python": ".".join(platform.python_version_tuple()[:2]),
        **versions,
        **user_strategies_fingerprint(),
    }
