"""The guard: bad strategies and bad bars give one clear error; missing bars get no signals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine import strategies
from engine.data.bars import Bars
from engine.data.sample import sample_bars
from engine.errors import InputError
from engine.strategies import Signals, Strategy, StrategyError, StrategyParams
from tests.strategies.helpers import make_bars, random_walk_bars


class NoParams(StrategyParams):
    pass


def strategy_returning(make, name="test_bad") -> Strategy:
    """A strategy whose signal function returns ``make(bars)``."""
    return Strategy(name=name, params=NoParams, signal_fn=lambda bars, params: make(bars))


def rising(bars):
    return bars.close > bars.close.shift(1)


BARS = make_bars({"AAA": [10, 11, 12, 11, 13, 14], "BBB": [5, 4, 6, 7, 6, 8]})


# -- what a strategy returns -----------------------------------------------------------


@pytest.mark.parametrize(
    ("returns", "complaint"),
    [
        (lambda b: (rising(b), ~rising(b)), "returned tuple, expected Signals"),
        (
            lambda b: Signals(rising(b).to_numpy(), rising(b)),
            "entries is a ndarray, expected a DataFrame",
        ),
        (
            lambda b: Signals(rising(b).iloc[1:], rising(b)),
            r"entries has shape \(5, 2\), expected \(6, 2\)",
        ),
        (
            lambda b: Signals(rising(b), rising(b).shift(1, freq="B")),
            r"exits is not indexed by the bars' dates \(row 0: 2024-01-02 00:00:00 instead of "
            r"2024-01-01 00:00:00\)",
        ),
        (
            lambda b: Signals(rising(b)[["BBB", "AAA"]], rising(b)),
            r"entries columns .* \(column 0: 'BBB' instead of 'AAA'\)",
        ),
        (
            lambda b: Signals(rising(b).astype(float), rising(b)),
            "entries must be boolean, found dtype float64",
        ),
        (
            lambda b: Signals(rising(b), rising(b).astype("boolean").where(rising(b))),
            "exits has missing values",
        ),
        (
            lambda b: Signals(rising(b), rising(b), -b.close),
            "stop_distance must be a non-negative price distance; it is -10.0 on 2024-01-01",
        ),
        (
            lambda b: Signals(rising(b), rising(b), b.close * np.inf),
            "non-negative price distance; it is inf",
        ),
        (
            lambda b: Signals(rising(b), rising(b), rising(b)),
            "stop_distance must be a price distance",
        ),
    ],
)
def test_a_misbehaving_strategy_gets_one_error_naming_it(returns, complaint):
    with pytest.raises(StrategyError, match=complaint) as raised:
        strategies.compute_signals(strategy_returning(returns), BARS, {})
    assert raised.value.message.startswith("strategy 'test_bad': ")
    assert raised.value.strategy == "test_bad"


def test_a_strategy_that_raises_is_reported_by_name_with_the_cause():
    def broken(bars, params):
        return 1 / 0

    strategy = Strategy(name="test_broken", params=NoParams, signal_fn=broken)
    with pytest.raises(
        StrategyError, match="strategy 'test_broken': failed with ZeroDivisionError"
    ) as raised:
        strategies.compute_signals(strategy, BARS)
    assert isinstance(raised.value.__cause__, ZeroDivisionError)


def test_a_strategys_own_input_error_keeps_its_hint():
    def picky(bars, params):
        raise InputError("needs volume data", hint="ingest volume")

    strategy = Strategy(name="test_picky", params=NoParams, signal_fn=picky)
    with pytest.raises(StrategyError) as raised:
        strategies.compute_signals(strategy, BARS)
    assert str(raised.value) == "strategy 'test_picky': needs volume data (ingest volume)"


PERTURBATIONS = [
    "drop_row",
    "reverse_rows",
    "shift_dates",
    "swap_columns",
    "drop_column",
    "extra_column",
    "rename_column",
    "as_int",
]


def perturb(frame: pd.DataFrame, how: str, at: int) -> pd.DataFrame:
    at = at % len(frame)
    if how == "drop_row":
        return frame.drop(frame.index[at])
    if how == "reverse_rows":
        return frame.iloc[::-1]
    if how == "shift_dates":
        return frame.set_axis(frame.index + pd.Timedelta(days=1 + at))
    if how == "swap_columns":
        return frame[[frame.columns[-1], *frame.columns[1:-1], frame.columns[0]]]
    if how == "drop_column":
        return frame.drop(columns=frame.columns[at % frame.shape[1]])
    if how == "extra_column":
        return frame.assign(EXTRA=False)
    if how == "rename_column":
        return frame.rename(columns={frame.columns[0]: "OTHER"})
    return frame.astype(int)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(3, 40),
    symbols=st.integers(2, 5),
    how=st.sampled_from(PERTURBATIONS),
    on=st.sampled_from(["entries", "exits", "stop_distance"]),
    at=st.integers(0, 1000),
)
def test_the_guard_never_lets_misaligned_signals_through(rows, symbols, how, on, at):
    assume(not (how == "as_int" and on == "stop_distance"))  # whole-dollar stops are fine
    bars = random_walk_bars(seed=rows * 7 + symbols, rows=rows, symbols=symbols)

    def make(b):
        frames = {"entries": rising(b), "exits": ~rising(b), "stop_distance": b.close * 0.05}
        frames[on] = perturb(frames[on], how, at)
        return Signals(**frames)

    with pytest.raises(StrategyError, match="strategy 'test_bad'"):
        strategies.compute_signals(strategy_returning(make), bars)


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 40), symbols=st.integers(1, 5))
def test_aligned_signals_pass_unchanged(rows, symbols):
    bars = random_walk_bars(seed=rows + 100 * symbols, rows=rows, symbols=symbols)
    made = Signals(rising(bars), ~rising(bars), bars.close * 0.05)
    signals = strategies.compute_signals(strategy_returning(lambda b: made), bars)
    pd.testing.assert_frame_equal(signals.entries, made.entries)
    pd.testing.assert_frame_equal(signals.exits, made.exits)
    pd.testing.assert_frame_equal(signals.stop_distance, made.stop_distance)


# -- bad bars --------------------------------------------------------------------------


def test_an_empty_universe_is_a_clear_error():
    empty = BARS.select([])
    with pytest.raises(InputError, match="sma_crossover: the universe is empty") as raised:
        strategies.compute_signals("sma_crossover", empty)
    assert "--symbols" in raised.value.hint


def test_no_bars_in_the_dates_is_a_clear_error():
    with pytest.raises(InputError, match="no bars in the chosen dates"):
        strategies.compute_signals("sma_crossover", BARS.between("2030-01-01", "2030-02-01"))


def test_a_window_longer_than_the_data_says_how_many_bars_it_needs():
    bars = random_walk_bars(seed=1, rows=50, symbols=2)
    with pytest.raises(InputError) as raised:
        strategies.compute_signals("sma_crossover", bars, {"fast": 10, "slow": 200})
    assert raised.value.message == (
        "sma_crossover with fast=10, slow=200 needs at least 201 bars; the data has 50"
    )
    assert "longer history" in raised.value.hint


def test_just_enough_bars_for_the_window_is_accepted():
    bars = random_walk_bars(seed=1, rows=201, symbols=2)
    signals = strategies.compute_signals("sma_crossover", bars, {"fast": 10, "slow": 200})
    assert len(signals.entries) == 201


def test_bars_riddled_with_holes_are_refused_naming_the_symbol():
    bars = random_walk_bars(seed=2, rows=100, symbols=2)
    holey = bars.close.copy()
    holey.iloc[1:-1:3, 1] = np.nan  # a third of S1's bars are gone: tolerable
    holey.iloc[2:-1:3, 1] = np.nan  # two thirds: not a price history any more
    bad = Bars(bars.open, bars.high, bars.low, holey, bars.volume)
    with pytest.raises(InputError, match=r"mostly missing .*: S1 6\d%\)"):
        strategies.compute_signals("bollinger_reversion", bad)


def test_bars_with_no_close_at_all_are_refused():
    bars = random_walk_bars(seed=3, rows=30, symbols=2)
    nothing = bars.close * np.nan
    with pytest.raises(InputError, match="every close is missing"):
        strategies.compute_signals(
            "bollinger_reversion", Bars(bars.open, bars.high, bars.low, nothing, bars.volume)
        )


def test_bars_out_of_date_order_are_refused():
    backwards = BARS._map(lambda frame: frame.iloc[::-1])
    with pytest.raises(InputError, match="in date order"):
        strategies.compute_signals("bollinger_reversion", backwards, {"window": 3})


# -- ragged panels ---------------------------------------------------------------------


def test_a_symbol_listed_late_gets_no_signal_before_its_first_bar():
    # Real data: FB lists in May 2012; the others trade all along.
    bars = sample_bars(["AAPL", "FB", "GE"], start="2011-06-01", end="2013-03-01")
    first_bar = bars.close["FB"].first_valid_index()
    alone = sample_bars(["AAPL", "GE"], start="2011-06-01", end="2013-03-01")
    for name in ["sma_crossover", "rsi_reversion", "donchian_breakout", "bollinger_reversion"]:
        signals = strategies.compute_signals(name, bars)
        before = signals.entries.index < first_bar
        assert not signals.entries.loc[before, "FB"].any(), name
        assert not signals.exits.loc[before, "FB"].any(), name
        assert signals.entries["FB"].any(), f"{name} never trades FB once it lists"
        # The late listing changes nothing for the symbols that were there.
        solo = strategies.compute_signals(name, alone)
        pd.testing.assert_frame_equal(signals.entries[["AAPL", "GE"]], solo.entries)


def test_signals_on_bars_that_do_not_exist_are_dropped():
    # A careless strategy that forward-fills prices would trade on days with no bar.
    bars = random_walk_bars(seed=4, rows=30, symbols=3, listed_from=[0, 10, 25])
    always = strategy_returning(
        lambda b: Signals(b.close.notna() | True, b.close.isna(), b.close.ffill().fillna(1.0))
    )
    signals = strategies.compute_signals(always, bars)
    has_bar = bars.close.notna()
    assert (signals.entries == has_bar).all().all()
    assert not signals.exits.any().any()
    assert (signals.stop_distance.notna() == has_bar).all().all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(
        [
            "sma_crossover",
            "rsi_reversion",
            "donchian_breakout",
            "bollinger_reversion",
            "momentum_rotation",
        ]
    ),
    seed=st.integers(0, 10_000),
    listed_from=st.lists(st.integers(0, 150), min_size=3, max_size=4),
)
def test_builtins_give_aligned_booleans_and_nothing_on_missing_bars(name, seed, listed_from):
    listed_from[0] = 0  # someone trades from the start
    bars = random_walk_bars(seed, rows=200, symbols=len(listed_from), listed_from=listed_from)
    params = {"momentum_rotation": {"lookback": 20, "top_n": 1, "rebalance_every": 5}}.get(name, {})
    signals = strategies.compute_signals(name, bars, params)
    no_bar = bars.close.isna().to_numpy()
    for frame in (signals.entries, signals.exits):
        assert frame.index.equals(bars.index) and list(frame.columns) == bars.symbols
        assert all(dtype == np.bool_ for dtype in frame.dtypes)
        assert not frame.to_numpy()[no_bar].any()


def test_a_strategy_writing_into_its_bars_leaves_the_callers_bars_alone():
    def scribbler(bars, params):
        bars.close.iloc[0, 0] = -1.0
        bars.close.fillna(0.0, inplace=True)
        bars.high["AAA"] = 0.0
        return Signals(bars.close > 0, bars.close < 0)

    before = {field: BARS[field].copy() for field in ("close", "high")}
    strategies.compute_signals(
        Strategy(name="test_scribbler", params=NoParams, signal_fn=scribbler), BARS
    )
    strategies.signals_for_grid(
        Strategy(name="test_scribbler", params=NoParams, signal_fn=scribbler),
        BARS,
        [{}],
        progress=False,
    )
    for field, frame in before.items():
        pd.testing.assert_frame_equal(BARS[field], frame)
