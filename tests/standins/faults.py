"""Faults on demand for loopback stand-ins: which requests, what goes wrong, how often.

    faults = Faults({"500", "429", "drop"}, seed=0)
    faults.add("500", method="POST", path="/v2/orders", count=2)      # the next two
    faults.add(["500", "429", "drop"], count=None, probability=1/3)    # a third, any of these
    picked = faults.pick("POST", "/v2/orders")    # (Fault, kind) or None
    faults.record("POST", "/v2/orders", kind, client_order_id)      # what was injected

The server decides what each kind means; the seeded generator makes runs repeatable.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class Fault:
    """Trouble for requests matching ``method`` and ``path`` (fnmatch patterns).

    ``kinds`` holds one kind, or several of which each firing picks one at random.
    """

    kinds: tuple[str, ...]
    method: str = "*"
    path: str = "*"
    count: int | None = 1  # how many more times; None = no limit
    probability: float = 1.0
    message: str | None = None
    code: int | None = None
    delay: float = 1.0
    retry_after: float | None = None
    reset_in: float = 1.0  # a 429's rate counter resets this many seconds from now
    fraction: float = 0.5

    def matches(self, method: str, path: str) -> bool:
        return fnmatch.fnmatchcase(method, self.method.upper()) and fnmatch.fnmatchcase(
            path, self.path
        )


@dataclass(frozen=True)
class Injected:
    method: str
    path: str
    kind: str
    client_order_id: str | None = None


class Faults:
    """The faults the server injects, first matching rule first, and a record of each."""

    def __init__(self, kinds: Iterable[str], seed: int = 0):
        self.kinds = frozenset(kinds)
        self._rules: list[Fault] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: list[Injected] = []

    def add(
        self,
        kind: str | list[str] | tuple[str, ...],
        *,
        method: str = "*",
        path: str = "*",
        count: int | None = 1,
        probability: float = 1.0,
        **options: Any,
    ) -> Fault:
        """Inject ``kind`` into the next ``count`` matching requests, each with ``probability``.

        ``kind`` may be a list: each time the fault fires, one of them is picked at random.
        """
        kinds = (kind,) if isinstance(kind, str | int) else tuple(kind)
        kinds = tuple(str(k) for k in kinds)
        unknown = [k for k in kinds if k not in self.kinds]
        if unknown or not kinds:
            raise ValueError(
                f"unknown fault kind {unknown}; kinds: {', '.join(sorted(self.kinds))}"
            )
        fault = Fault(
            kinds, method=method, path=path, count=count, probability=probability, **options
        )
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pick(self, method: str, path: str) -> tuple[Fault, str] | None:
        """The fault (and its kind this time) for a request, or None to serve it normally."""
        with self._lock:
            for fault in self._rules:
                if fault.count == 0 or not fault.matches(method, path):
                    continue
                if fault.probability < 1 and self._rng.random() >= fault.probability:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                kind = fault.kinds[0] if len(fault.kinds) == 1 else self._rng.choice(fault.kinds)
                return fault, kind
        return None

    def record(self, method: str, path: str, kind: str, client_order_id: str | None) -> None:
        with self._lock:
            self.injected.append(Injected(method, path, kind, client_order_id))

    def counts(self) -> Counter:
        """How many times each kind was injected."""
        return Counter(i.kind for i in self.injected)
