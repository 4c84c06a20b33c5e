"""The look-ahead check catches a strategy that peeks at later bars, and passes the built-ins."""

from __future__ import annotations

import pytest

from engine import strategies
from engine.data.sample import sample_bars
from engine.errors import InputError
from engine.strategies import Signals, Strategy, StrategyParams

BARS = sample_bars(["AAPL", "CAT", "F", "GE"], start="2009-01-01", end="2012-12-31")


class PeekParams(StrategyParams):
    window: int = 5


def tomorrow_is_up(bars, params):
    """Buys today when tomorrow's close is higher: the classic off-by-one look-ahead."""
    tomorrow = bars.close.shift(-1)
    return Signals(entries=tomorrow > bars.close, exits=tomorrow < bars.close)


def below_the_full_sample_mean(bars, params):
    """Buys below the mean of ALL the closes, a level only known at the end of the data."""
    smoothed = bars.close.rolling(params.window).mean()
    return Signals(entries=smoothed < bars.close.mean(), exits=smoothed > bars.close.mean())


PEEKING = Strategy(name="test_tomorrow_is_up", params=PeekParams, signal_fn=tomorrow_is_up)
SUBTLE = Strategy(
    name="test_full_sample_mean",
    params=PeekParams,
    signal_fn=below_the_full_sample_mean,
    warmup=lambda p: p.window,
)


def test_a_strategy_reading_tomorrows_close_fails():
    result = strategies.check_lookahead(PEEKING, BARS, {})
    assert not result.passed
    assert result.points_checked == 12
    first = result.violations[0]
    # With the future cut at data_end, the signal on that very bar changed.
    assert first["date"] == first["data_end"]
    assert first["symbol"] in BARS.symbols
    assert "with the later bars" in first["what"]


def test_a_strategy_normalising_by_the_full_sample_fails():
    result = strategies.check_lookahead(SUBTLE, BARS, {"window": 10})
    assert not result.passed
    # Here it is not the last bar that moves, but signals long before the cut.
    assert any(v["date"] < v["data_end"] for v in result.violations)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("sma_crossover", {"fast": 10, "slow": 40}),
        ("rsi_reversion", {"window": 14, "lower": 30, "upper": 70}),
        (
            "donchian_breakout",
            {"entry_window": 20, "exit_window": 10, "atr_window": 14, "atr_stop": 2},
        ),
        ("bollinger_reversion", {"window": 20, "k": 2}),
        ("momentum_rotation", {"lookback": 63, "top_n": 2, "rebalance_every": 5}),
    ],
)
def test_every_builtin_passes_on_real_bars(name, params):
    signals = strategies.compute_signals(name, BARS, params)
    assert signals.entries.to_numpy().sum() >= 5, "too few signals for the check to mean anything"
    result = strategies.check_lookahead(name, BARS, params, points=12)
    assert result.passed, result.violations
    assert result.points_checked == 12


def test_the_check_needs_more_bars_than_the_warm_up():
    with pytest.raises(InputError, match="too few to check for look-ahead"):
        strategies.check_lookahead(
            "sma_crossover", BARS.iloc(slice(0, 41)), {"fast": 10, "slow": 40}
        )


def test_the_result_is_plain_data_for_the_evidence():
    result = strategies.check_lookahead(PEEKING, BARS, {}, points=3)
    as_dict = result.to_dict()
    assert as_dict["passed"] is False and as_dict["points_checked"] == 3
    assert {"date", "symbol", "what", "data_end"} <= set(as_dict["violations"][0])
