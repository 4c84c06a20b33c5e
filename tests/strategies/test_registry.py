"""The registry: names, lookup with "did you mean", and params built from user input."""

from __future__ import annotations

import subprocess
import sys

import pydantic
import pytest

from engine import strategies
from engine.errors import InputError, NotFoundError
from engine.strategies import registry
from engine.strategies.base import Signals, StrategyParams

BUILTINS = [
    "bollinger_reversion",
    "donchian_breakout",
    "momentum_rotation",
    "rsi_reversion",
    "sma_crossover",
]


@pytest.fixture
def scratch_names():
    """Names registered by a test are removed afterwards, so the registry stays as shipped."""
    added: list[str] = []
    yield added
    for name in added:
        registry._STRATEGIES.pop(name, None)


def test_names_lists_the_builtins():
    assert set(BUILTINS) <= set(strategies.names())
    assert strategies.names() == sorted(strategies.names())


def test_unknown_strategy_suggests_the_nearest_name_and_lists_all():
    with pytest.raises(NotFoundError) as raised:
        strategies.get("sma_crosover")
    assert "unknown strategy 'sma_crosover'; did you mean 'sma_crossover'?" in str(raised.value)
    assert all(name in raised.value.hint for name in BUILTINS)


def test_a_prefix_of_a_name_is_suggested_too():
    with pytest.raises(NotFoundError, match="did you mean 'sma_crossover'"):
        strategies.get("sma")


def test_a_name_like_nothing_gets_no_suggestion_but_the_list():
    with pytest.raises(NotFoundError) as raised:
        strategies.get("zzzz")
    assert "did you mean" not in raised.value.message
    assert "sma_crossover" in raised.value.hint


def test_unknown_parameter_suggests_the_nearest_field():
    with pytest.raises(InputError) as raised:
        strategies.make_params("sma_crossover", {"fsat": 5, "slow": 20})
    assert "sma_crossover has no parameter 'fsat'; did you mean 'fast'?" in raised.value.message
    assert "fast (int, default 10)" in raised.value.hint


def test_cli_strings_are_coerced_to_the_field_types():
    sma = strategies.make_params("sma_crossover", {"fast": "10", "slow": "30"})
    assert (sma.fast, sma.slow) == (10, 30)
    rsi = strategies.make_params("rsi_reversion", {"lower": "2.5", "upper": "97.5"})
    assert (rsi.lower, rsi.upper, rsi.window) == (2.5, 97.5, 14)


def test_fast_not_below_slow_is_an_error_naming_the_strategy():
    with pytest.raises(InputError) as raised:
        strategies.make_params("sma_crossover", {"fast": 50, "slow": 20})
    assert raised.value.message == (
        "invalid parameters for sma_crossover: fast (50) must be less than slow (20)"
    )


def test_rsi_lower_not_below_upper_is_an_error():
    with pytest.raises(InputError, match=r"lower \(80.0\) must be less than upper \(70.0\)"):
        strategies.make_params("rsi_reversion", {"lower": 80, "upper": 70})


def test_a_value_of_the_wrong_kind_names_the_field_and_the_value():
    with pytest.raises(InputError) as raised:
        strategies.make_params("sma_crossover", {"fast": "ten"})
    assert "invalid parameters for sma_crossover: fast='ten'" in raised.value.message


def test_an_out_of_range_value_says_the_range():
    with pytest.raises(InputError, match="atr_stop=-1.*greater than 0"):
        strategies.make_params("donchian_breakout", {"atr_stop": -1})


def test_params_are_frozen_and_reusable_as_given():
    params = strategies.make_params("sma_crossover", {"fast": 5, "slow": 20})
    with pytest.raises(pydantic.ValidationError):
        params.fast = 7
    assert strategies.make_params("sma_crossover", params) is params


def test_another_strategys_params_are_refused():
    rsi = strategies.make_params("rsi_reversion", {})
    with pytest.raises(
        InputError, match="sma_crossover takes SmaCrossoverParams, not RsiReversionParams"
    ):
        strategies.make_params("sma_crossover", rsi)


class _Needs(StrategyParams):
    level: float


def _level_signals(bars, params):
    return Signals(entries=bars.close > params.level, exits=bars.close < params.level)


def test_register_makes_a_strategy_callable_by_name(scratch_names):
    decorated = strategies.register("test_level", _Needs, "Long above a level.")(_level_signals)
    scratch_names.append("test_level")
    assert decorated is _level_signals
    assert "test_level" in strategies.names()
    strategy = strategies.get("test_level")
    assert strategy.params is _Needs and strategy.summary == "Long above a level."
    with pytest.raises(InputError, match="invalid parameters for test_level: level is required"):
        strategies.make_params("test_level", {})


def test_registering_a_taken_name_with_other_code_fails(scratch_names):
    strategies.register("test_taken", _Needs, "first")(_level_signals)
    scratch_names.append("test_taken")
    strategies.register("test_taken", _Needs, "reloaded")(_level_signals)  # same code: fine

    def other(bars, params):
        return _level_signals(bars, params)

    with pytest.raises(ValueError, match="already registered"):
        strategies.register("test_taken", _Needs, "other")(other)


def test_register_refuses_bad_names_and_a_symbol_parameter():
    with pytest.raises(ValueError, match="lower_snake_case"):
        strategies.register("Bad Name", _Needs, "x")

    class WithSymbol(StrategyParams):
        symbol: str = "AAPL"

    with pytest.raises(ValueError, match="may not be called 'symbol'"):
        strategies.register("test_symbol_param", WithSymbol, "x")


def test_a_strategy_says_when_its_signals_are_known(scratch_names):
    class Lagged(StrategyParams):
        window: int = 5

    @strategies.register(
        "yesterdays_breakout", Lagged, "Long above the prior high.", signals_known="before_close"
    )
    def yesterdays_breakout(bars, p):
        above = bars.close.shift(1) > bars.high.shift(2).rolling(p.window).max()
        return Signals(entries=above, exits=~above)

    scratch_names.append("yesterdays_breakout")
    strategies.check_execution("yesterdays_breakout", "close")  # reads earlier bars only
    strategies.check_execution("sma_crossover", "next_open")
    with pytest.raises(InputError, match="sma_crossover computes a bar's signal from that bar"):
        strategies.check_execution("sma_crossover", "close")
    with pytest.raises(ValueError, match="signals_known must be one of"):
        strategies.register("late", Lagged, "Late.", signals_known="after_close")


def test_a_builtins_name_cannot_be_taken_by_other_code(scratch_names):
    with pytest.raises(ValueError, match="already registered by engine.strategies.builtins"):
        strategies.register("sma_crossover", _Needs, "mine")(_level_signals)
    assert strategies.get("sma_crossover").params.__name__ == "SmaCrossoverParams"


def test_threads_asking_for_a_builtin_first_all_get_the_one_strategy():
    # A built-in's signal code is imported on its first lookup: threads asking at once
    # (the live loop's, a sweep's) all get the one registered strategy, its code complete.
    code = (
        "import sys\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from engine import strategies\n"
        "assert 'engine.strategies.builtins.signals.donchian_breakout' not in sys.modules\n"
        "with ThreadPoolExecutor(8) as pool:\n"
        "    got = list(pool.map(lambda _: strategies.get('donchian_breakout'), range(32)))\n"
        "assert all(s is got[0] for s in got) and got[0].fast is not None\n"
        "print(got[0].signal_fn.__module__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "engine.strategies.builtins.signals.donchian_breakout"
