"""The built-ins' array forms give their pandas signals to the bit: entries, exits, stop distances.

The live loop and every other caller of ``compute_signals`` take a built-in's array form
(:mod:`engine.strategies.arrays`); backtests made before, and the readable reference, are
the pandas signal functions. A replay trades as its backtest did only if the two agree on
every bar, including NaN holes, the warm-up and ties within rounding noise.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import strategies
from engine.data.bars import Bars
from engine.data.sample import sample_bars
from engine.strategies import arrays, indicators
from engine.strategies.base import Signals, StrategyError
from engine.strategies.guard import compute_signals
from tests.strategies.helpers import random_walk_bars

#: Params sets per built-in with an array form: the defaults, and short and odd windows.
CASES = {
    "sma_crossover": [{}, {"fast": 1, "slow": 2}, {"fast": 5, "slow": 60}],
    "rsi_reversion": [{}, {"window": 2, "lower": 10, "upper": 90}, {"window": 30}],
    "donchian_breakout": [
        {},
        {"entry_window": 1, "exit_window": 1, "atr_window": 1, "atr_stop": 0.5},
        {"entry_window": 55, "exit_window": 20, "atr_window": 50, "atr_stop": 3.0},
    ],
    "bollinger_reversion": [{}, {"window": 2, "k": 0.5}, {"window": 50, "k": 2.5}],
    "momentum_rotation": [
        {"lookback": 20, "top_n": 2, "rebalance_every": 5},
        {"lookback": 1, "top_n": 1, "rebalance_every": 1},
        {"top_n": 2},  # the intraday bars have three symbols
    ],
}
#: Every built-in but the ML classifier (its model, not pandas, is its cost) has one.
WITH_ARRAYS = sorted(CASES)


def pandas_signals(name: str, bars: Bars, params) -> Signals:
    """The signals of the strategy's pandas signal function, through the same guard."""
    return compute_signals(dataclasses.replace(strategies.get(name), array_fn=None), bars, params)


def assert_same_bits(a: np.ndarray, b: np.ndarray, what: str) -> None:
    """Equal to the last bit (any NaN equals any NaN, nothing else is loosened)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, what
    nan = np.isnan(a)
    assert (nan == np.isnan(b)).all(), f"{what}: NaN in one and not the other"
    differ = a[~nan].view(np.int64) != b[~nan].view(np.int64)
    assert not differ.any(), f"{what}: {a[~nan][differ][:3]} != {b[~nan][differ][:3]}"


def assert_same_signals(name: str, bars: Bars, params) -> Signals:
    fast = compute_signals(name, bars, params)
    slow = pandas_signals(name, bars, params)
    for kind in ("entries", "exits"):
        pd.testing.assert_frame_equal(getattr(fast, kind), getattr(slow, kind), obj=kind)
    assert (fast.stop_distance is None) == (slow.stop_distance is None)
    if slow.stop_distance is not None:
        pd.testing.assert_index_equal(fast.stop_distance.index, slow.stop_distance.index)
        pd.testing.assert_index_equal(fast.stop_distance.columns, slow.stop_distance.columns)
        assert_same_bits(fast.stop_distance, slow.stop_distance, f"{name} stop_distance")
    return fast


def test_every_builtin_but_the_ml_classifier_has_an_array_form():
    have = sorted(n for n in strategies.names() if strategies.get(n).array_fn is not None)
    assert have == WITH_ARRAYS


@pytest.fixture(scope="module")
def real_daily() -> Bars:
    """Real adjusted daily bars, ragged (FB, GOOG list late; IBM, MSFT start late in the sample)."""
    return sample_bars(
        ["AAPL", "BA", "CAT", "DELL", "F", "FB", "GE", "GOOG", "IBM", "MSFT"],
        start="2009-01-01",
        end="2013-12-31",
    )


@pytest.fixture(scope="module")
def real_intraday() -> Bars:
    from tests.backtest.conftest import intraday_bars

    return intraday_bars.__wrapped__()


@pytest.mark.parametrize(("name", "params"), [(n, p) for n in WITH_ARRAYS for p in CASES[n]])
def test_the_array_form_gives_the_pandas_signals_on_real_daily_bars(real_daily, name, params):
    signals = assert_same_signals(name, real_daily, params)
    assert signals.entries.to_numpy().sum() >= 5  # it trades: the comparison means something


@pytest.mark.parametrize(("name", "params"), [(n, p) for n in WITH_ARRAYS for p in CASES[n]])
def test_the_array_form_gives_the_pandas_signals_on_intraday_bars(real_intraday, name, params):
    assert_same_signals(name, real_intraday, params)


@pytest.mark.parametrize("name", WITH_ARRAYS)
def test_the_array_form_gives_the_pandas_signals_on_the_live_loops_windows(real_daily, name):
    # The live loop's 300-bar windows start anywhere: the rolling sums' rounding depends on
    # where, and the two paths must carry the same rounding from the same start.
    params = CASES[name][0]
    for start in range(0, len(real_daily) - 300, 97):
        assert_same_signals(name, real_daily.iloc(slice(start, start + 300)), params)


def _panel(draw) -> Bars:
    """Random walks in cents (exact ties are common), with flat stretches and NaN holes."""
    rows = draw(st.integers(min_value=70, max_value=160))
    n_symbols = draw(st.integers(min_value=3, max_value=5))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    close = np.round(40 * np.exp(np.cumsum(rng.normal(0, 0.02, (rows, n_symbols)), 0)), 2)
    flat = rng.random(rows) < draw(st.sampled_from([0.0, 0.3]))
    for t in np.flatnonzero(flat)[np.flatnonzero(flat) > 0]:
        close[t] = close[t - 1]  # unchanged closes: zero changes, equal averages
    spread = np.round(close * rng.uniform(0, 0.01, close.shape), 2)
    high, low = close + spread, close - spread
    for field in (close, high, low):
        field[rng.random(close.shape) < draw(st.sampled_from([0.0, 0.02]))] = np.nan
    close[: draw(st.integers(0, 30)), 0] = np.nan  # a symbol that lists late
    index = pd.bdate_range("2020-01-06", periods=rows, name="date")
    columns = [f"S{i}" for i in range(n_symbols)]

    def frame(values):
        return pd.DataFrame(values, index=index, columns=columns)

    return Bars(frame(close), frame(high), frame(low), frame(close), frame(close * 0 + 1e6))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_array_forms_agree_on_random_bars_with_ties_and_holes(data):
    bars = _panel(data.draw)
    name = data.draw(st.sampled_from(WITH_ARRAYS))
    params = data.draw(st.sampled_from(CASES[name]))
    strategy = strategies.get(name)
    made = strategies.make_params(strategy, params)
    if len(bars) <= strategy.warmup(made) or (
        name == "momentum_rotation" and made.top_n >= len(bars.symbols)
    ):
        return
    try:
        pandas_signals(name, bars, params)
    except strategies.InputError:  # bars too riddled for the guard: both refuse alike
        with pytest.raises(strategies.InputError):
            compute_signals(name, bars, params)
        return
    assert_same_signals(name, bars, params)


# -- the indicators -------------------------------------------------------------------


@pytest.fixture(scope="module")
def ragged() -> pd.DataFrame:
    """Closes with a late listing, holes, a flat stretch and an infinity."""
    close = random_walk_bars(3, 120, 4, listed_from=[0, 0, 25, 60]).close.round(2)
    close.iloc[40:45, 1] = np.nan
    close.iloc[70:90, 0] = close.iloc[69, 0]
    close.iloc[100, 3] = np.inf
    return close


@pytest.mark.parametrize("window", [1, 2, 14, 50])
def test_the_array_indicators_are_the_pandas_ones_to_the_bit(ragged, window):
    c = ragged
    h, low = c + 0.5, c - 0.5
    values = c.to_numpy()
    pairs = {
        "sma": (arrays.sma(values, window), indicators.sma(c, window)),
        "rsi": (arrays.rsi(values, window), indicators.rsi(c, window)),
        "atr": (arrays.atr(h.to_numpy(), low.to_numpy(), values, window),
                indicators.atr(h, low, c, window)),
        "prior_high": (arrays.prior_high(values, window), indicators.prior_high(c, window)),
        "prior_low": (arrays.prior_low(values, window), indicators.prior_low(c, window)),
        "trailing_return": (arrays.trailing_return(values, window),
                            indicators.trailing_return(c, window)),
        "ffill": (arrays.ffill(values), c.ffill()),
    }  # fmt: skip
    for (lower, middle, upper), (p_lower, p_middle, p_upper) in [
        (arrays.bollinger(values, window, 2.0), indicators.bollinger(c, window, 2.0))
    ]:
        pairs |= {"bollinger lower": (lower, p_lower), "bollinger middle": (middle, p_middle),
                  "bollinger upper": (upper, p_upper)}  # fmt: skip
    for what, (mine, theirs) in pairs.items():
        assert_same_bits(mine, theirs.to_numpy(), what)


@given(st.lists(st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=3, max_size=3),
                min_size=1, max_size=6))
def test_a_columns_last_valid_value_is_the_last_row_of_its_forward_fill(rows):
    """A live step's marks: the newest close of each symbol, else the one before it."""
    values = np.array([[np.nan if v is None else v for v in row] for row in rows])
    assert_same_bits(arrays.last_valid(values), pd.DataFrame(values).ffill().to_numpy()[-1],
                     "last_valid")  # fmt: skip


def test_without_pandas_kernels_the_public_rolling_gives_the_same_numbers(ragged, monkeypatch):
    # A pandas that keeps its window kernels elsewhere: slower, never different.
    values = ragged.to_numpy()
    expected = arrays.sma(values, 14), arrays.rolling_std(values, 14)
    monkeypatch.setattr(arrays, "_kernels", None)
    assert_same_bits(arrays.sma(values, 14), expected[0], "sma")
    assert_same_bits(arrays.rolling_std(values, 14), expected[1], "std")


# -- the guard on the array path -------------------------------------------------------


def _with_arrays(answer):
    base = strategies.get("sma_crossover")
    return dataclasses.replace(base, array_fn=lambda bars, params: answer(bars))


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (lambda b: (np.zeros((1, 1), bool), np.zeros(b.close.shape, bool), None), "entries"),
        (lambda b: (np.zeros(b.close.shape), np.zeros(b.close.shape, bool), None), "boolean"),
        (lambda b: (np.zeros(b.close.shape, bool),) * 2 + (np.full(b.close.shape, -1.0),),
         "non-negative"),
        (lambda b: "signals", "must return"),
    ],
)  # fmt: skip
def test_a_wrong_array_answer_is_one_strategy_error(answer, says):
    bars = random_walk_bars(1, 80, 2)
    with pytest.raises(StrategyError, match=says):
        compute_signals(_with_arrays(answer), bars, {})


def test_the_array_path_gives_no_signal_on_a_bar_a_symbol_lacks():
    bars = random_walk_bars(1, 80, 2, listed_from=[0, 30])
    shape = bars.close.shape
    always = _with_arrays(lambda b: (np.ones(shape, bool), np.ones(shape, bool), np.ones(shape)))
    signals = compute_signals(always, bars, {})
    assert not signals.entries["S1"].iloc[:30].any() and signals.entries["S1"].iloc[30:].all()
    assert signals.stop_distance["S1"].iloc[:30].isna().all()


def test_the_engines_atr_stop_and_target_are_the_pandas_atrs(real_daily):
    from engine.backtest.settings import BacktestSettings
    from engine.backtest.stops import stop_distances, target_distances

    settings = BacktestSettings(stop="atr", atr_multiple=3, atr_window=20, take_profit="atr",
                                take_profit_at=2)  # fmt: skip
    signals = compute_signals("sma_crossover", real_daily, {})
    stop = stop_distances(real_daily, signals, settings)
    pandas_atr = indicators.atr(real_daily.high, real_daily.low, real_daily.close, 20).to_numpy()
    assert_same_bits(stop, 3 * pandas_atr, "stop")
    assert_same_bits(target_distances(real_daily, settings, stop), 2 * pandas_atr, "target")


def test_the_lookahead_check_judges_the_array_form_the_loop_trades():
    # A strategy's array form is what compute_signals runs, so the look-ahead check (which
    # recomputes signals on cut histories through it) judges that form, not only its pandas twin.
    def tomorrow_is_up(bars, params):
        close = bars.close.to_numpy(dtype=float)
        later = np.full(close.shape, np.nan)
        later[:-1] = close[1:]
        return later > close, later < close, None

    honest = strategies.get("sma_crossover")
    peeking = dataclasses.replace(honest, name="test_peeking_arrays", array_fn=tomorrow_is_up)
    bars = sample_bars(["AAPL", "GE"], start="2011-01-01", end="2012-12-31")
    assert strategies.check_lookahead(honest, bars, {}).passed
    found = strategies.check_lookahead(peeking, bars, {})
    assert not found.passed and found.violations
