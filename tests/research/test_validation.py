"""The validation policy: each threshold gives its own reason, with the figure and the limit."""

from __future__ import annotations

import pytest

from engine.errors import InputError
from engine.research.validation import ValidationPolicy, evaluate, load_policy
from tests.config.factories import make_evidence

POLICY = ValidationPolicy()


def test_evidence_that_clears_every_threshold_is_validated():
    verdict = evaluate(make_evidence(), POLICY)
    assert verdict.status == "validated"
    assert verdict.reasons == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"oos": {"sharpe": 0.31}, "ins": {"sharpe": 0.5}},
            "out-of-sample Sharpe 0.31 is below the minimum 0.50",
        ),
        (
            {"oos": {"max_drawdown": -0.312}},
            "out-of-sample max drawdown 31.2% is deeper than the limit 25.0%",
        ),
        (
            {"oos": {"trades": 12}},
            "only 12 out-of-sample trades, fewer than the 30 needed",
        ),
        (
            {"deflated_sharpe": 0.72, "n_trials": 120},
            "deflated Sharpe 0.72 is below the minimum 0.95: with 120 combinations tried",
        ),
        (
            {"pbo": 0.55},
            "probability of backtest overfitting 0.55 is above the limit 0.40",
        ),
        (
            {"ins": {"sharpe": 2.5}, "oos": {"sharpe": 1.0}},
            "out-of-sample Sharpe 1.00 is 60% below the in-sample 2.50, more than the 50% allowed",
        ),
        (
            {"lookahead_passed": False, "lookahead_detail": "entries on 2008-03-03 changed"},
            "look-ahead check failed",
        ),
    ],
    ids=["oos-sharpe", "drawdown", "trades", "deflated-sharpe", "pbo", "degradation", "lookahead"],
)
def test_each_threshold_failed_gives_its_reason(changes, reason):
    verdict = evaluate(make_evidence(**changes), POLICY)
    assert verdict.status == "rejected"
    assert len(verdict.reasons) == 1, verdict.reasons
    assert reason in verdict.reasons[0]


def test_the_lookahead_reason_carries_the_detail():
    verdict = evaluate(
        make_evidence(lookahead_passed=False, lookahead_detail="GE 2008-03-03"), POLICY
    )
    assert "GE 2008-03-03" in verdict.reasons[0]


def test_every_failed_check_is_listed_not_just_the_first():
    evidence = make_evidence(
        oos={"sharpe": 0.1, "max_drawdown": -0.5, "trades": 3},
        ins={"sharpe": 2.0},
        deflated_sharpe=0.2,
        pbo=0.9,
        lookahead_passed=False,
    )
    assert len(evaluate(evidence, POLICY).reasons) == 7


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"oos": {"sharpe": None}}, "out-of-sample Sharpe is not available"),
        ({"oos": {"max_drawdown": None}}, "max drawdown is not available"),
        ({"oos": {"trades": None}}, "only 0 out-of-sample trades"),
        ({"deflated_sharpe": None}, "deflated Sharpe could not be computed"),
        ({"pbo": float("nan")}, "overfitting could not be computed"),
    ],
)
def test_a_figure_that_could_not_be_computed_fails_its_check(changes, reason):
    verdict = evaluate(make_evidence(**changes), POLICY)
    assert verdict.status == "rejected"
    assert any(reason in r for r in verdict.reasons), verdict.reasons


def test_no_evidence_is_rejected():
    verdict = evaluate(None, POLICY)
    assert verdict.status == "rejected"
    assert "no evidence" in verdict.reasons[0]


def test_degradation_is_not_judged_without_a_positive_in_sample_sharpe():
    verdict = evaluate(make_evidence(ins={"sharpe": -0.2}, oos={"sharpe": 0.8}), POLICY)
    assert verdict.status == "validated"


def test_a_drawdown_reported_as_a_positive_fraction_is_judged_the_same():
    negative = evaluate(make_evidence(oos={"max_drawdown": -0.3}), POLICY)
    positive = evaluate(make_evidence(oos={"max_drawdown": 0.3}), POLICY)
    assert negative.reasons == positive.reasons != []


def test_a_policy_file_overrides_only_the_thresholds_it_names(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("min_oos_sharpe: 1.5\nmax_pbo: 0.2\n")
    policy = load_policy(path)
    assert policy.min_oos_sharpe == 1.5
    assert policy.max_pbo == 0.2
    assert policy.min_oos_trades == POLICY.min_oos_trades
    verdict = evaluate(make_evidence(), policy)
    assert verdict.reasons[0].startswith("out-of-sample Sharpe 1.10 is below the minimum 1.50")


def test_a_looser_policy_validates_what_the_default_rejects():
    evidence = make_evidence(oos={"trades": 12})
    assert evaluate(evidence, POLICY).status == "rejected"
    assert evaluate(evidence, ValidationPolicy(min_oos_trades=10)).status == "validated"


def test_no_policy_file_means_the_defaults():
    assert load_policy(None) == ValidationPolicy()


def test_a_policy_file_with_a_misspelled_threshold_names_it(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("max_drawdwon: 0.1\n")
    with pytest.raises(InputError) as caught:
        load_policy(path)
    assert "unknown field 'max_drawdwon'" in str(caught.value)
    assert "did you mean 'max_drawdown'" in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_policy_file_with_an_impossible_value_names_the_field(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("max_pbo: 1.5\n")
    with pytest.raises(InputError, match="field 'max_pbo'"):
        load_policy(path)


def test_lookahead_cannot_be_switched_off_by_a_policy(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("lookahead_must_pass: false\n")
    with pytest.raises(InputError, match="unknown field 'lookahead_must_pass'"):
        load_policy(path)
