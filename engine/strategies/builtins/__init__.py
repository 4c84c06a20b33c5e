"""The built-in strategies; importing this package registers them.

Each is long-only and documents what it trades on. Their parameters are frozen models
whose validators reject combinations that make no sense (``fast >= slow``).

Each is declared in ``<name>.py`` (its params, what it trades on, its warm-up: no pandas,
so ``wb strategies`` lists them in a blink) and computed in ``signals/<name>.py``, which
the registry imports when the strategy is first used. Every module in this folder is
imported (in name order), so a new built-in needs no line here.
"""

import importlib
import pkgutil

# Every declaration module in this folder is a built-in: adding one is its file here and
# its signals module, with no list to edit (``signals`` is a package, so it is skipped).
for _module in pkgutil.iter_modules(__path__):
    if not _module.ispkg:
        importlib.import_module(f"{__name__}.{_module.name}")
