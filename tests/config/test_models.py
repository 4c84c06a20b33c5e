"""StrategyConfig: content-addressed id, strict fields, and a YAML round trip."""

from __future__ import annotations

import hashlib
import json

import pydantic
import pytest

from engine.config.models import ADDED_SETTINGS, StrategyConfig
from engine.errors import InputError, NotFoundError
from engine.strategies import get
from tests.config.factories import make_config, make_evidence

SLOW_DEFAULT = get("sma_crossover").params.model_fields["slow"].default


# -- identity --------------------------------------------------------------------------------


def _reversed(mapping: dict) -> dict:
    """``mapping`` with its keys in reverse order, nested mappings too."""
    return {k: _reversed(v) if isinstance(v, dict) else v for k, v in reversed(mapping.items())}


def test_same_trading_content_in_any_field_order_gets_the_same_id():
    content = {
        "strategy": "sma_crossover",
        "params": {"fast": 10, "slow": 50},
        "universe": ["AAPL", "GE"],
        "settings": {"fees": 0.002, "slippage": 0.001},
        "created_by": "ana",
    }
    first = StrategyConfig.model_validate(content)
    second = StrategyConfig.model_validate(_reversed(content))
    assert list(_reversed(content)["params"]) == ["slow", "fast"]
    assert first.config_id == second.config_id


def test_evidence_notes_and_author_do_not_change_the_id():
    plain = make_config(evidence=None)
    found_again = make_config(
        evidence=make_evidence(oos={"sharpe": 0.3}, n_trials=900),
        notes="found again on fresher data",
        created_by="bo",
    )
    assert found_again.config_id == plain.config_id


def test_params_left_at_their_default_are_the_same_config():
    implicit = make_config(params={"fast": 10})
    explicit = make_config(params={"fast": 10, "slow": SLOW_DEFAULT})
    assert implicit.params == {"fast": 10, "slow": SLOW_DEFAULT}
    assert implicit.config_id == explicit.config_id


@pytest.mark.parametrize(
    "change",
    [
        {"params": {"fast": 12, "slow": 50}},
        {"universe": ["AAPL", "GE", "F"]},
        {"universe": ["GE", "AAPL"]},  # order decides which entry gets cash first
        {"settings": {"fees": 0.002}},
        {"strategy": "rsi_reversion", "params": {}},
    ],
    ids=["params", "universe", "universe-order", "settings", "strategy"],
)
def test_anything_that_changes_trading_changes_the_id(change):
    assert make_config(**change).config_id != make_config().config_id


def test_a_setting_added_later_keeps_every_earlier_configs_id():
    """Configs stored before ``last_bar_entries`` (and the other added settings) existed
    hash without them; setting one counts."""
    config = make_config()
    before = config.model_dump(mode="json", include={"strategy", "params", "universe",
                                                     "bar_size", "settings"})  # fmt: skip
    for name in ADDED_SETTINGS:
        del before["settings"][name]
    text = json.dumps(before, sort_keys=True, separators=(",", ":"))
    assert config.config_id == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert make_config(settings={"last_bar_entries": "next_open"}).config_id != config.config_id


def test_id_is_the_sha256_of_the_canonical_trading_json():
    config = make_config()
    text = config.canonical_json()
    assert " " not in text and "\n" not in text
    content = json.loads(text)
    assert (
        list(content)
        == sorted(content)
        == ["bar_size", "params", "settings", "strategy", "universe"]
    )
    assert config.config_id == hashlib.sha256(text.encode()).hexdigest()[:16]


#: A config exported before intraday bar sizes and flat-by-close existed, with its id then.
STORED_BEFORE_INTRADAY = """\
id: dc10629632c5ad71
strategy: sma_crossover
params:
  fast: 10
  slow: 50
universe:
- AAPL
- GE
bar_size: 1d
settings:
  init_cash: 100000.0
  fees: 0.001
  slippage: 0.0005
  execution: next_open
  size: risk
  fraction: 0.2
  risk_per_trade: 0.01
  stop: atr
  atr_multiple: 2.0
  atr_window: 14
  trailing_stop: true
  max_positions: 5
  freq: 1D
  cash_sharing: true
created_by: ana
notes: ''
evidence: null
"""


def test_a_config_stored_before_intraday_bars_loads_with_its_id():
    config = StrategyConfig.from_yaml(STORED_BEFORE_INTRADAY)
    assert config.config_id == "dc10629632c5ad71"
    assert (config.bar_size, config.settings.flat_by_close) == ("1d", False)
    # Written out again, it still carries that id.
    assert StrategyConfig.from_yaml(config.to_yaml()).config_id == "dc10629632c5ad71"


def test_an_intraday_config_trades_its_bar_size_and_being_flat_changes_the_id():
    intraday = make_config(bar_size="15m", settings={"stop": "atr"})
    assert intraday.settings.freq == "15min"  # the settings follow the bar size
    assert intraday.config_id != make_config(settings={"stop": "atr"}).config_id
    flat = make_config(bar_size="15m", settings={"stop": "atr", "flat_by_close": True})
    assert flat.config_id != intraday.config_id
    assert StrategyConfig.from_yaml(flat.to_yaml()) == flat


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bar_size": "2m"}, "Input should be '1m', '5m', '15m', '30m', '1h' or '1d'"),
        ({"bar_size": "5m", "settings": {"freq": "1D"}}, "bar_size '5m' needs settings.freq '5min'"),
        (
            {"settings": {"flat_by_close": True, "flat_minutes_before_close": 15}},
            "daily bars have no bar that ends before the close",
        ),
        (
            {"bar_size": "5m", "settings": {"flat_minutes_before_close": 15}},
            "flat_minutes_before_close needs flat_by_close",
        ),
    ],
    ids=["unknown-size", "freq-mismatch", "minutes-on-daily", "minutes-without-flat"],
)
def test_bar_sizes_and_flat_rules_that_cannot_trade_are_refused(changes, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        make_config(**changes)


# -- strict fields ---------------------------------------------------------------------------


def test_a_parameter_the_strategy_does_not_know_is_rejected_with_a_suggestion():
    with pytest.raises(pydantic.ValidationError, match=r"'fsat'.*did you mean 'fast'"):
        make_config(params={"fsat": 10, "slow": 50})


def test_parameters_the_strategy_rejects_are_rejected():
    with pytest.raises(pydantic.ValidationError, match="slow"):
        make_config(params={"fast": 50, "slow": 10})


def test_an_unknown_strategy_is_rejected_with_a_suggestion():
    with pytest.raises(pydantic.ValidationError, match="did you mean 'sma_crossover'"):
        make_config(strategy="sma_crosover")


def test_an_unknown_field_is_rejected():
    with pytest.raises(pydantic.ValidationError, match="stop_loss"):
        make_config(stop_loss=0.05)


def test_universe_is_upper_cased():
    assert make_config(universe=[" aapl", "ge "]).universe == ["AAPL", "GE"]


@pytest.mark.parametrize(
    ("universe", "message"),
    [
        ([], "universe is empty"),
        (["AAPL", "aapl"], "listed twice: AAPL"),
        (["AAPL", "$$"], "'\\$\\$'"),
    ],
)
def test_bad_universes_are_rejected(universe, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        make_config(universe=universe)


def test_a_config_cannot_be_changed_after_it_is_built():
    config = make_config()
    with pytest.raises(pydantic.ValidationError):
        config.universe = ["TSLA"]


def test_metrics_that_could_not_be_computed_become_none():
    evidence = make_evidence(oos={"sharpe": float("nan"), "sortino": float("inf")})
    assert evidence.out_of_sample["sharpe"] is None
    assert evidence.out_of_sample["sortino"] is None


# -- YAML ------------------------------------------------------------------------------------


def test_yaml_round_trip_gives_back_the_same_config_with_its_evidence():
    config = make_config(notes="trend on large caps")
    again = StrategyConfig.from_yaml(config.to_yaml())
    assert again == config
    assert again.evidence.folds[0].params == {"fast": 10, "slow": 50}


def test_yaml_is_readable_and_stable():
    text = make_config().to_yaml()
    assert text == make_config().to_yaml()
    top_keys = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]
    assert top_keys[:6] == ["id", "strategy", "params", "universe", "bar_size", "settings"]
    assert top_keys[-1] == "evidence"
    assert f"id: {make_config().config_id}" in text


def _yaml_with(extra: str) -> str:
    return make_config(evidence=None).to_yaml().replace("id: ", "# id: ") + extra


def test_yaml_with_an_unknown_field_names_it_and_suggests_the_right_one():
    with pytest.raises(InputError) as caught:
        StrategyConfig.from_yaml(_yaml_with("notez: typo\n"), source="my.yaml")
    message = str(caught.value)
    assert "my.yaml" in message
    assert "unknown field 'notez'" in message
    assert "did you mean 'notes'" in message


def test_yaml_with_an_unknown_settings_field_names_its_path():
    text = _yaml_with("").replace("settings:\n", "settings:\n  feez: 0.01\n")
    with pytest.raises(InputError, match=r"unknown field 'settings\.feez'.*did you mean 'fees'"):
        StrategyConfig.from_yaml(text)


def test_yaml_with_a_missing_field_says_to_add_it():
    text = "strategy: sma_crossover\nuniverse: [AAPL]\n"
    with pytest.raises(InputError, match="missing field 'created_by': add it"):
        StrategyConfig.from_yaml(text)


def test_yaml_whose_trading_fields_were_edited_after_export_is_refused():
    text = make_config().to_yaml().replace("fast: 10", "fast: 12")
    with pytest.raises(InputError, match="edited after export") as caught:
        StrategyConfig.from_yaml(text)
    assert "delete the `id:` line" in caught.value.hint


def test_yaml_that_is_not_a_mapping_or_not_yaml_says_so():
    with pytest.raises(InputError, match="mapping"):
        StrategyConfig.from_yaml("- AAPL\n- GE\n")
    with pytest.raises(InputError, match="not valid YAML at line"):
        StrategyConfig.from_yaml("strategy: [sma\nuniverse: x\n")


def test_a_missing_yaml_file_is_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="no config file"):
        StrategyConfig.from_yaml_file(tmp_path / "nope.yaml")


def test_a_yaml_file_loads(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(make_config().to_yaml())
    assert StrategyConfig.from_yaml_file(path) == make_config()


def test_a_bar_size_that_disagrees_with_the_settings_frequency_is_rejected():
    with pytest.raises(pydantic.ValidationError, match="bar_size '1d' needs settings.freq '1D'"):
        make_config(settings={"freq": "1h"})
