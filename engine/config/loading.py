"""Reading YAML into frozen models, with errors that name the field and say what to fix.

A config or policy file is written by a person; a typo in it must never be silently
ignored (a misspelled ``max_drawdwon`` would otherwise leave the default in force). Every
problem becomes one :class:`~engine.errors.InputError` that lists each bad field, what is
wrong with it, and for an unknown name the closest known one.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from engine.errors import InputError, NotFoundError

M = TypeVar("M", bound=pydantic.BaseModel)


#: What a file that is empty or not a mapping is told, when its reader says nothing better.
MAPPING_HINT = "start from an exported file (wb configs show ID) and edit its values"


def parse_yaml_mapping(text: str, *, source: str, needs: str = MAPPING_HINT) -> dict[str, Any]:
    """The top-level mapping of a YAML document; an InputError if it is not valid YAML or not a mapping.

    ``needs`` is the hint for an empty file or one that is not a mapping: what this kind of
    file should hold.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(
            f"{source} is not valid YAML{where}: {problem}",
            hint="fix the syntax there (indent with spaces, `key: value` per line)",
        ) from exc
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise InputError(
            f"{source} must hold a mapping of `field: value` lines, but it is {kind}",
            hint=needs,
        )
    return data


def read_text(path: str | Path, *, what: str) -> str:
    """The text of ``path``; a NotFoundError naming ``what`` it should have been."""
    path = Path(path)
    try:
        return path.read_text()
    except FileNotFoundError as exc:
        raise NotFoundError(f"no {what} file at {path}", hint="check the path") from exc
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read the {what} file {path}: {exc}", hint="pass a readable YAML file"
        ) from exc


def validate_model(model: type[M], data: dict[str, Any], *, source: str) -> M:
    """``model`` built from ``data``; every validation problem turned into one clear InputError."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [describe_error(model, err) for err in exc.errors()]
        raise InputError(
            f"{source} has {len(problems)} problem{'s' if len(problems) > 1 else ''}: "
            + "; ".join(problems),
            hint="fix the fields named above and load it again",
        ) from exc


def describe_error(model: type[pydantic.BaseModel], err: dict[str, Any]) -> str:
    """One pydantic error as a sentence naming the field and what to do about it."""
    loc = tuple(err["loc"])
    where = ".".join(str(p) for p in loc) or "the file"
    kind = err["type"]
    if kind == "extra_forbidden":
        known = field_names_at(model, loc[:-1])
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        advice = f"did you mean {guess[0]!r}?" if guess else "remove it"
        listing = f" (known fields here: {', '.join(known)})" if known else ""
        return f"unknown field {where!r}: {advice}{listing}"
    if kind == "missing":
        return f"missing field {where!r}: add it"
    message = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return f"field {where!r}: {message}"


def field_names_at(model: type[pydantic.BaseModel], loc: tuple) -> list[str]:
    """The field names a model accepts at ``loc`` (nested models and lists followed)."""
    current: Any = model
    for part in loc:
        current = _model_in(current)
        if current is None:
            return []
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return []
        current = field.annotation
        if _model_in(current) is None:
            # a list of models: the next loc part is an index, then a field of the model
            for arg in typing.get_args(current):
                if _model_in(arg) is not None:
                    current = arg
                    break
    current = _model_in(current)
    return list(current.model_fields) if current is not None else []


def _model_in(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The model class in ``annotation`` (itself, or inside Optional / a union)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
