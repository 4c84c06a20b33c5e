"""The validation gate: a policy of thresholds turns a config's evidence into a verdict.

Every threshold is checked and every failure is listed, in a trader's words with the
figure and the limit, so that a rejected config says exactly what it would take to pass.
A figure that could not be computed (no trades, too few folds) fails its check: the gate
fails closed, because a config that cannot show its evidence must not reach real money.

The defaults are a reasonable bar for a daily US-equity strategy:

========================  =======  =====================================================
threshold                 default  why
========================  =======  =====================================================
min_oos_sharpe            0.5      annualised, on the stitched out-of-sample equity;
                                   below it the edge rarely survives costs and slippage
max_drawdown              0.25     deepest out-of-sample fall from a peak, as a fraction
min_oos_trades            30       fewer trades cannot tell skill from a few lucky ones
min_deflated_sharpe       0.95     probability the true Sharpe is above zero after
                                   correcting for the number of combinations tried
max_pbo                   0.4      probability of backtest overfitting; 0.5 is a coin
                                   flip (the selection would add nothing)
max_sharpe_degradation    0.5      the out-of-sample Sharpe may fall at most this
                                   fraction below the in-sample one
min_sharpe_p05            off      the 5th percentile of the bootstrap out-of-sample
                                   Sharpe must reach it (0: confidently above zero)
max_drawdown_p95          off      the 95th percentile of the bootstrap out-of-sample
                                   max drawdown may not exceed it
revalidate_on_code_change off      the live loop refuses the config once the code that
                                   computes its signals or applies its rules changes
========================  =======  =====================================================

Look-ahead and warm-up must pass: they are not thresholds and no policy can turn them off.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple

import pydantic
from pydantic import Field

from engine.config.loading import parse_yaml_mapping, read_text, validate_model
from engine.config.models import Evidence

# Names of the figures in the backtest's metrics dicts.
SHARPE = "sharpe"
MAX_DRAWDOWN = "max_drawdown"
TRADES = "trades"


class ValidationPolicy(pydantic.BaseModel):
    """Thresholds a config's evidence must clear to be validated (see the module docs)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    min_oos_sharpe: float = 0.5
    max_drawdown: float = Field(0.25, gt=0, le=1)
    min_oos_trades: int = Field(30, ge=0)
    min_deflated_sharpe: float = Field(0.95, ge=0, le=1)
    max_pbo: float = Field(0.4, ge=0, le=1)
    max_sharpe_degradation: float = Field(0.5, ge=0)
    min_sharpe_p05: float | None = None
    max_drawdown_p95: float | None = Field(None, gt=0, le=1)
    revalidate_on_code_change: bool = False

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "the policy") -> ValidationPolicy:
        """The policy in YAML ``text``; fields left out keep their defaults."""
        needs = (
            "a policy file sets validation thresholds, one `name: value` per line, e.g. "
            f"`min_oos_sharpe: 0.5` (names: {', '.join(cls.model_fields)}); leave out "
            "--policy for the built-in policy"
        )
        data = parse_yaml_mapping(text, source=source, needs=needs)
        return validate_model(cls, data, source=source)

    @classmethod
    def from_yaml_file(cls, path: str | Path) -> ValidationPolicy:
        """The policy in the YAML file at ``path`` (``--policy FILE``)."""
        return cls.from_yaml(read_text(path, what="policy"), source=f"policy file {path}")


def load_policy(path: str | Path | None) -> ValidationPolicy:
    """The policy in ``path``, or the defaults when no file is given."""
    return ValidationPolicy() if path is None else ValidationPolicy.from_yaml_file(path)


class Verdict(pydantic.BaseModel):
    """The gate's answer: validated, or rejected with every reason it failed."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    status: Literal["validated", "rejected"]
    reasons: list[str] = Field(default_factory=list)

    @property
    def validated(self) -> bool:
        return self.status == "validated"


def evaluate(evidence: Evidence | None, policy: ValidationPolicy) -> Verdict:
    """The verdict of ``policy`` on ``evidence``: every failed check, with figure and limit."""
    if evidence is None:
        return Verdict(
            status="rejected",
            reasons=["no evidence: the config was never walked forward (run wb validate)"],
        )
    reasons = [
        reason
        for check in (
            _lookahead,
            _warmup,
            _LIMITS["min_oos_sharpe"],
            _LIMITS["max_drawdown"],
            _trades,
            _deflated_sharpe,
            _LIMITS["max_pbo"],
            _degradation,
            _LIMITS["min_sharpe_p05"],
            _LIMITS["max_drawdown_p95"],
        )
        if (reason := check(evidence, policy)) is not None
    ]
    return Verdict(status="rejected" if reasons else "validated", reasons=reasons)


# Each check gives back the reason it failed, or None when it passed.


def _lookahead(evidence: Evidence, policy: ValidationPolicy) -> str | None:
    if evidence.lookahead_passed:
        return None
    detail = f": {evidence.lookahead_detail}" if evidence.lookahead_detail else ""
    return (
        "look-ahead check failed: its past signals change when future bars are removed, "
        f"so its backtest used information it could not have had{detail}"
    )


def _warmup(evidence: Evidence, policy: ValidationPolicy) -> str | None:
    if evidence.warmup_passed:
        return None
    if evidence.warmup_passed is None:
        return "the warm-up check was not run, so signals may depend on where the data begins"
    detail = f": {evidence.warmup_detail}" if evidence.warmup_detail else ""
    return (
        "warm-up check failed: its signals change when the history starts later, so the live "
        f"loop would not trade as its backtest did{detail}"
    )


class _Limit(NamedTuple):
    """A figure the policy holds to a minimum or a maximum; called as a check, the reason it
    fails, or None (it passed, or the policy sets no such limit)."""

    #: The policy's field for the limit.
    limit: str
    #: True for a minimum, False for a maximum.
    at_least: bool
    #: The figure in the evidence; None when it could not be computed.
    figure: Callable[[Evidence], float | None]
    #: The reason when the figure is missing (the gate fails closed), and when it is past
    #: the limit; both formatted with ``figure``, ``limit`` and the words the check is given.
    missing: str
    failed: str

    def __call__(self, evidence: Evidence, policy: ValidationPolicy, **words) -> str | None:
        limit = getattr(policy, self.limit)
        if limit is None:
            return None
        figure = self.figure(evidence)
        if figure is None:
            return self.missing.format(limit=limit, **words)
        if figure < limit if self.at_least else figure > limit:
            return self.failed.format(figure=figure, limit=limit, **words)
        return None


def _magnitude(drawdown: float | None) -> float | None:
    """A drawdown as a positive fraction, whatever sign the metrics use."""
    return None if drawdown is None else abs(drawdown)


#: The figures a policy holds to a minimum or a maximum, by the policy's name for the limit.
_LIMITS = {
    limit.limit: limit
    for limit in (
        _Limit("min_oos_sharpe", True, lambda e: e.out_of_sample.get(SHARPE),
               "out-of-sample Sharpe is not available (no out-of-sample returns), so it "
               "cannot clear the minimum {limit:.2f}",
               "out-of-sample Sharpe {figure:.2f} is below the minimum {limit:.2f}"),
        _Limit("max_drawdown", False, lambda e: _magnitude(e.out_of_sample.get(MAX_DRAWDOWN)),
               "out-of-sample max drawdown is not available, so it cannot be held to the "
               "limit {limit:.1%}",
               "out-of-sample max drawdown {figure:.1%} is deeper than the limit {limit:.1%}"),
        _Limit("min_deflated_sharpe", True, lambda e: e.deflated_sharpe,
               "deflated Sharpe could not be computed, so it cannot clear the minimum "
               "{limit:.2f}",
               "deflated Sharpe {figure:.2f} is below the minimum {limit:.2f}: with {tried} "
               "combinations tried{where}, the edge may be luck"),
        _Limit("max_pbo", False, lambda e: e.pbo,
               "probability of backtest overfitting could not be computed, so it cannot be "
               "held to the limit {limit:.2f}",
               "probability of backtest overfitting {figure:.2f} is above the limit "
               "{limit:.2f}: the in-sample best often does worse than average out of sample"),
        _Limit("min_sharpe_p05", True, lambda e: e.confidence.sharpe.p05 if e.confidence else None,
               "the out-of-sample Sharpe's bootstrap interval is not available, so its 5th "
               "percentile cannot be held to the minimum {limit:.2f}",
               "the out-of-sample Sharpe's 5th percentile (bootstrap) is {figure:.2f}, below "
               "the minimum {limit:.2f}: the edge is not confidently there"),
        _Limit("max_drawdown_p95", False,
               lambda e: e.confidence.max_drawdown.p95 if e.confidence else None,
               "the out-of-sample max drawdown's bootstrap interval is not available, so its "
               "95th percentile cannot be held to the limit {limit:.1%}",
               "the out-of-sample max drawdown's 95th percentile (bootstrap) is {figure:.1%}, "
               "deeper than the limit {limit:.1%}"),
    )
}  # fmt: skip


def _trades(evidence: Evidence, policy: ValidationPolicy) -> str | None:
    trades = evidence.out_of_sample.get(TRADES)
    count = 0 if trades is None else int(trades)
    if count < policy.min_oos_trades:
        return (
            f"only {count} out-of-sample trades, fewer than the {policy.min_oos_trades} "
            "needed to tell skill from luck"
        )
    return None


def _deflated_sharpe(evidence: Evidence, policy: ValidationPolicy) -> str | None:
    trials = evidence.trials
    return _LIMITS["min_deflated_sharpe"](
        evidence,
        policy,
        tried=trials.in_ledger if trials else evidence.n_trials,
        where=f" ({trials.describe()})" if trials else "",
    )


def _degradation(evidence: Evidence, policy: ValidationPolicy) -> str | None:
    in_sample = evidence.in_sample.get(SHARPE)
    out_of_sample = evidence.out_of_sample.get(SHARPE)
    # With no positive in-sample Sharpe there is nothing to degrade from; the out-of-sample
    # minimum already judges such a config.
    if in_sample is None or out_of_sample is None or in_sample <= 0:
        return None
    degradation = 1.0 - out_of_sample / in_sample
    if degradation > policy.max_sharpe_degradation:
        return (
            f"out-of-sample Sharpe {out_of_sample:.2f} is {degradation:.0%} below the "
            f"in-sample {in_sample:.2f}, more than the {policy.max_sharpe_degradation:.0%} allowed"
        )
    return None
