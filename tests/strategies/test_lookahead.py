"""The peeking checks catch a strategy that reads later bars or depends on where the data
begins, however rarely it signals, and pass the built-ins."""

from __future__ import annotations

import pytest

from engine import strategies
from engine.data.sample import sample_bars
from engine.errors import InputError
from engine.strategies import Signals, Strategy, StrategyParams
from engine.strategies.indicators import crossed_above, crossed_below

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
    # A cut just after every bar it trades on, and the evenly spaced ones.
    assert result.trading_bars >= 5
    assert result.points_checked > result.trading_bars
    warmup = strategies.check_warmup(name, BARS, params)
    assert warmup.passed, warmup.violations


def test_the_check_needs_more_bars_than_the_warm_up():
    with pytest.raises(InputError, match="too few to check for look-ahead"):
        strategies.check_lookahead(
            "sma_crossover", BARS.iloc(slice(0, 41)), {"fast": 10, "slow": 40}
        )


def test_the_result_is_plain_data_for_the_evidence():
    result = strategies.check_lookahead(PEEKING, BARS, {}, points=3)
    as_dict = result.to_dict()
    assert as_dict["passed"] is False and as_dict["points_checked"] >= 3
    assert {"date", "symbol", "what", "data_end"} <= set(as_dict["violations"][0])


class CrossParams(StrategyParams):
    fast: int = 10
    slow: int = 50


def sma_cross_on_tomorrows_close(bars, params):
    """An SMA crossover computed one bar early: it reads tomorrow's close, and trades rarely."""
    tomorrow = bars.close.shift(-1)
    fast, slow = tomorrow.rolling(params.fast).mean(), tomorrow.rolling(params.slow).mean()
    return Signals(entries=crossed_above(fast, slow), exits=crossed_below(fast, slow))


RARE_PEEK = Strategy(
    name="test_sma_on_tomorrow",
    params=CrossParams,
    signal_fn=sma_cross_on_tomorrows_close,
    warmup=lambda p: p.slow + 1,
)


def test_a_rare_one_bar_peek_is_caught_on_a_real_symbol():
    # About 30 crossings in eleven years of AAPL: a dozen evenly spaced cuts missed it.
    aapl = sample_bars(["AAPL"], start="2003-01-01", end="2013-12-31")
    assert strategies.compute_signals(RARE_PEEK, aapl, {}).entries.to_numpy().sum() < 40

    result = strategies.check_lookahead(RARE_PEEK, aapl, {})

    assert not result.passed
    first = result.violations[0]
    assert first["date"] == first["data_end"]  # the very bar it traded on
    assert "entries is True with the later bars and False without them" in first["what"] or (
        "exits is True with the later bars and False without them" in first["what"]
    )
    assert "could not have had" in result.detail()
    assert first["date"] in result.detail()


class SpanParams(StrategyParams):
    span: int = 20


def ema_crossover_without_warmup(bars, params):
    """EMAs seeded on the first bar, with no warm-up declared: they remember where data began."""
    fast = bars.close.ewm(span=params.span).mean()
    slow = bars.close.ewm(span=3 * params.span).mean()
    return Signals(entries=crossed_above(fast, slow), exits=crossed_below(fast, slow))


def above_the_expanding_mean(bars, params):
    """Long above the mean of every close so far: a level that depends on the first bar."""
    mean = bars.close.expanding().mean()
    return Signals(entries=crossed_above(bars.close, mean), exits=crossed_below(bars.close, mean))


@pytest.mark.parametrize(
    "strategy",
    [
        Strategy(
            name="test_ema_no_warmup", params=SpanParams, signal_fn=ema_crossover_without_warmup
        ),
        Strategy(
            name="test_expanding_mean",
            params=SpanParams,
            signal_fn=above_the_expanding_mean,
            warmup=lambda p: 3 * p.span,
        ),
    ],
    ids=["ema", "expanding_mean"],
)
def test_signals_that_depend_on_where_the_data_begins_fail_the_warm_up_check(strategy):
    # Neither reads the future: the look-ahead check passes them.
    assert strategies.check_lookahead(strategy, BARS, {}).passed

    result = strategies.check_warmup(strategy, BARS, {})

    assert not result.passed
    first = result.violations[0]
    assert first["symbol"] in BARS.symbols
    assert first["bars_after_start"] >= result.warmup
    assert "when the history starts" in first["what"]
    assert "where the data begins" in result.detail()


def test_the_warm_up_check_needs_room_after_the_warm_up():
    with pytest.raises(InputError, match="too few for the warm-up check"):
        strategies.check_warmup("sma_crossover", BARS.iloc(slice(0, 60)), {"fast": 10, "slow": 40})
