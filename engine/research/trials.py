"""The trial ledger: every parameter combination a family of configs has been evaluated with.

    >>> count = record_sweep(store, swept, bars, settings, actor="ana")     # doctest: +SKIP
    >>> count.describe()                                                    # doctest: +SKIP
    '45 tried in this run, 182 in the ledger since 2024-01-05'

The deflated Sharpe ratio is only honest with an honest count of trials: an analyst who
runs ten sweeps and validates the best has tried far more than the last grid. So every
backtest, sweep, walk-forward and validation -- from the CLI, a notebook, a scheduled notebook
run, on this machine or on Ray (the driver records) -- records what it evaluated here, per
**family**: a strategy on a universe (its symbols as a set) at a bar size. A validation
deflates its Sharpe by the family's count, and its evidence says both numbers.

A **combination** is the params *and* the backtest settings (trying the same windows with
three stop rules is three trials), keyed by the hash of their canonical JSON. The count is
of *distinct* combinations: re-running a grid (the research notebook sweeps, walks forward
and proposes over the same grid) adds nothing, and overlapping grids add only what is new.
That needs one row per distinct combination and family (``trial_combinations``, bounded by
what was really tried, not by how often), besides one row per run (``trial_runs``); both
are written in one short transaction, retried while another process holds the store.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from engine.config.models import TrialCount, canonical_json
from engine.errors import StoreBusyError
from engine.store.events import utcnow

KINDS = ("backtest", "sweep", "walk_forward", "validation")
_HASH_LENGTH = 16


@dataclass(frozen=True)
class Family:
    """Configs that compete for the same selection: a strategy on a universe at a bar size."""

    strategy: str
    #: The symbols, sorted: the order a book trades them in does not make a new family.
    universe: tuple[str, ...]
    bar_size: str = "1d"

    @classmethod
    def of(cls, strategy: str, symbols: Iterable[str], bar_size: str = "1d") -> Family:
        """The family of ``strategy`` on ``symbols`` (any order, any case) at ``bar_size``."""
        return cls(strategy, tuple(sorted({s.strip().upper() for s in symbols})), bar_size)

    @property
    def family_id(self) -> str:
        """The content address of the family, as the ledger keys it."""
        content = {
            "strategy": self.strategy,
            "universe": list(self.universe),
            "bar_size": self.bar_size,
        }
        return _digest(canonical_json(content))

    def describe(self) -> str:
        return f"{self.strategy} on {','.join(self.universe)} ({self.bar_size})"


def combination_key(params: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """The ledger's key of one combination: the hash of its params and backtest settings."""
    return _combination_key(canonical_json(dict(params)), _settings_key(settings))


def _settings_key(settings: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(settings)).encode()).hexdigest()


def _combination_key(params_json: str, settings_key: str) -> str:
    # The settings are hashed once per run, not once per combination: a sweep has thousands.
    return _digest(f"{params_json}|{settings_key}")


def record_trials(
    store,
    family: Family,
    params_list: Sequence[Mapping[str, Any]],
    settings: Mapping[str, Any],
    *,
    kind: str,
    actor: str,
    run_id: str | None = None,
    executor: str = "local",
    data_start=None,
    data_end=None,
) -> TrialCount:
    """The family's count after recording that ``params_list`` was evaluated under ``settings``.

    ``params_list`` holds every combination's full params as JSON values (defaults filled
    in); ``kind`` is one of KINDS. One transaction, retried on contention.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    settings_key = _settings_key(settings)
    keys = sorted({_combination_key(canonical_json(p), settings_key) for p in params_list})
    if not keys:
        raise ValueError("a run with no combinations has nothing to record")
    family_id = family.family_id
    grid = _grid(params_list)

    def work(con) -> tuple[int, int, Any]:
        run = con.execute(
            "INSERT INTO trial_runs (family_id, strategy, universe, bar_size, kind, combinations,"
            " new_combinations, grid_digest, grid, data_start, data_end, executor, run_id, actor,"
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [
                family_id,
                family.strategy,
                json.dumps(list(family.universe)),
                family.bar_size,
                kind,
                len(keys),
                _digest("".join(keys)),
                json.dumps(grid, default=str),
                data_start,
                data_end,
                executor,
                run_id,
                actor,
                utcnow(),
            ],
        ).fetchall()[0][0]
        before = _count(con, family_id)
        tried = pd.DataFrame({"combination": keys})
        con.register("tried", tried)
        con.execute(
            "INSERT OR IGNORE INTO trial_combinations SELECT ?, combination, ? FROM tried",
            [family_id, run],
        )
        con.unregister("tried")
        after = _count(con, family_id)
        con.execute(
            "UPDATE trial_runs SET new_combinations = ? WHERE id = ?", [after - before, run]
        )
        since = con.execute(
            "SELECT min(recorded_at) FROM trial_runs WHERE family_id = ?", [family_id]
        ).fetchall()[0][0]
        return len(keys), after, since

    this_run, in_ledger, since = store.transaction(work)
    return TrialCount(this_run=this_run, in_ledger=in_ledger, since=since, family=family_id)


def record_sweep(
    store, result, bars, settings, *, actor: str, run_id: str | None = None, executor: str = "local"
) -> TrialCount | None:
    """The family's count after recording a sweep's combinations; None if the store stayed busy.

    A sweep's result is worth more than its ledger row: when the store stays locked past
    its timeout the sweep is kept and a warning says the trials went unrecorded.
    """
    combos = result.table[result.param_names].drop_duplicates()
    return _record_safely(
        store,
        Family.of(result.strategy, bars.symbols, _bar_size(bars)),
        _as_params(result.strategy, combos.to_dict("records")),
        settings,
        kind="sweep",
        actor=actor,
        run_id=run_id,
        executor=executor,
        bars=bars,
    )


def record_backtest(
    store, result, *, actor: str, run_id: str | None = None
) -> TrialCount | None:
    """The family's count after recording one backtest's combination (see :func:`record_sweep`):
    a person trying params by hand is trying combinations too."""
    return _record_safely(
        store,
        Family.of(result.strategy, result.bars.symbols, _bar_size(result.bars)),
        [result.params.model_dump(mode="json")],
        result.settings,
        kind="backtest",
        actor=actor,
        run_id=run_id,
        bars=result.bars,
    )


def record_walk_forward(
    store,
    result,
    bars,
    *,
    actor: str,
    run_id: str | None = None,
    executor: str = "local",
    kind: str = "walk_forward",
) -> TrialCount | None:
    """The family's count after recording a walk-forward's combinations (see :func:`record_sweep`)."""
    combos = result.trial_returns.columns.to_frame(index=False)
    return _record_safely(
        store,
        Family.of(result.strategy, bars.symbols, _bar_size(bars)),
        _as_params(result.strategy, combos.to_dict("records")),
        result.settings,
        kind=kind,
        actor=actor,
        run_id=run_id,
        executor=executor,
        bars=bars,
    )


def family_count(store, family: Family) -> TrialCount | None:
    """The family's ledger as it stands (None when it has never been tried)."""
    row = store.query(
        "SELECT (SELECT count(*) FROM trial_combinations WHERE family_id = ?) AS n,"
        " min(recorded_at) AS since, arg_max(combinations, id) AS last"
        " FROM trial_runs WHERE family_id = ?",
        [family.family_id, family.family_id],
    ).iloc[0]
    if pd.isna(row["since"]) or not row["n"]:
        return None
    return TrialCount(
        this_run=int(row["last"]),
        in_ledger=int(row["n"]),
        since=row["since"].to_pydatetime(),
        family=family.family_id,
    )


def family_runs(store, strategy: str, symbols: Iterable[str] | None = None, bar_size: str = "1d"):
    """The ledger's runs of ``strategy`` (on exactly ``symbols`` when given), oldest first."""
    sql = (
        "SELECT id, family_id, strategy, universe, bar_size, kind, combinations, new_combinations,"
        " grid_digest, grid, data_start, data_end, executor, run_id, actor, recorded_at"
        " FROM trial_runs WHERE strategy = ? AND bar_size = ?"
    )
    params: list[Any] = [strategy, bar_size]
    if symbols is not None:
        sql += " AND family_id = ?"
        params.append(Family.of(strategy, symbols, bar_size).family_id)
    runs = store.query(sql + " ORDER BY recorded_at, id", params)
    runs["universe"] = runs["universe"].map(json.loads)
    runs["grid"] = runs["grid"].map(json.loads)
    runs["in_ledger"] = runs.groupby("family_id")["new_combinations"].cumsum()
    return runs


# -- helpers -----------------------------------------------------------------------------


def _record_safely(store, family, params_list, settings, *, bars, **how) -> TrialCount | None:
    settings = settings.model_dump(mode="json") if hasattr(settings, "model_dump") else settings
    try:
        return record_trials(
            store,
            family,
            params_list,
            settings,
            data_start=bars.index[0].date(),
            data_end=bars.index[-1].date(),
            **how,
        )
    except StoreBusyError as exc:
        warnings.warn(
            f"the {len(params_list)} combinations of this {how['kind']} were not recorded in "
            f"the trial ledger: {exc.message}; a later validation of {family.describe()} will "
            "undercount its trials",
            stacklevel=3,
        )
        return None


def _as_params(strategy: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a result's params columns as the strategy's params dump them (plain JSON values)."""
    from engine.strategies import get, make_params

    model = get(strategy)
    return [make_params(model, _plain(row)).model_dump(mode="json") for row in rows]


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of a frame as Python values: numpy scalars unwrapped, a missing value as None
    (a frame turns a params field left None, such as an unpinned model file, into NaN)."""

    def plain(value: Any) -> Any:
        if value is None or (isinstance(value, float) and value != value):
            return None
        return value.item() if hasattr(value, "item") else value

    return {key: plain(value) for key, value in row.items()}


def _grid(params_list: Sequence[Mapping[str, Any]]) -> dict[str, list]:
    """Each parameter's distinct values, in the order first tried."""
    grid: dict[str, list] = {}
    for params in params_list:
        for name, value in params.items():
            values = grid.setdefault(name, [])
            if value not in values:
                values.append(value)
    return grid


def _bar_size(bars) -> str:
    return bars.bar_size  # "5m", as a config names it (not the frequency "5min")


def _count(con, family_id: str) -> int:
    return con.execute(
        "SELECT count(*) FROM trial_combinations WHERE family_id = ?", [family_id]
    ).fetchall()[0][0]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]
