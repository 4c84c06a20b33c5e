"""Propose a config: walk-forward a grid, run the guards, record where it came from, judge, register.

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

The evidence holds, besides the walk-forward:

- the deflated Sharpe of the proposed combination over the full history, deflated for every
  combination its family has tried (the trial ledger, :mod:`engine.research.trials`, which
  this validation's own combinations join first) and the spread of this run's Sharpe ratios;
- the probability of backtest overfitting over this run's trials' returns;
- the peeking checks of the proposed params: look-ahead (a cut after every bar it trades)
  and warm-up (later starts), see :mod:`engine.strategies.lookahead`;
- bootstrap intervals of the out-of-sample Sharpe, max drawdown and profit factor, and the
  drawdowns of the trades reshuffled (:mod:`engine.backtest.confidence`);
- its provenance: the bars' hash, the code's, the libraries' versions, the notebook run
  (:mod:`engine.research.provenance`), and the policy that judged it;
- whatever the strategy's **evidence hook** adds (:func:`register_evidence_hook`): the ML
  classifier's adds its out-of-sample AUC and precision, and pins the model it trains.

A guard that cannot be computed (one combination only, too short a history) leaves its
figure empty with a warning in the evidence; the policy then rejects the config, since
evidence that is missing is not evidence.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from engine.backtest.settings import BacktestSettings
from engine.config.models import Evidence, FoldEvidence, StrategyConfig
from engine.data.bars import Bars
from engine.errors import InputError
from engine.research.config_registry import save_proposal
from engine.research.validation import ValidationPolicy, Verdict, evaluate

if TYPE_CHECKING:
    from engine.executors import Executor

#: Evenly spaced cuts of the look-ahead check, besides one after every bar it trades.
LOOKAHEAD_POINTS = 12
#: Blocks of the combinatorially symmetric cross-validation (C(10, 5) = 252 splits).
PBO_PARTITIONS = 10
#: Modules that register an evidence hook when imported, by the strategy they serve.
HOOK_MODULES = {"ml_classifier": "engine.research.ml_evidence"}


@dataclass(frozen=True)
class ProposalContext:
    """What a strategy's evidence hook sees: the choice the walk-forward made, and where it ran."""

    store: Any
    bars: Bars
    #: The params the last fold chose (the strategy's params model).
    params: Any
    folds: list[FoldEvidence]
    settings: BacktestSettings
    #: Where files the config will trade go (None: ``<data dir>/models``).
    models_dir: Path | None = None


@dataclass(frozen=True)
class EvidenceAddition:
    """What an evidence hook adds to a proposal."""

    #: The params the config trades instead of the chosen ones (e.g. with a pinned model).
    params: dict[str, Any] | None = None
    #: Figures added to the out-of-sample metrics.
    out_of_sample: dict[str, float | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: A line for the config's notes.
    notes: str = ""
    #: Files the config trades, by name and sha256 (kept in the provenance).
    artifacts: dict[str, str] = field(default_factory=dict)
    #: Whatever the hook's caller may want to show (e.g. the classifier's report).
    report: Any = None


@dataclass(frozen=True)
class EvidenceHook:
    """A strategy's own evidence: a check of the grid before the walk-forward, and an addition after."""

    add: Callable[[ProposalContext], EvidenceAddition]
    check_grid: Callable[[Mapping[str, Sequence[Any]]], None] | None = None


@dataclass(frozen=True)
class Proposal:
    """A config with its evidence, not yet judged, and what its strategy's hook added."""

    config: StrategyConfig
    addition: EvidenceAddition


_HOOKS: dict[str, EvidenceHook] = {}


def register_evidence_hook(strategy: str, hook: EvidenceHook) -> None:
    """Make ``hook`` add to the evidence of every proposal of ``strategy``."""
    _HOOKS[strategy] = hook


def evidence_hook(strategy: str) -> EvidenceHook | None:
    """The evidence hook of ``strategy`` (its module imported first, if the engine knows one)."""
    if strategy not in _HOOKS and strategy in HOOK_MODULES:
        importlib.import_module(HOOK_MODULES[strategy])
    return _HOOKS.get(strategy)


def propose(store, bars: Bars, strategy_name: str, grid: Mapping[str, Sequence[Any]],
            settings: BacktestSettings, policy: ValidationPolicy, **how: Any
            ) -> tuple[StrategyConfig, Verdict]:  # fmt: skip
    """(the proposed config with its evidence, the policy's verdict), saved in the registry.

    ``bars`` are the universe exactly as it would trade (its symbols, in its order);
    ``grid`` maps each parameter to the values tried; ``how`` is the walk-forward's shape
    and who asks, as :func:`build_proposal` takes it (``folds``, ``objective``, ``actor``
    required; ``anchored``, ``run_id`` naming the notebook run, ``notes``, ``progress``,
    ``executor``, ``models_dir``). ``executor`` runs the walk-forward's trials ("local",
    "ray" or an executor, see :mod:`engine.executors`); if it cannot finish them, nothing
    is saved.
    """
    proposal = build_proposal(store, bars, strategy_name, grid, settings, policy, **how)
    return proposal.config, judge(store, proposal.config, policy, how["actor"])


def judge(store, config: StrategyConfig, policy: ValidationPolicy, actor: str) -> Verdict:
    """The policy's verdict on ``config``, saved with it in the registry."""
    verdict = evaluate(config.evidence, policy)
    save_proposal(store, config, verdict, actor)
    return verdict


def build_proposal(
    store,
    bars: Bars,
    strategy_name: str,
    grid: Mapping[str, Sequence[Any]],
    settings: BacktestSettings,
    policy: ValidationPolicy | None = None,
    *,
    folds: int,
    objective: str,
    anchored: bool = False,
    run_id: str | None = None,
    actor: str,
    notes: str = "",
    progress: bool = False,
    executor: str | Executor = "local",
    models_dir: str | Path | None = None,
) -> Proposal:
    """The proposed config with its evidence, judged and saved by nobody (see :func:`propose`).

    ``store`` keeps the trial ledger and the notebook runs (None: this run's trials only,
    no ledger); ``policy`` is recorded in the evidence as what will judge it.
    """
    from engine.backtest.overfitting import probability_of_backtest_overfitting
    from engine.backtest.walkforward import walk_forward
    from engine.research.provenance import record_provenance
    from engine.strategies import check_execution, check_lookahead, check_warmup, get, make_params

    strategy = get(strategy_name)
    check_execution(strategy, settings.execution)  # a config that would trade on an unseen close
    settings = settings.for_freq(bars.freq)
    if not bars.symbols:
        raise InputError(
            "the universe is empty", hint="name at least one symbol, e.g. --symbols AAPL"
        )
    hook = evidence_hook(strategy.name)
    if hook is not None and hook.check_grid is not None:
        hook.check_grid(grid)
    steps = tqdm(total=5, desc=f"validate {strategy.name}", unit="step", disable=not progress)
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
        trials = _ledger(store, result, bars, actor, run_id, executor, warnings)
        selected = tuple(params.model_dump()[name] for name in result.trial_returns.columns.names)
        deflated = _guard(
            lambda: _deflated_sharpe(result.trial_returns, selected, trials),
            "deflated Sharpe",
            warnings,
        )
        pbo = _guard(
            lambda: probability_of_backtest_overfitting(
                result.trial_returns, partitions=PBO_PARTITIONS
            ),
            "probability of backtest overfitting",
            warnings,
        )
        steps.update()

        steps.set_postfix_str("peeking checks")
        lookahead = check_lookahead(
            strategy, bars, params, points=LOOKAHEAD_POINTS, progress=progress
        )
        warmup = check_warmup(strategy, bars, params)
        steps.update()

        steps.set_postfix_str("bootstrap")
        confidence = _confidence(result, settings)
        steps.update()

        steps.set_postfix_str("evidence")
        folds_evidence = [FoldEvidence(**fold.to_dict()) for fold in result.folds]
        addition = EvidenceAddition()
        if hook is not None:
            addition = hook.add(
                ProposalContext(
                    store=store,
                    bars=bars,
                    params=params,
                    folds=folds_evidence,
                    settings=settings,
                    models_dir=Path(models_dir) if models_dir is not None else None,
                )
            )
        provenance = record_provenance(
            store, bars, strategy, run_id=run_id, artifacts=addition.artifacts
        )
        steps.update()

    evidence = Evidence(
        in_sample=result.is_metrics,
        out_of_sample={**result.oos_metrics, **addition.out_of_sample},
        folds=folds_evidence,
        deflated_sharpe=deflated,
        pbo=pbo,
        lookahead_passed=lookahead.passed,
        lookahead_detail=lookahead.detail(),
        warmup_passed=warmup.passed,
        warmup_detail=warmup.detail(),
        n_trials=result.n_trials,
        trials=trials,
        data_start=bars.index[0].date(),
        data_end=bars.index[-1].date(),
        run_id=run_id,
        objective=objective,
        anchored=anchored,
        warnings=[*warnings, *addition.warnings],
        provenance=provenance,
        confidence=confidence,
        policy=policy.model_dump(mode="json") if policy is not None else None,
        annualisation=result.annualisation.describe(),
        synthetic_bars=bars.synthetic,
    )
    config = StrategyConfig(
        strategy=strategy.name,
        params=addition.params if addition.params is not None else params.model_dump(),
        universe=bars.symbols,
        bar_size=bars.bar_size,
        settings=settings,
        created_by=actor,
        notes="\n".join(part for part in (notes, addition.notes) if part),
        evidence=evidence,
    )
    return Proposal(config=config, addition=addition)


def _ledger(store, result, bars, actor, run_id, executor, warnings: list[str]):
    """The family's trial count with this validation's combinations recorded; None without a ledger."""
    if store is None:
        warnings.append(
            f"no trial ledger: the deflated Sharpe counts only this run's {result.n_trials} "
            "combinations"
        )
        return None
    from engine.research.trials import record_walk_forward

    count = record_walk_forward(
        store,
        result,
        bars,
        actor=actor,
        run_id=run_id,
        executor=_executor_name(executor),
        kind="validation",
    )
    if count is None:
        warnings.append(
            f"the trial ledger could not be written (the store stayed busy): the deflated Sharpe "
            f"counts only this run's {result.n_trials} combinations"
        )
    return count


def _deflated_sharpe(trial_returns, selected, trials) -> float:
    from engine.backtest.overfitting import deflated_sharpe_of_trials

    total = trials.in_ledger if trials is not None else None
    if total is not None and total > 1 and trial_returns.shape[1] == 1:
        # One combination gives no spread of Sharpe ratios to deflate the family's count by.
        raise InputError(
            f"this run tried 1 combination of the {total} its family has tried, so the spread "
            "of their Sharpe ratios is unknown",
            hint="validate over a grid of several combinations",
        )
    return deflated_sharpe_of_trials(trial_returns, selected=selected, n_trials=total)


def _confidence(result, settings: BacktestSettings):
    from engine.backtest.confidence import out_of_sample_confidence
    from engine.config.models import Confidence

    spread = out_of_sample_confidence(
        result.oos_equity,
        result.oos_trades,
        init_cash=settings.init_cash,
        bars_per_year=settings.bars_per_year,
    )
    return Confidence(
        method=spread.method,
        resamples=spread.resamples,
        seed=spread.seed,
        **spread.summary(),
    )


def _executor_name(executor) -> str:
    if isinstance(executor, str):
        return executor
    return type(executor).__name__.removesuffix("Executor").lower() or "local"


def _guard(compute, name: str, warnings: list[str]) -> float | None:
    """The guard's figure, or None with a warning saying why it could not be computed."""
    try:
        return compute()
    except InputError as exc:
        warnings.append(f"{name} not computed: {exc}")
        return None
