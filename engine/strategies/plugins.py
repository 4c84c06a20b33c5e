"""Users' own strategies, from outside the workbench: a folder of modules, or an installed package.

- **A folder.** Every ``*.py`` file (not starting with ``_``) in the folders named by
  ``WB_STRATEGY_PATH`` (several joined with ``os.pathsep``; ``wb --strategy-path DIR`` sets
  it) is imported as ``engine.strategies.user.<file name>``, and the strategies it
  registers with :func:`engine.strategies.register` join the built-ins.
- **A package.** An installed distribution that declares an entry point in the group
  ``trading_workbench.strategies`` (``my_strategies = "my_package.strategies"`` under
  ``[project.entry-points."trading_workbench.strategies"]``) has that module imported.

They load on the registry's first lookup, in whichever process looks (``wb``, a notebook,
the live loop, a scheduled job, a Ray worker), so each of them sees the same strategies;
children of a process inherit ``WB_STRATEGY_PATH``. A module that fails to import is one
:class:`LoadProblem` naming its file and line, reported by ``wb strategies`` and by a
failed lookup; the built-ins and the other modules still load. User strategies run under
the same guard and look-ahead check as the built-ins: nothing here treats them apart.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

#: Environment variable naming the folders of users' strategy modules.
PATH_VARIABLE = "WB_STRATEGY_PATH"
#: Entry-point group of packaged strategies.
ENTRY_POINT_GROUP = "trading_workbench.strategies"
#: The package a folder's modules are imported under (engine/strategies/user/__init__.py).
PACKAGE = "engine.strategies.user"


@dataclass(frozen=True)
class LoadProblem:
    """A strategy module that could not be loaded: where (file and line) and why."""

    source: str
    line: int | None
    error: str

    def describe(self) -> str:
        """``/home/ana/strategies/breakout.py, line 12: NameError: name 'pd' is not defined``."""
        where = self.source + (f", line {self.line}" if self.line else "")
        return f"{where}: {self.error}"


class UserStrategyWarning(UserWarning):
    """A user's strategy module could not be loaded (the others and the built-ins still are)."""


#: Module name -> where its strategies came from, for every module loaded from outside.
_ORIGINS: dict[str, str] = {}
_PROBLEMS: dict[str, LoadProblem] = {}
_LOADED_FOLDERS: list[Path] = []
_loaded_entry_points = False
_loaded_path: str | None = None
_loading = False


def strategy_folders() -> list[Path]:
    """The folders ``WB_STRATEGY_PATH`` names, absolute, in order (missing ones included)."""
    text = os.environ.get(PATH_VARIABLE, "")
    return [Path(part).expanduser().resolve() for part in text.split(os.pathsep) if part.strip()]


def load_user_strategies() -> list[LoadProblem]:
    """Import the user modules not imported yet; gives back every problem met so far.

    Cheap once everything is loaded: a folder added to ``WB_STRATEGY_PATH`` later is
    loaded on the next call.
    """
    global _loaded_entry_points, _loading, _loaded_path
    setting = os.environ.get(PATH_VARIABLE, "")
    if _loading or (_loaded_entry_points and setting == _loaded_path):
        # Nothing new to load (the common case: every lookup passes here), or a user module
        # looked a strategy up while being imported.
        return list(_PROBLEMS.values())
    _loading = True
    _loaded_path = setting
    try:
        new = [folder for folder in strategy_folders() if folder not in _LOADED_FOLDERS]
        before = len(_PROBLEMS)
        for folder in new:
            _load_folder(folder)
        if not _loaded_entry_points:
            _loaded_entry_points = True
            _load_entry_points()
        if len(_PROBLEMS) > before:
            fresh = list(_PROBLEMS.values())[before:]
            warnings.warn(
                "strategies not loaded: " + "; ".join(p.describe() for p in fresh),
                UserStrategyWarning,
                stacklevel=3,
            )
    finally:
        _loading = False
    return list(_PROBLEMS.values())


def load_problems() -> list[LoadProblem]:
    """The user modules that failed to load, each with its file, line and error."""
    return list(_PROBLEMS.values())


def origin(module: str) -> str:
    """Where the strategies of ``module`` come from: built-in, a file, a package, or a script."""
    if module in _ORIGINS:
        return _ORIGINS[module]
    if module.startswith("engine."):
        return "built-in"
    top = module.split(".")[0]
    if top in _ORIGINS:  # a module of a package an entry point loaded
        return _ORIGINS[top]
    return f"registered by {module}"


def fingerprint() -> dict[str, str]:
    """A hash of the user strategy files and packages loaded here (empty when there are none).

    Part of the Ray executor's code check: a worker must run the caller's strategies.
    """
    load_user_strategies()
    if not _ORIGINS:
        return {}
    digest = hashlib.sha256()
    for module_name, where in sorted(_ORIGINS.items()):
        digest.update(f"{module_name}={where}".encode())
        module = sys.modules.get(module_name)
        path = getattr(module, "__file__", None)
        if path and Path(path).is_file():
            digest.update(Path(path).read_bytes())
    return {"user_strategies": digest.hexdigest()[:16]}


def _load_folder(folder: Path) -> None:
    _LOADED_FOLDERS.append(folder)
    package = importlib.import_module(PACKAGE)
    if str(folder) not in package.__path__:
        package.__path__.append(str(folder))
    if not folder.is_dir():
        _PROBLEMS[str(folder)] = LoadProblem(
            str(folder), None, f"no such folder (named by {PATH_VARIABLE})"
        )
        return
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        name = f"{PACKAGE}.{path.stem}"
        loaded = sys.modules.get(name)
        if loaded is not None and Path(loaded.__file__).resolve() != path.resolve():
            _PROBLEMS[str(path)] = LoadProblem(
                str(path), None,
                f"a module named {path.stem!r} was already loaded from {loaded.__file__}; "
                "rename one of them",
            )  # fmt: skip
            continue
        _ORIGINS[name] = str(path)
        _import(name, str(path), folder)


def _load_entry_points() -> None:
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        module_name = entry.value.split(":")[0].strip()
        dist = entry.dist
        label = (
            f"package {dist.name} {dist.version} (entry point {entry.name})"
            if dist is not None
            else f"entry point {entry.name}"
        )
        _ORIGINS.setdefault(module_name, label)
        _ORIGINS.setdefault(module_name.split(".")[0], label)
        _import(module_name, f"{module_name} ({label})", None)


def _import(module_name: str, source: str, folder: Path | None) -> None:
    try:
        importlib.import_module(module_name)
    except Exception as exc:
        sys.modules.pop(module_name, None)  # a half-run module must not pass for a loaded one
        file, line = _where(exc, module_name, folder)
        _PROBLEMS[source] = LoadProblem(
            file or source, line, f"{type(exc).__name__}: {_message(exc)}"
        )


def _where(exc: BaseException, module_name: str, folder: Path | None) -> tuple[str | None, int | None]:
    """The file and line in the user's code where loading failed."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno
    try:
        spec = importlib.util.find_spec(module_name) if folder is None else None
    except (ImportError, ValueError):  # its package itself failed to import
        spec = None
    root = folder or (Path(spec.origin).parent if spec and spec.origin else None)
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if root is not None and Path(f.filename).resolve().is_relative_to(root)]
    if mine:
        return mine[-1].filename, mine[-1].lineno
    return None, None


def _message(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return exc.msg
    return str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
