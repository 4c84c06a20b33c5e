"""Risk limits: the seeds' defaults, YAML files, and errors that say what to fix."""

from __future__ import annotations

import pydantic
import pytest

from engine.errors import InputError
from engine.risk import LimitsError, RiskLimits, limits_diff, limits_from_mapping, load_limits


def test_defaults_are_the_seeds_rules():
    limits = RiskLimits()
    assert limits.risk_per_trade == 0.01
    assert limits.max_positions == 5
    assert 0.02 <= limits.cash_buffer <= 0.05
    assert (limits.daily_loss_limit, limits.weekly_soft_loss, limits.weekly_hard_loss) == (
        0.02,
        0.05,
        0.08,
    )
    assert limits.weekly_soft_size_factor == 0.5
    assert limits.day_trade_policy == "pdt" and limits.pdt_equity_threshold == 25_000
    assert limits.pdt_max_day_trades == 3
    assert limits.wash_sale_policy == "flag"
    assert limits.allow_outside_session is False and limits.fractional_shares is False


def test_a_yaml_file_round_trips(tmp_path):
    limits = RiskLimits(max_positions=8, restricted_symbols={"gme", "AMC"}, max_price=900)
    path = tmp_path / "limits.yaml"
    path.write_text(limits.to_yaml())
    assert load_limits(path) == limits
    assert "- AMC\n- GME" in path.read_text()  # sorted, upper-case: a stable diff in git


def test_a_partial_file_keeps_the_other_defaults(tmp_path):
    path = tmp_path / "limits.yaml"
    path.write_text("max_positions: 3\nrestricted_symbols: tsla, nvda\n")
    limits = load_limits(path)
    assert limits.max_positions == 3 and limits.restricted_symbols == {"TSLA", "NVDA"}
    assert limits.cash_buffer == RiskLimits().cash_buffer


def test_an_empty_file_is_the_defaults(tmp_path):
    path = tmp_path / "limits.yaml"
    path.write_text("")
    assert load_limits(path) == RiskLimits()


@pytest.mark.parametrize(
    "data, field, message",
    [
        pytest.param({"max_position": 3}, "max_position", "unknown limit (did you mean 'max_positions'?)", id="typo"),
        pytest.param({"daily_loss_limit": -0.02}, "daily_loss_limit", "write a loss as a positive fraction: 0.02 for a -2% loss", id="negative-loss"),
        pytest.param({"risk_per_trade": 0.02}, "limits", "risk_per_trade 0.02 is outside the seeds' range 0.005-0.01; set allow_wide_risk_per_trade: true", id="wide-risk"),
        pytest.param({"risk_per_trade": 0.06, "allow_wide_risk_per_trade": True}, "risk_per_trade", "less than or equal to 0.05", id="risk-ceiling"),
        pytest.param({"weekly_soft_loss": 0.08, "weekly_hard_loss": 0.08}, "limits", "weekly_soft_loss 0.08 must be smaller than weekly_hard_loss 0.08", id="soft-not-before-hard"),
        pytest.param({"cash_buffer": 0.01}, "cash_buffer", "greater than or equal to 0.02", id="thin-buffer"),
        pytest.param({"pdt_max_day_trades": 4}, "pdt_max_day_trades", "less than or equal to 3", id="more-than-finra"),
        pytest.param({"day_trade_policy": "none"}, "day_trade_policy", "'pdt', 'intraday_margin' or 'off'", id="policy"),
        pytest.param({"min_price": 10, "max_price": 5}, "limits", "max_price 5.0 must be above min_price 10.0", id="price-range"),
    ],
)  # fmt: skip
def test_bad_limits_name_the_field_and_the_fix(data, field, message):
    with pytest.raises(LimitsError) as caught:
        limits_from_mapping(data, source="the Settings page")
    assert message in caught.value.problems[field]
    assert str(caught.value).startswith("the Settings page are invalid: ")
    assert caught.value.hint


def test_wide_risk_needs_the_explicit_switch():
    assert RiskLimits(risk_per_trade=0.02, allow_wide_risk_per_trade=True).risk_per_trade == 0.02
    assert RiskLimits(risk_per_trade=0.005).risk_per_trade == 0.005


def test_several_problems_are_reported_together():
    with pytest.raises(LimitsError) as caught:
        limits_from_mapping({"max_positions": 0, "cash_bufer": 0.03})
    assert set(caught.value.problems) == {"max_positions", "cash_bufer"}


@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param("max_positions: [1, 2\n", "is not valid YAML", id="bad-yaml"),
        pytest.param(
            "- max_positions\n", "must be a mapping of limit names to values, not list", id="list"
        ),
    ],
)
def test_unreadable_files_say_so(tmp_path, text, message):
    path = tmp_path / "limits.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_limits(path)


def test_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(InputError) as caught:
        load_limits(tmp_path / "nope.yaml")
    assert "RiskLimits().to_yaml()" in caught.value.hint


def test_limits_are_frozen():
    with pytest.raises(pydantic.ValidationError):
        RiskLimits().max_positions = 50


def test_diff_lists_what_a_trader_changed_for_the_audit_trail():
    before = RiskLimits()
    after = RiskLimits(max_positions=3, wash_sale_policy="block")
    assert limits_diff(before, after) == {
        "max_positions": (5, 3),
        "wash_sale_policy": ("flag", "block"),
    }
    assert limits_diff(before, before) == {}


def test_every_limit_has_help_text_for_the_settings_page():
    schema = RiskLimits.model_json_schema()["properties"]
    assert set(schema) == set(RiskLimits.model_fields)
    assert all(prop.get("description") for prop in schema.values())
