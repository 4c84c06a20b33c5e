"""Propose a config: walk-forward a grid, run the overfitting guards, judge, register.

    >>> config, verdict = propose(store, bars, "sma_crossover",
    ...                           {"fast": [5, 10, 20], "slow": [50, 100]},
    ...                           BacktestSettings(), ValidationPolicy(),
    ...                           folds=3, objective="sharpe", actor="ana")  # doctest: +SKIP
    >>> verdict.status, verdict.reasons                                     # doctest: +SKIP
    ('rejected', ['only 12 out-of-sample trades, fewer than the 30 needed ...'])

The params proposed are those the walk-forward's *last* fold chose in sample. That is
the choice a trader would make today: the most recent in-sample window picks what
trades next, and every earlier fold's out-of-sample result is the evidence of how that
way of choosing has done when the future was unknown. (Choosing by the stitched
out-of-sample result instead would select on the test data and void it as evidence.)

The guards are computed on every combination the grid tried:

- the deflated Sharpe of the proposed combination over the full history, deflated for
  the number of combinations tried and the spread of their Sharpe ratios;
- the probability of backtest overfitting over all trials' returns;
- the look-ahead check of the proposed params on the bars used.

A guard that cannot be computed (one combination only, too short a history) leaves its
figure empty with a warning in the evidence; the policy then rejects the config, since
evidence that is missing is not evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from engine.backtest.settings import BacktestSettings
from engine.config.models import Evidence, FoldEvidence, StrategyConfig
from engine.data.bars import Bars
from engine.errors import InputError
from engine.research.registry import save_proposal
from engine.research.validation import ValidationPolicy, Verdict, evaluate

if TYPE_CHECKING:
    from engine.executors import Executor

#: Cut points of the look-ahead check on the proposed params.
LOOKAHEAD_POINTS = 12
#: Blocks of the combinatorially symmetric cross-validation (C(10, 5) = 252 splits).
PBO_PARTITIONS = 10


def propose(
    store,
    bars: Bars,
    strategy_name: str,
    grid: Mapping[str, Sequence[Any]],
    settings: BacktestSettings,
    policy: ValidationPolicy,
    *,
    folds: int,
    objective: str,
    anchored: bool = False,
    run_id: str | None = None,
    actor: str,
    notes: str = "",
    progress: bool = False,
    executor: str | Executor = "local",
) -> tuple[StrategyConfig, Verdict]:
    """(the proposed config with its evidence, the policy's verdict), saved in the registry.

    ``bars`` are the universe exactly as it would trade (its symbols, in its order);
    ``grid`` maps each parameter to the values tried; ``folds``/``anchored``/``objective``
    shape the walk-forward; ``run_id`` names the notebook run that proposed it, if any.
    ``executor`` runs the walk-forward's trials ("local", "ray" or an executor, see
    :mod:`engine.executors`); if it cannot finish them, nothing is saved.
    """
    config = build_proposal(
        bars,
        strategy_name,
        grid,
        settings,
        folds=folds,
        objective=objective,
        anchored=anchored,
        run_id=run_id,
        actor=actor,
        notes=notes,
        progress=progress,
        executor=executor,
    )
    verdict = evaluate(config.evidence, policy)
    save_proposal(store, config, verdict, actor)
    return config, verdict


def build_proposal(
    bars: Bars,
    strategy_name: str,
    grid: Mapping[str, Sequence[Any]],
    settings: BacktestSettings,
    *,
    folds: int,
    objective: str,
    anchored: bool = False,
    run_id: str | None = None,
    actor: str,
    notes: str = "",
    progress: bool = False,
    executor: str | Executor = "local",
) -> StrategyConfig:
    """The proposed config with its evidence, judged and saved by nobody (see :func:`propose`)."""
    from engine.backtest.overfitting import (
        deflated_sharpe_of_trials,
        probability_of_backtest_overfitting,
    )
    from engine.backtest.walkforward import walk_forward
    from engine.strategies import check_lookahead, get, make_params

    strategy = get(strategy_name)
    if not bars.symbols:
        raise InputError(
            "the universe is empty", hint="name at least one symbol, e.g. --symbols AAPL"
        )
    steps = tqdm(total=3, desc=f"validate {strategy.name}", unit="step", disable=not progress)
    with steps:
        result = walk_forward(
            bars,
            strategy,
            grid,
            settings,
            folds=folds,
            anchored=anchored,
            objective=objective,
            progress=progress,
            executor=executor,
        )
        params = make_params(strategy, result.params)
        steps.update()

        warnings: list[str] = []
        steps.set_postfix_str("overfitting guards")
        trials = result.trial_returns
        selected = tuple(params.model_dump()[name] for name in trials.columns.names)
        deflated = _guard(
            lambda: deflated_sharpe_of_trials(trials, selected=selected),
            "deflated Sharpe",
            warnings,
        )
        pbo = _guard(
            lambda: probability_of_backtest_overfitting(trials, partitions=PBO_PARTITIONS),
            "probability of backtest overfitting",
            warnings,
        )
        steps.update()

        steps.set_postfix_str("look-ahead check")
        lookahead = check_lookahead(strategy, bars, params, points=LOOKAHEAD_POINTS)
        steps.update()

    evidence = Evidence(
        in_sample=result.is_metrics,
        out_of_sample=result.oos_metrics,
        folds=[FoldEvidence(**fold.to_dict()) for fold in result.folds],
        deflated_sharpe=deflated,
        pbo=pbo,
        lookahead_passed=lookahead.passed,
        lookahead_detail=_lookahead_detail(lookahead),
        n_trials=result.n_trials,
        data_start=bars.index[0].date(),
        data_end=bars.index[-1].date(),
        run_id=run_id,
        objective=objective,
        anchored=anchored,
        warnings=warnings,
    )
    return StrategyConfig(
        strategy=strategy.name,
        params=params.model_dump(),
        universe=bars.symbols,
        bar_size="1d",
        settings=settings,
        created_by=actor,
        notes=notes,
        evidence=evidence,
    )


def _guard(compute, name: str, warnings: list[str]) -> float | None:
    """The guard's figure, or None with a warning saying why it could not be computed."""
    try:
        return compute()
    except InputError as exc:
        warnings.append(f"{name} not computed: {exc}")
        return None


def _lookahead_detail(result) -> str:
    if result.passed:
        return f"signals unchanged when the data was cut at {result.points_checked} points"
    shown = [
        f"{v['symbol']} {str(v['date'])[:10]}: {v['what']} (data cut at {str(v['data_end'])[:10]})"
        for v in result.violations[:3]
    ]
    more = len(result.violations) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
