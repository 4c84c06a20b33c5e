"""The strategies by name: register one, look one up, and build its parameters from user input.

>>> from engine import strategies
>>> sma = strategies.get("sma_crossover")
>>> strategies.make_params(sma, {"fast": "10", "slow": "30"})
SmaCrossoverParams(fast=10, slow=30)
"""

from __future__ import annotations

import difflib
import importlib
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any, get_args

import pydantic

from engine.errors import InputError, NotFoundError
from engine.strategies.base import (
    ArrayFn,
    Declaration,
    FastPath,
    SignalFn,
    Signals,
    SignalsKnown,
    Strategy,
    StrategyParams,
)
from engine.strategies.plugins import load_user_strategies
from engine.strategies.plugins import origin as plugin_origin

_STRATEGIES: dict[str, Strategy] = {}
#: Strategies declared with their code elsewhere (:func:`declare`), by name.
_DECLARED: dict[str, Declaration] = {}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def register(
    name: str,
    params: type[StrategyParams],
    summary: str,
    warmup: Callable[[StrategyParams], int] = lambda p: 0,
    grid_fn: Callable[[Any, list[StrategyParams]], Signals] | None = None,
    signals_known: SignalsKnown = "at_close",
    fast: FastPath | None = None,
) -> Callable[[SignalFn], SignalFn]:
    """A decorator that registers a signal function under ``name``; gives the function back.

    ``params`` is the strategy's frozen params model, ``summary`` one sentence saying what
    it trades on, ``warmup(params)`` the number of bars it needs before its first
    meaningful signal, ``grid_fn`` an optional vectorized version for many params sets,
    ``fast`` its optional form for the fast sweep (see :class:`~engine.strategies.base.FastPath`).
    ``signals_known`` says when a bar's signal is known: ``"at_close"`` (it reads that
    bar's close: it fills at the next open) or ``"before_close"`` (it reads earlier bars
    only, so it may also fill at that bar's close, ``execution="close"``).
    """
    _check_declaration(name, params, signals_known)

    def decorate(signal_fn: SignalFn) -> SignalFn:
        declared = _DECLARED.get(name)
        existing = _STRATEGIES.get(name)
        # Re-running a module (autoreload in a notebook) re-registers the same function.
        if declared is not None or (
            existing is not None and _qualified(existing.signal_fn) != _qualified(signal_fn)
        ):
            by = declared.module if declared else _qualified(existing.signal_fn)
            raise ValueError(f"strategy {name!r} is already registered by {by}")
        what = Declaration(name, params, summary, warmup, signals_known, signal_fn.__module__)
        _STRATEGIES[name] = _strategy(what, signal_fn, grid_fn=grid_fn, fast=fast)
        return signal_fn

    return decorate


def declare(
    name: str,
    params: type[StrategyParams],
    summary: str,
    *,
    code: str,
    warmup: Callable[[StrategyParams], int] = lambda p: 0,
    signals_known: SignalsKnown = "at_close",
) -> None:
    """Declare a strategy whose signal functions live in the module ``code``, imported on first use.

    The arguments are :func:`register`'s; ``code`` names the module whose signal function
    :func:`implements` the strategy. Listing strategies and checking params read the
    declaration alone, so ``wb strategies`` does not import pandas; :func:`get` imports
    ``code`` (Python's import lock runs it once, whichever threads ask).
    """
    _check_declaration(name, params, signals_known)
    module = sys._getframe(1).f_globals.get("__name__", "?")  # the caller's, as namedtuple does
    existing = _STRATEGIES.get(name)
    declared = _DECLARED.get(name)
    if (existing is not None and existing.signal_fn.__module__ != code) or (
        declared is not None and declared.module != module
    ):
        by = declared.module if declared else _qualified(existing.signal_fn)
        raise ValueError(f"strategy {name!r} is already registered by {by}")
    _DECLARED[name] = Declaration(name, params, summary, warmup, signals_known, module, code)


def implements(
    name: str,
    grid_fn: Callable[[Any, list[StrategyParams]], Signals] | None = None,
    fast: FastPath | None = None,
    arrays: ArrayFn | None = None,
) -> Callable[[SignalFn], SignalFn]:
    """A decorator that gives the strategy :func:`declare` declared as ``name`` its signal
    function (with its optional ``grid_fn``, ``fast`` path and ``arrays`` form); gives the
    function back."""
    declared = _DECLARED[name]

    def decorate(signal_fn: SignalFn) -> SignalFn:
        _STRATEGIES[name] = _strategy(declared, signal_fn, grid_fn=grid_fn, fast=fast, arrays=arrays)
        return signal_fn

    return decorate


def _strategy(
    declared: Declaration,
    signal_fn: SignalFn,
    *,
    grid_fn: Callable[[Any, list[StrategyParams]], Signals] | None = None,
    fast: FastPath | None = None,
    arrays: ArrayFn | None = None,
) -> Strategy:
    """The registered strategy: what ``declared`` says of it, with its signal function (and
    its optional vectorized, fast-sweep and array forms)."""
    return Strategy(
        name=declared.name,
        params=declared.params,
        signal_fn=signal_fn,
        summary=declared.summary,
        warmup=declared.warmup,
        grid_fn=grid_fn,
        signals_known=declared.signals_known,
        fast=fast,
        array_fn=arrays,
    )


def _check_declaration(name: str, params: type[StrategyParams], signals_known: str) -> None:
    if signals_known not in get_args(SignalsKnown):
        raise ValueError(
            f"strategy {name!r}: signals_known must be one of {get_args(SignalsKnown)}, "
            f"not {signals_known!r}"
        )
    if not _NAME.match(name):
        raise ValueError(f"strategy name {name!r} must be lower_snake_case")
    if not (isinstance(params, type) and issubclass(params, StrategyParams)):
        raise TypeError(f"strategy {name!r}: params must subclass StrategyParams")
    if "symbol" in params.model_fields:
        # Sweep columns are (params fields..., "symbol"): a field of that name would clash.
        raise ValueError(f"strategy {name!r}: a parameter may not be called 'symbol'")


def check_execution(strategy: str | Strategy, execution: str) -> None:
    """Raise an InputError when ``execution`` would fill a signal at the close it was computed from.

    ``execution="close"`` fills bar t's signal at bar t's close: only a strategy whose
    signals are known before that close (``signals_known="before_close"``) can trade so
    without looking ahead.
    """
    strategy = get(strategy)
    if execution == "close" and strategy.signals_known != "before_close":
        raise InputError(
            f"{strategy.name} computes a bar's signal from that bar's close, so it cannot also "
            "fill at that close (execution=close would trade on a price it had not seen yet)",
            hint="use --execution next_open (the default), or register a strategy whose signals "
            "use earlier bars only with signals_known='before_close'",
        )


def _qualified(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def names() -> list[str]:
    """The registered strategy names, sorted: the built-ins and the users' (see plugins)."""
    load_user_strategies()
    return sorted(_STRATEGIES.keys() | _DECLARED.keys())


def get(name: str | Strategy) -> Strategy:
    """The strategy registered as ``name`` (a Strategy is passed through unchanged)."""
    if isinstance(name, Strategy):
        return name
    problems = load_user_strategies()
    if name not in _STRATEGIES and name in _DECLARED:
        importlib.import_module(_DECLARED[name].code)  # it implements the declaration
        if name not in _STRATEGIES:
            raise RuntimeError(f"{_DECLARED[name].code} does not implement strategy {name!r}")
    try:
        return _STRATEGIES[name]
    except KeyError:
        broken = "".join(f"; {p.describe()}" for p in problems)
        raise NotFoundError(
            f"unknown strategy {name!r}{_did_you_mean(str(name), names())}",
            hint=f"known strategies: {', '.join(names())}"
            + (f"; these strategy modules failed to load{broken}" if broken else ""),
        ) from None


def about(strategy: str | Strategy | Declaration) -> Declaration:
    """What ``strategy`` is (name, params, summary, ...), without importing its signal code."""
    if isinstance(strategy, Declaration):
        return strategy
    if isinstance(strategy, str) and strategy in _DECLARED:
        return _DECLARED[strategy]
    found = get(strategy)
    return Declaration(
        found.name, found.params, found.summary, found.warmup, found.signals_known,
        found.signal_fn.__module__,
    )  # fmt: skip


def origin(strategy: str | Strategy | Declaration) -> str:
    """Where a strategy comes from: "built-in", its file, its package, or the module that registered it."""
    return plugin_origin(about(strategy).module)


def make_params(strategy: str | Strategy, values: Mapping[str, Any] | StrategyParams | None = None):
    """The strategy's params model built from ``values`` (strings from the CLI are coerced).

    Unknown names get a "did you mean" hint; values the model rejects (``fast >= slow``)
    become one :class:`InputError` naming the strategy and every problem.
    """
    strategy = about(strategy)
    model = strategy.params
    if isinstance(values, model):
        return values
    if isinstance(values, StrategyParams):
        raise InputError(
            f"{strategy.name} takes {model.__name__}, not {type(values).__name__}",
            hint=f"build them with make_params({strategy.name!r}, {{...}})",
        )
    values = dict(values or {})
    known = list(model.model_fields)
    unknown = [key for key in values if key not in model.model_fields]
    if unknown:
        problems = [f"{key!r}{_did_you_mean(key, known)}" for key in unknown]
        raise InputError(
            f"{strategy.name} has no parameter {'; no parameter '.join(problems)}",
            hint=f"{strategy.name} takes {describe_params(model)}",
        )
    try:
        return model.model_validate(values)
    except pydantic.ValidationError as exc:
        problems = "; ".join(_pydantic_problem(err) for err in exc.errors())
        raise InputError(
            f"invalid parameters for {strategy.name}: {problems}",
            hint=f"{strategy.name} takes {describe_params(model)}",
        ) from None


def describe_params(model: type[StrategyParams]) -> str:
    """``fast (int, default 10), slow (int, default 30)``: the fields a user can set."""
    parts = []
    for key, field in model.model_fields.items():
        kind = getattr(field.annotation, "__name__", str(field.annotation))
        default = "required" if field.is_required() else f"default {field.default}"
        parts.append(f"{key} ({kind}, {default})")
    return ", ".join(parts)


def _pydantic_problem(err: Mapping[str, Any]) -> str:
    message = str(err["msg"]).removeprefix("Value error, ")
    where = ".".join(str(part) for part in err["loc"])
    if not where:  # a model validator (fast < slow) speaks for the whole set
        return message
    if err["type"] == "missing":
        return f"{where} is required"
    return f"{where}={err['input']!r}: {message}"


def _did_you_mean(word: str, choices: list[str]) -> str:
    lowered = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=3, cutoff=0.6)
    # "sma" is far from "sma_crossover" by edit ratio, but a user typing it means it.
    close += [c for c in lowered if len(word) >= 3 and word.lower() in c and c not in close]
    if not close:
        return ""
    return f"; did you mean {' or '.join(repr(lowered[c]) for c in close[:3])}?"
