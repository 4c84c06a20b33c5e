"""Errors that say what the caller should do.

Every error the workbench raises on purpose is a :class:`WorkbenchError`. Its class tells
the caller how to react, and its ``hint`` tells a person what to do next:

- :class:`InputError` -- the input is wrong (a config, a CSV, a ticker, a parameter):
  fix it and try again. Retrying unchanged will fail the same way.
- :class:`TemporaryError` -- something outside us is busy or unreachable (the store's
  lock, the network, a broker's rate limit): retry later, unchanged.
- :class:`OperatorError` -- the system is in a state it must not trade through (a
  reconciliation mismatch, a damaged store file): stop and call a person.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base of every deliberate workbench error; ``hint`` says what to do about it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(WorkbenchError, ValueError):
    """The caller's input is wrong: fix it, then try again."""

    exit_code = 2


class NotFoundError(InputError, LookupError):
    """A named thing (symbol, config, run, job) does not exist."""


class DataQualityError(InputError):
    """Bars failed the quality checks under a policy that rejects them."""

    def __init__(self, message: str, *, report=None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.report = report


class TemporaryError(WorkbenchError):
    """Something outside us is busy or unreachable: retry later, unchanged."""

    exit_code = 75  # EX_TEMPFAIL from sysexits.h, which cron wrappers understand


class StoreBusyError(TemporaryError):
    """The store stayed locked by other processes for longer than we wait."""


class NetworkError(TemporaryError):
    """A remote service (Yahoo, Alpaca, a webhook) could not be reached."""


class OperatorError(WorkbenchError):
    """The system must not continue on its own: stop and call a person."""

    exit_code = 70  # EX_SOFTWARE


class StoreDamagedError(OperatorError):
    """The store's file is damaged (a failed checksum, a short file): restore it from a backup."""
