"""What a distributed run reports when some of its tasks could not finish."""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from engine.errors import TemporaryError, WorkbenchError

#: Failed tasks named one by one in the message; the rest are counted.
SHOWN = 10


@dataclass(frozen=True)
class TaskFailure:
    """A task that did not finish: its label, why, and whether its worker was lost.

    ``lost`` is True when the worker or its node died (again and again, past the retries),
    False when the task's own code raised (the same chunk fails the same way locally).
    """

    label: str
    reason: str
    lost: bool
    error: BaseException | None = None


class RemoteTaskError(Exception):
    """An error a task raised on a worker, carried back as text so that any exception can travel.

    ``kind`` is the original class name, ``message`` and ``hint`` its words (a
    WorkbenchError's hint, or None), ``remote_traceback`` where it was raised.
    """

    def __init__(self, kind: str, message: str, hint: str | None, remote_traceback: str):
        super().__init__(kind, message, hint, remote_traceback)  # all in args: it unpickles
        self.kind, self.message, self.hint = kind, message, hint
        self.remote_traceback = remote_traceback

    @classmethod
    def of(cls, exc: BaseException) -> RemoteTaskError:
        """``exc`` (being handled on the worker) as text."""
        return cls(
            type(exc).__name__,
            getattr(exc, "message", None) or str(exc),
            getattr(exc, "hint", None),
            "".join(traceback.format_exception(exc)),
        )

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}\n-- raised on the worker --\n{self.remote_traceback}"


class IncompleteRunError(WorkbenchError):
    """Some tasks of a sweep or walk-forward failed after their retries; no result was returned.

    ``failures`` lists every failed task. When every failure is a lost worker, the exit
    code is the temporary one (75): the same run can succeed once the cluster is healthy.
    """

    def __init__(self, failures: list[TaskFailure], *, total: int, what: str):
        self.failures = failures
        message = (
            f"{what} did not finish: {len(failures)} of {total} tasks failed "
            f"({_listed(failures)}); no result was kept"
        )
        hints = {getattr(f.error, "hint", None) for f in failures}
        if all(f.lost for f in failures):
            self.exit_code = TemporaryError.exit_code
            hint = (
                "workers died and stayed dead past their retries (out of memory, a node "
                "lost): check the cluster with `ray status`, then run it again"
            )
        elif len(hints) == 1 and None not in hints:  # one deliberate error said what to do
            hint = hints.pop()
        else:
            hint = (
                "the task's own code raised, so it fails the same way in this process: run "
                "the same call with executor='local' (wb ... --debug) to see the traceback"
            )
        super().__init__(message, hint=hint)


def _listed(failures: list[TaskFailure]) -> str:
    """``"label, label: reason; label: reason"``: each reason once, after the tasks it stopped."""
    by_reason: dict[str, list[str]] = {}
    for failure in failures:
        by_reason.setdefault(failure.reason, []).append(failure.label)
    parts, shown = [], 0
    for reason, labels in by_reason.items():
        named = labels[: max(1, SHOWN - shown)]
        shown += len(named)
        more = f" and {len(labels) - len(named)} more" if len(labels) > len(named) else ""
        parts.append(f"{', '.join(named)}{more}: {reason}")
    return "; ".join(parts)
