"""Where a config came from, and whether the code that would trade it is the code that validated it.

    >>> provenance = record_provenance(store, bars, "sma_crossover", run_id=None)  # doctest: +SKIP
    >>> provenance.source_sha256, provenance.libraries["vectorbt"]                  # doctest: +SKIP
    ('3f1c0a9e5b7d2c44', '0.26.2')
    >>> code_drift(config)                 # None while the code is unchanged     # doctest: +SKIP

The **code** of a config is the code that computes its signals and applies its rules: the
strategy's module and every module it imports from the strategy packages (``engine.strategies``,
``engine.ml``, or the user's own package), followed through their imports, plus the rules the
backtest and the live loop share (:data:`RULE_MODULES`). Each module is hashed by its syntax
tree without docstrings, so a comment, a docstring or a reformat is not a change, and a
changed line of logic is. A validation records every module's hash; at start-up the live loop
compares them with today's (:func:`code_drift`) and names the modules that changed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

from engine.config.models import Provenance, StrategyConfig, canonical_json

#: The rules the backtest and the live loop share: sizing, stops, exits (engine/backtest).
RULE_MODULES = ("engine.backtest.rules", "engine.backtest.stops")
#: Packages whose modules count as a strategy's signal code when it imports them.
SIGNAL_PACKAGES = ("engine.strategies", "engine.ml")
#: Infrastructure in those packages that does not shape a signal.
NOT_SIGNAL_CODE = ("engine.strategies.registry", "engine.strategies.lookahead")
#: Libraries whose versions can change a result.
LIBRARIES = ("vectorbt", "numba", "pandas", "numpy", "scikit-learn", "scipy")
_UNREADABLE = "unreadable"


@dataclass(frozen=True)
class CodeDrift:
    """A config whose code changed since it was validated: what changed, and whether it may trade."""

    config_id: str
    changed: list[str]
    added: list[str]
    removed: list[str]
    #: The validation policy asked for re-validation when the code changes.
    refuse: bool
    unknown: bool = False  # validated before provenance was recorded
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """One line for the alert: which config, which modules, and what follows."""
        if self.unknown:
            what = "was validated before its code was recorded, so a change cannot be ruled out"
        else:
            parts = [
                f"{label} {', '.join(names)}"
                for label, names in (
                    ("changed:", self.changed),
                    ("new:", self.added),
                    ("gone:", self.removed),
                )
                if names
            ]
            what = (
                "trades on code that differs from the code it was validated on ("
                + "; ".join(parts)
                + ")"
            )
        then = (
            "its validation policy requires re-validation: it will not trade until wb validate "
            "proposes it again"
            if self.refuse
            else "re-validate it (wb validate) to trade on evidence from this code"
        )
        return f"config {self.config_id} {what}: {then}"


def code_fingerprint(strategy) -> tuple[str, dict[str, str]]:
    """(one hash over all, each module's hash) of the code behind ``strategy``'s signals and rules."""
    from engine.strategies import get

    strategy = get(strategy)
    roots = {
        fn.__module__
        for fn in (strategy.signal_fn, strategy.grid_fn, strategy.array_fn, strategy.warmup)
        if fn is not None and getattr(fn, "__module__", None)
    }
    sources = {name: _module_hash(name) for name in sorted(_closure(roots) | set(RULE_MODULES))}
    return _sha256(canonical_json(sources)), sources


def bars_sha256(bars) -> str:
    """The hash of exactly these bars: dates, symbols and every OHLCV value (NaN as one value)."""
    digest = hashlib.sha256()
    digest.update(np.asarray(bars.index.asi8, dtype=np.int64).tobytes())
    digest.update("\x1f".join(map(str, bars.symbols)).encode())
    digest.update(str(bars.freq).encode())
    for name in ("open", "high", "low", "close", "volume"):
        values = np.ascontiguousarray(getattr(bars, name).to_numpy(dtype=np.float64))
        digest.update(np.where(np.isnan(values), np.nan, values).tobytes())
    return digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries that shape a result, and Python's (None: not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def engine_version() -> str:
    """The installed workbench's version (``unknown`` when run from a bare checkout)."""
    try:
        return metadata.version("trading-workbench")
    except metadata.PackageNotFoundError:
        return "unknown"


def record_provenance(
    store, bars, strategy, *, run_id: str | None = None, artifacts: dict[str, str] | None = None
) -> Provenance:
    """The provenance of a config validated now on ``bars``: data, code, libraries, notebook run."""
    source, sources = code_fingerprint(strategy)
    notebook = executed = None
    if run_id is not None and store is not None:
        row = store.query(
            "SELECT notebook, output_path FROM research_runs WHERE run_id = ?", [run_id]
        )
        if not row.empty:
            notebook, executed = row.iloc[0]["notebook"], row.iloc[0]["output_path"]
    return Provenance(
        bars_sha256=bars_sha256(bars),
        engine_version=engine_version(),
        source_sha256=source,
        sources=sources,
        libraries=library_versions(),
        run_id=run_id,
        notebook=notebook,
        executed_notebook=executed,
        artifacts=dict(artifacts or {}),
    )


def code_drift(config: StrategyConfig) -> CodeDrift | None:
    """How the code that would trade ``config`` now differs from the code it was validated on.

    None when nothing changed; a drift marked ``unknown`` when the config's evidence has no
    provenance (validated before it was recorded). ``refuse`` is the policy's say.
    """
    evidence = config.evidence
    policy = (evidence.policy or {}) if evidence else {}
    refuse = bool(policy.get("revalidate_on_code_change", False))
    provenance = evidence.provenance if evidence else None
    if provenance is None:
        return CodeDrift(config.config_id, [], [], [], refuse=refuse, unknown=True)
    source, sources = code_fingerprint(config.strategy)
    if source == provenance.source_sha256:
        return None
    then = provenance.sources
    return CodeDrift(
        config.config_id,
        changed=sorted(n for n in sources if n in then and then[n] != sources[n]),
        added=sorted(n for n in sources if n not in then),
        removed=sorted(n for n in then if n not in sources),
        refuse=refuse,
        details={"validated_source": provenance.source_sha256, "current_source": source},
    )


# -- the code ----------------------------------------------------------------------------


def _closure(roots: set[str]) -> set[str]:
    """``roots`` and the modules they import (anywhere in them) from the signal packages."""
    seen: set[str] = set()
    todo = sorted(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = _tree(name)
        if tree is None:
            continue
        for imported in _imports(tree, name):
            if imported not in seen and _signal_code(imported, roots) and _is_module(imported):
                todo.append(imported)
    return seen


def _signal_code(name: str, roots: set[str]) -> bool:
    if name in NOT_SIGNAL_CODE or name.split(".")[:2] == ["engine", "cli"]:
        return False
    if name.startswith(tuple(f"{p}." for p in SIGNAL_PACKAGES)) or name in SIGNAL_PACKAGES:
        return True
    # A user's strategy: the modules of its own top-level package (outside the engine).
    tops = {root.split(".")[0] for root in roots if not root.startswith("engine")}
    return name.split(".")[0] in tops


def _imports(tree: ast.AST, module: str) -> set[str]:
    """Names ``module`` imports, anywhere in it, with the names it imports from them (some of
    which are modules: ``from engine.ml import training``)."""
    found: set[str] = set()
    package = module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1] if node.level > 1 else parts
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name}


def _is_module(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError, AttributeError):
        return False


def _tree(name: str) -> ast.Module | None:
    path = _source_file(name)
    if path is None:
        return None
    with open(path, encoding="utf-8") as handle:
        return ast.parse(handle.read())


def _source_file(name: str) -> str | None:
    """The .py file of module ``name``: as loaded (a user's strategy may be loaded from a path
    no import finds), else as an import would find it."""
    loaded = getattr(sys.modules.get(name), "__file__", None)
    if loaded:
        return loaded if loaded.endswith(".py") else None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return spec.origin


def _module_hash(name: str) -> str:
    """The hash of the module's syntax tree with docstrings dropped (comments never reach it)."""
    tree = _tree(name)
    if tree is None:
        return _UNREADABLE
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return _sha256(ast.dump(tree))[:16]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
