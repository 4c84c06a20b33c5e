"""BacktestSettings: frozen, strict, and explicit about what needs what."""

import pydantic
import pytest

from engine.backtest import BacktestSettings


def test_defaults_trade_at_the_next_open_with_costs():
    settings = BacktestSettings()
    assert settings.execution == "next_open"
    assert settings.fees > 0 and settings.slippage > 0
    assert settings.freq == "1D" and settings.bars_per_year == 252
    assert settings.max_positions == 5 and settings.cash_sharing


def test_unknown_fields_and_changes_are_refused():
    with pytest.raises(pydantic.ValidationError, match="extra"):
        BacktestSettings(fee=0.001)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        BacktestSettings().fees = 0.0  # type: ignore[misc]


def test_a_trailing_stop_needs_a_stop():
    with pytest.raises(pydantic.ValidationError, match="trailing_stop needs a stop"):
        BacktestSettings(trailing_stop=True)
    assert BacktestSettings(stop="atr", trailing_stop=True).trailing_stop


def test_settings_round_trip_through_json_as_a_config_keeps_them():
    settings = BacktestSettings(size="risk", stop="atr", risk_per_trade=0.005)
    assert BacktestSettings.model_validate_json(settings.model_dump_json()) == settings
