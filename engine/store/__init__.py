"""The DuckDB store shared by the control room, the live loop, jobs and notebooks.

DuckDB lets one process at a time open a database file for writing, so every read and
write opens a connection, does one short piece of work and closes it. When another
process holds the file, we wait with backoff and try again; a user only ever sees
:class:`~engine.errors.StoreBusyError` if the store stays locked for longer than
``busy_timeout`` seconds. A replay, and a step on the paper broker, hold the file open
instead (:meth:`Store.hold`: opening it for every statement would cost more than the
step), and give way between steps to any process that waits.
"""

from engine.store.db import Store
from engine.store.events import append_event, read_events

__all__ = ["Store", "append_event", "read_events"]
