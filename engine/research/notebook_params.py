"""A notebook's parameters, and the check that a run's values fit them before a kernel starts.

A notebook declares its parameters in its first cell tagged ``parameters``, as papermill
reads them (``papermill.inspect_notebook``)::

    strategy = "sma_crossover"        # a registered strategy
    symbols = ["AAPL", "GE"]
    folds: int = 4
    start: Optional[str] = None       # annotate optional values as Optional[X]

Each parameter's type comes from its annotation, else from its default (``5`` is an int,
``[...]`` a list, ``None`` anything). A run's values must have that type (an int where a
float is declared is fine). Parameters with a trading meaning are also checked for that
meaning, whichever notebook declares them: ``strategy`` must be registered, ``start``,
``end`` and ``date`` must be dates, ``symbols`` must name at least one ticker,
``executor`` must be one the engine has (``local`` or ``ray``, with Ray installed),
``folds`` must be 1 or more, a ``grid`` must be within the sweep's combination limit and
``bar_size`` must be one the workbench knows (1m, 5m, 15m, 30m, 1h, 1d).
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml

from engine.errors import InputError, NotFoundError

#: Parameters the workbench sets itself on every run, when the notebook declares them.
INJECTED = ("data_dir", "run_id")

_SIMPLE_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "list": (list, tuple),
    "dict": (dict,),
}


@dataclass(frozen=True)
class NotebookParameter:
    """One parameter of a notebook: its name, type (``any`` when unknown), default and help."""

    name: str
    type: str
    nullable: bool
    default: str  # as written in the notebook
    help: str = ""

    def describe_type(self) -> str:
        return f"{self.type} or None" if self.nullable and self.type != "any" else self.type


def notebook_parameters(path: str | Path) -> list[NotebookParameter]:
    """The parameters declared by the notebook at ``path``, in the order they are written.

    Names come from papermill's inspection; an annotated assignment it cannot read
    (``x: str | None = None``) is still found from the cell's syntax.
    """
    import papermill

    path = existing_notebook(path)
    try:
        inspected = papermill.inspect_notebook(str(path))
    except (ValueError, nbformat.ValidationError) as exc:  # not JSON, or not a notebook's
        raise InputError(
            f"{path} is not a readable notebook: {exc}", hint="pass a notebook saved by JupyterLab"
        ) from exc
    declared = _assignments_in_parameters_cell(path)
    found: dict[str, NotebookParameter] = {}
    for name, info in inspected.items():
        annotation = info["inferred_type_name"]
        annotation = None if annotation == "None" else annotation
        annotation = annotation or declared.get(name, (None, None))[0]
        found[name] = _parameter(name, annotation, info["default"], info["help"])
    for name, (annotation, default) in declared.items():
        if name not in found:
            found[name] = _parameter(name, annotation, default, "")
    order = list(declared) + [n for n in found if n not in declared]
    return [found[name] for name in order if name in found]


def existing_notebook(path: str | Path) -> Path:
    """``path`` resolved, if it is a notebook file; a NotFoundError naming what is nearby if not."""
    path = Path(path).expanduser()
    if path.suffix != ".ipynb":
        raise InputError(
            f"{path} is not a notebook (.ipynb)",
            hint="pass the notebook file, e.g. notebooks/daily_report.ipynb",
        )
    if not path.is_file():
        nearby = sorted(p.name for p in path.parent.glob("*.ipynb")) if path.parent.is_dir() else []
        raise NotFoundError(
            f"no notebook at {path}",
            hint=f"notebooks in {path.parent}: {', '.join(nearby)}" if nearby else "check the path",
        )
    return path.resolve()


def parse_cli_value(parameter: NotebookParameter | None, text: str) -> Any:
    """The value a command-line ``-p name TEXT`` stands for.

    Text for a ``str`` parameter is kept as typed (so ``-p label 2024`` stays a string);
    otherwise it is read as a YAML scalar or flow collection, as papermill's ``-y`` does:
    ``10`` -> 10, ``0.5`` -> 0.5, ``true`` -> True, ``null`` -> None, ``[AAPL, GE]`` ->
    a list. Dates stay strings, and so do ``yes``/``no``/``on``/``off`` (tickers like ON).
    Text that is not valid YAML is kept as a string for the type check to report.
    """
    if parameter is not None and parameter.type == "str":
        return None if (parameter.nullable and text in ("None", "null")) else text
    if text == "None":  # papermill's -p spelling
        return None
    try:
        return yaml.load(text, Loader=_CliLoader)
    except yaml.YAMLError:
        return text


def parse_cli_parameters(notebook: str | Path, pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``-p NAME TEXT`` pairs as values, each read by its parameter's type (see parse_cli_value).

    Never raises: a notebook that cannot be read leaves every value read as YAML, and the
    run that follows reports the notebook's problem.
    """
    pairs = list(pairs)
    try:
        declared = {p.name: p for p in notebook_parameters(notebook)} if pairs else {}
    except (InputError, ValueError, nbformat.ValidationError):
        declared = {}
    return {name: parse_cli_value(declared.get(name), text) for name, text in pairs}


def check_parameters(
    parameters: dict[str, Any], declared: Iterable[NotebookParameter], *, notebook: str
) -> None:
    """Nothing if every value fits the notebook's parameters; one InputError naming each problem.

    Unknown names are refused with the closest valid name and the list of valid ones;
    values of the wrong type or trading meaning are refused with what was expected.
    """
    declared = {p.name: p for p in declared}
    settable = [name for name in declared if name not in INJECTED]
    problems: list[str] = []
    for name, value in parameters.items():
        if name in INJECTED:
            problems.append(f"{name!r} is set by the workbench for every run; do not pass it")
            continue
        parameter = declared.get(name)
        if parameter is None:
            guess = difflib.get_close_matches(name, settable, n=1, cutoff=0.6)
            problems.append(
                f"unknown parameter {name!r}" + (f" (did you mean {guess[0]!r}?)" if guess else "")
            )
            continue
        problem = _type_problem(parameter, value) or _meaning_problem(name, value)
        if problem:
            problems.append(problem)
    if problems:
        raise InputError(
            f"{notebook}: " + "; ".join(problems),
            hint=(
                f"valid parameters: {', '.join(settable) or 'none'}"
                f" (see them with: wb research params {notebook})"
            ),
        )


# -- types ----------------------------------------------------------------------------


def _parameter(name: str, annotation: str | None, default: str, help: str) -> NotebookParameter:
    type_name, nullable = _type_of_annotation(annotation) if annotation else ("any", True)
    if type_name == "any" and annotation is None:
        type_name, nullable = _type_of_default(default)
    return NotebookParameter(name, type_name, nullable, default, help)


def _type_of_annotation(annotation: str) -> tuple[str, bool]:
    """``"Optional[int]"`` -> ("int", True); ``"list[str]"`` -> ("list", False); unknown -> any."""
    try:
        node = ast.parse(annotation, mode="eval").body
    except SyntaxError:
        return "any", True
    members = _union_members(node)
    nullable = any(_is_none(m) for m in members)
    kinds = {_base_name(m) for m in members if not _is_none(m)}
    if len(kinds) == 1 and (kind := kinds.pop()) in _SIMPLE_TYPES:
        return kind, nullable
    return "any", True


def _union_members(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union_members(node.left) + _union_members(node.right)
    if isinstance(node, ast.Subscript) and _base_name(node) in ("Optional", "Union"):
        inner = node.slice
        items = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        members = [m for item in items for m in _union_members(item)]
        return members + ([ast.Constant(None)] if _base_name(node) == "Optional" else [])
    return [node]


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute):  # typing.List
        return node.attr.lower()
    if isinstance(node, ast.Name):
        return {"List": "list", "Dict": "dict", "Tuple": "list", "tuple": "list"}.get(
            node.id, node.id
        )
    return None


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _type_of_default(default: str) -> tuple[str, bool]:
    """The type a default's literal implies; ``None`` or an expression -> any."""
    try:
        value = ast.literal_eval(default)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return "any", True
    if value is None:
        return "any", True
    for name, types in _SIMPLE_TYPES.items():
        if type(value) in types and not (name == "float" and type(value) is int):
            return name, False
    return "any", True


def _type_problem(parameter: NotebookParameter, value: Any) -> str | None:
    if parameter.type == "any" or (value is None and parameter.nullable):
        return None
    types = _SIMPLE_TYPES[parameter.type]
    if isinstance(value, types) and not (isinstance(value, bool) and parameter.type != "bool"):
        return None
    example = {"list": "[AAPL, GE]", "dict": "{fast: [5, 10]}", "bool": "true"}.get(parameter.type)
    advice = f", e.g. {example}" if example else ""
    return (
        f"{parameter.name!r} takes {parameter.describe_type()} (default {parameter.default}),"
        f" not {value!r} ({type(value).__name__}){advice}"
    )


# -- trading meaning ------------------------------------------------------------------


def _check_strategy(value: Any) -> str | None:
    from engine import strategies

    try:
        strategies.get(value)
    except NotFoundError as exc:
        return f"{exc.message} (known: {', '.join(strategies.names())})"
    return None


def _check_date(value: Any) -> str | None:
    if value is None:
        return None
    try:
        from datetime import date

        date.fromisoformat(str(value))
    except ValueError:
        return f"{value!r} is not a date; write it as YYYY-MM-DD"
    return None


def _check_symbols(value: Any) -> str | None:
    tickers = value.split(",") if isinstance(value, str) else value
    if not tickers or not all(isinstance(t, str) and t.strip() for t in tickers):
        return f"{value!r} names no tickers; give a list such as [AAPL, GE]"
    return None


def _check_executor(value: Any) -> str | None:
    import importlib.util

    from engine.executors import EXECUTORS
    from engine.executors.ray_cluster import PIP_INSTALL

    if value not in EXECUTORS:
        return f"{value!r} is not an executor; use {' or '.join(EXECUTORS)}"
    if value == "ray" and importlib.util.find_spec("ray") is None:  # found without importing it
        return f"the Ray executor needs Ray, which is not installed: {PIP_INSTALL}"
    return None


def _check_folds(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value < 1:
        return f"{value} is not a number of walk-forward folds; give a whole number, 1 or more"
    return None


def _check_grid(value: Any) -> str | None:
    from engine.backtest.grids import check_grid_size

    if not isinstance(value, dict):
        return f"{value!r} is not a grid; give each parameter its values, e.g. {{fast: [5, 10]}}"
    try:
        check_grid_size(value)
    except InputError as exc:
        return exc.message
    return None


def _check_bar_size(value: Any) -> str | None:
    from engine.data.bar_sizes import check_bar_size

    try:
        check_bar_size(value)
    except InputError as exc:
        return f"{exc.message}; {exc.hint}"
    return None


#: Checks of what a value means, applied to the parameter of that name in any notebook.
MEANING_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "strategy": _check_strategy,
    "start": _check_date,
    "end": _check_date,
    "date": _check_date,
    "symbols": _check_symbols,
    "executor": _check_executor,
    "folds": _check_folds,
    "grid": _check_grid,
    "bar_size": _check_bar_size,
}


def _meaning_problem(name: str, value: Any) -> str | None:
    check = MEANING_CHECKS.get(name)
    problem = check(value) if check else None
    return f"{name!r}: {problem}" if problem else None


# -- reading the cell -----------------------------------------------------------------


def _assignments_in_parameters_cell(path: Path) -> dict[str, tuple[str | None, str]]:
    """name -> (annotation, default source) for each top-level assignment of the cell."""
    notebook = nbformat.read(str(path), as_version=4)
    cell = next(
        (c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None
    )
    if cell is None:
        return {}
    try:
        tree = ast.parse(cell.source)
    except SyntaxError:
        return {}
    found: dict[str, tuple[str | None, str]] = {}
    for statement in tree.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            default = ast.unparse(statement.value) if statement.value else "None"
            found[statement.target.id] = (ast.unparse(statement.annotation), default)
        elif isinstance(statement, ast.Assign):
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = (None, ast.unparse(statement.value))
    return found


class _CliLoader(yaml.SafeLoader):
    """YAML 1.2-like scalars: no dates, and only true/false are booleans."""


_CliLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regex)
        for tag, regex in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CliLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
