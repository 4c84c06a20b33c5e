"""Plain Python compiled by numba, cached on disk under a key of everything the code runs.

numba keys a cached function to its own file only: when a function it calls from another
file changes (a rule in rules.py, a strategy's signal step), the cached copy, with the old
callee compiled into it, is still loaded. So each function compiled here is cached in a
directory named by its fingerprint: a hash of its own source and, name by name, of what it
reads -- the fingerprints of the functions it calls, the values of the constants, the
versions of the packages whose compiled functions it calls. An edit anywhere in what a
kernel runs compiles it afresh, and nothing is kept in step by hand.

The kernels are written as plain Python (the live loop runs rules.py as such) and compiled
here together with every plain function they call by name. A call through a module
attribute (``rules.stop_level``) is not followed; numba rejects it anyway.

The cache lives under ``NUMBA_CACHE_DIR`` when that is set, else beside this file in
``__pycache__/kernels`` (else in the user's cache directory); with none writable the code
is compiled afresh in each process, with a warning. numba itself is imported on the first
compilation: its import takes about a second, which ``wb --help`` and a small backtest
(run as plain Python) do not pay.
"""

from __future__ import annotations

import hashlib
import linecache
import marshal
import sys
import tempfile
import threading
import types
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numba.core.dispatcher import Dispatcher

_compiled: dict[tuple, Dispatcher] = {}
_fingerprints: dict[Dispatcher, str] = {}
_lock = threading.RLock()


def compiled(fn: Callable, *, parallel: bool = False, **bind: Callable) -> Dispatcher:
    """``fn`` compiled by numba with the plain functions it calls; one dispatcher per process.

    ``bind`` sets names the code calls to other functions (the fast sweep binds a
    strategy's signal step into its kernel this way). Compilation itself happens on the
    first call, or is loaded from the cache.
    """
    key = (fn, parallel, tuple(sorted(bind.items())))
    with _lock:
        if key not in _compiled:
            _compiled[key] = _compile(fn, parallel, bind)
        return _compiled[key]


def fingerprint(dispatcher: Dispatcher) -> str:
    """The key a dispatcher made by :func:`compiled` is cached under (a sha256 hex digest)."""
    return _fingerprints[dispatcher]


def _compile(fn: Callable, parallel: bool, bind: dict[str, Callable]) -> Dispatcher:
    import numba

    namespace = {**fn.__globals__, **bind}
    for name in _names(fn.__code__):
        # A name is also an attribute read (``result.filled``): one that names the function
        # itself is not followed (numba compiles a function that calls itself on its own).
        value = namespace.get(name)
        if isinstance(value, types.FunctionType) and value is not fn:
            namespace[name] = compiled(value)
    digest = _fingerprint(fn, namespace)
    python = types.FunctionType(
        fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__
    )
    # numba names a compiled function's environment (its constants, the dtypes of the
    # arrays it returns) by its qualified name, argument types and a number counted per
    # process. Two kernels of one source with different steps bound in, compiled in two
    # processes, could get the same name and, loaded from the cache into a third, share
    # one environment ("'descr' is NULL"). The fingerprint in the name keeps them apart.
    python.__qualname__ = f"{fn.__qualname__}__{digest[:16]}"
    python.__doc__ = fn.__doc__
    where = _cache_root()
    try:
        with _numba_cache_dir(where / digest[:24] if where else None):
            dispatcher = numba.njit(cache=where is not None, parallel=parallel)(python)
    except RuntimeError:  # numba finds no place to cache code with no source file
        dispatcher = numba.njit(parallel=parallel)(python)
    _fingerprints[dispatcher] = digest
    return dispatcher


def _names(code: types.CodeType) -> set[str]:
    """The global (and attribute) names ``code`` and the code nested in it read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _fingerprint(fn: Callable, namespace: dict) -> str:
    digest = hashlib.sha256(_source(fn).encode())
    digest.update(repr(fn.__defaults__).encode())
    for name in sorted(_names(fn.__code__)):
        if name in namespace:
            digest.update(f"\n{name}={_describe(namespace[name])}".encode())
    return digest.hexdigest()


def _source(fn: Callable) -> str:
    """The lines of ``fn``'s source its code was compiled from (cheaper than inspect's)."""
    code = fn.__code__
    lines = linecache.getlines(code.co_filename)
    if not lines:  # no source file (a function built at run time)
        return marshal.dumps(code).hex()
    return "".join(lines[code.co_firstlineno - 1 : _last_line(code)])


def _last_line(code: types.CodeType) -> int:
    last = max((line for _, _, line in code.co_lines() if line is not None), default=0)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            last = max(last, _last_line(const))
    return last


def _describe(value) -> str:
    """What of ``value`` the compiled code depends on, as text."""
    from numba.core.dispatcher import Dispatcher

    if isinstance(value, Dispatcher):
        if value in _fingerprints:
            return _fingerprints[value]
        return _qualified(value.py_func)  # a package's own compiled function: its version
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__} {_version(value.__name__)}"
    if isinstance(value, type):
        return f"{_qualified(value)} {getattr(value, '_fields', '')}"
    if isinstance(value, types.FunctionType):  # the function itself (see _compile)
        return _qualified(value)
    if isinstance(value, np.ndarray):
        return f"array {value.dtype} {value.shape} {hashlib.sha256(value.tobytes()).hexdigest()}"
    return f"{type(value).__qualname__} {value!r}"


def _qualified(thing) -> str:
    return f"{thing.__module__}.{thing.__qualname__} {_version(thing.__module__)}"


def _version(module: str) -> str:
    return str(getattr(sys.modules.get(module.partition(".")[0]), "__version__", ""))


@cache
def _cache_root() -> Path | None:
    """The first writable place for the kernels' cache, or None."""
    from numba.core import config

    if config.CACHE_DIR:
        places = [Path(config.CACHE_DIR) / "kernels"]
    else:
        places = [
            Path(__file__).resolve().parent / "__pycache__" / "kernels",
            Path.home() / ".cache" / "trading-workbench" / "kernels",
        ]
    for place in places:
        try:
            place.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=place).close()
        except OSError:
            continue
        return place
    warnings.warn(
        f"no writable place for numba's cache ({', '.join(map(str, places))}): the "
        "backtest kernels compile afresh in every process",
        stacklevel=2,
    )
    return None


@contextmanager
def _numba_cache_dir(path: Path | None):
    """numba's cache directory while a dispatcher is made (it picks its place then)."""
    from numba.core import config

    before = config.CACHE_DIR
    if path is not None:
        config.CACHE_DIR = str(path)
    try:
        yield
    finally:
        config.CACHE_DIR = before
