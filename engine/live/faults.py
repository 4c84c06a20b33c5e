"""Broker faults: every failed call a broker adapter retried, kept as ``broker.fault`` events.

The Alpaca adapter retries 429s, 5xx and lost answers itself and says so in its log
(``engine.brokers.alpaca``). The loop listens while it talks to the broker, so that no
fault goes unrecorded: each retried failure and each give-up becomes an event in the
step's transaction.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from engine.brokers.base import BrokerUnavailable

ADAPTER_LOG = "engine.brokers.alpaca"


class BrokerFaults:
    """The faults seen since they were last written (see :meth:`events` and :meth:`written`)."""

    def __init__(self):
        self.seen: list[dict] = []
        self._handler = _Collect(self.seen)
        self._depth = 0  # blocks open, one inside another

    @contextmanager
    def watching(self):
        """Collect the faults of the broker calls made inside this block (which may sit
        inside another: each fault and each give-up is kept once)."""
        logger = logging.getLogger(ADAPTER_LOG)
        if self._depth == 0:
            logger.addHandler(self._handler)
        self._depth += 1
        try:
            yield
        except BrokerUnavailable as exc:
            if self._depth == 1:  # the outermost block, which the give-up leaves last
                self.seen.append({"what": exc.message, "gave_up": True})
            raise
        finally:
            self._depth -= 1
            if self._depth == 0:
                logger.removeHandler(self._handler)

    def events(self) -> list[tuple[str, None, dict]]:
        """The faults not written yet, as events (written in a transaction that may retry)."""
        return [("broker.fault", None, fault) for fault in self.seen]

    def written(self, count: int) -> None:
        """Forget the first ``count`` faults: their transaction committed."""
        del self.seen[:count]


class _Collect(logging.Handler):
    def __init__(self, sink: list):
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if "failed" in record.getMessage():  # "alpaca: <what> failed (<why>); retry n of m"
            self.sink.append({"what": record.getMessage(), "gave_up": False})
