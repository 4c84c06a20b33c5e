"""Each built-in on hand-built bars whose signal bars are known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine import strategies
from engine.data.sample import sample_bars
from engine.errors import InputError
from engine.strategies.builtins.signals.momentum_rotation import rebalance_days
from engine.strategies.indicators import crossed_above, crossed_below, sma
from tests.strategies.helpers import make_bars, rows_where


def test_sma_crossover_enters_on_the_cross_above_and_exits_on_the_cross_below():
    # fast=2, slow=4. UP: flat 10, a step to 20 on row 6 (fast 15 > slow 12.5, both 10
    # before), flat 20 (fast = slow: no signal), a drop to 5 on row 12 (12.5 < 16.25).
    # DOWN mirrors it: 20 then 10 on row 6 (cross below), 25 on row 12 (17.5 > 13.75).
    bars = make_bars({"UP": [10] * 6 + [20] * 6 + [5] * 4, "DOWN": [20] * 6 + [10] * 6 + [25] * 4})
    signals = strategies.compute_signals("sma_crossover", bars, {"fast": 2, "slow": 4})
    assert rows_where(signals.entries, "UP") == [6]
    assert rows_where(signals.exits, "UP") == [12]
    assert rows_where(signals.entries, "DOWN") == [12]
    assert rows_where(signals.exits, "DOWN") == [6]
    assert signals.stop_distance is None


def test_rsi_reversion_enters_crossing_up_through_lower_and_exits_above_upper():
    # window=2. TURN: three falls (RSI 0), a rise (RSI 50: crosses up through 30 on row 4),
    # then rises (RSI 100 > 70: exits on rows 5-7).
    # JUMP: two falls then +4 on row 3: RSI 0 -> 80 jumps straight past 70, so row 3 is an
    # exit and not an entry; row 4 is still 100 (exit), then flat reads 50 (nothing).
    bars = make_bars({"TURN": [10, 9, 8, 7, 8, 9, 10, 11], "JUMP": [10, 9, 8, 12, 12, 12, 12, 12]})
    signals = strategies.compute_signals(
        "rsi_reversion", bars, {"window": 2, "lower": 30, "upper": 70}
    )
    assert rows_where(signals.entries, "TURN") == [4]
    assert rows_where(signals.exits, "TURN") == [5, 6, 7]
    assert rows_where(signals.entries, "JUMP") == []
    assert rows_where(signals.exits, "JUMP") == [3, 4]


def test_donchian_breakout_enters_above_the_prior_high_with_an_atr_stop():
    # High = close + 1, low = close - 1. Row 4 closes 13 above the prior 3-bar high (11);
    # row 6 closes 9 below the prior 2-bar low (12). True ranges: 2, 2, 2, 2, 4 (gap up
    # from 10 to a 14 high), 2, 5 (gap down from 13 to an 8 low), 2; the 2-bar ATR on
    # row 4 is 3, on row 6 is 3.5, so the stops (2 ATRs) are 6 and 7.
    bars = make_bars({"X": [10, 10, 10, 10, 13, 13, 9, 9]})
    params = {"entry_window": 3, "exit_window": 2, "atr_window": 2, "atr_stop": 2}
    signals = strategies.compute_signals("donchian_breakout", bars, params)
    assert rows_where(signals.entries, "X") == [4]
    assert rows_where(signals.exits, "X") == [6]
    stop = signals.stop_distance["X"]
    assert np.isnan(stop.iloc[0])  # one true range is not a 2-bar average
    assert stop.iloc[4] == pytest.approx(6.0)
    assert stop.iloc[6] == pytest.approx(7.0)


def test_bollinger_reversion_enters_below_the_lower_band_and_exits_at_the_middle():
    # window=3, k=1. Row 3: [10, 10, 7] has mean 9 and std sqrt(2), so the lower band is
    # 7.59 and the close of 7 is below it. Rows 2, 4, 5 close at or above the mean.
    bars = make_bars({"X": [10, 10, 10, 7, 10, 10]})
    signals = strategies.compute_signals("bollinger_reversion", bars, {"window": 3, "k": 1})
    assert rows_where(signals.entries, "X") == [3]
    assert rows_where(signals.exits, "X") == [2, 4, 5]


def test_momentum_rotation_holds_the_best_trailing_return_and_rotates_on_mondays():
    # 3 weeks of weekdays from Monday 2024-01-01: rebalances on rows 0, 5, 10 (Mondays).
    # Row 5 ranks the 2-bar returns: A +15%, B 0%, C falling -> hold A. It is the first
    # ranking, inside the warm-up (2 + 5 bars): A was not seen to *join*, so no entry.
    # Row 10: A +6%, B +40% -> B joins (entry) and A leaves (exit).
    bars = make_bars(
        {
            "A": [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 19, 19, 19, 19, 19],
            "B": [10] * 9 + [12, 14, 14, 14, 14, 14],
            "C": list(range(30, 15, -1)),
        }
    )
    params = {"lookback": 2, "top_n": 1, "rebalance_every": 5}
    signals = strategies.compute_signals("momentum_rotation", bars, params)
    assert rows_where(signals.entries, "A") == []
    assert rows_where(signals.exits, "A") == [10]
    assert rows_where(signals.entries, "B") == [10]
    assert rows_where(signals.exits, "B") == []
    assert not signals.entries["C"].any() and not signals.exits["C"].any()


def test_momentum_rebalances_intraday_on_new_york_dates_at_a_sessions_first_bar():
    # In January a 19:30 post-market bar is 00:30 UTC the next day: still Friday's session.
    index = pd.DatetimeIndex(
        ["2024-01-05 15:55", "2024-01-05 19:30", "2024-01-08 04:00", "2024-01-08 09:30"]
    ).tz_localize("America/New_York")
    assert rebalance_days(index, 1).tolist() == [True, False, True, False]


def test_momentum_rebalance_days_depend_on_the_date_not_on_where_the_data_starts():
    index = pd.bdate_range("2024-01-01", periods=60)
    full = rebalance_days(index, 5)
    assert list(index[full].day_name().unique()) == ["Monday"]
    for start in (1, 3, 7):
        # Only the first bar of a shorter history differs (it always opens a block).
        assert (rebalance_days(index[start:], 5)[1:] == full[start + 1 :]).all()


def test_momentum_rotation_refuses_a_universe_no_larger_than_top_n():
    bars = make_bars({"A": list(range(10, 40)), "B": list(range(40, 10, -1))})
    with pytest.raises(InputError, match="top_n=2 holds the whole universe of 2 symbols"):
        strategies.compute_signals("momentum_rotation", bars, {"lookback": 5, "top_n": 2})


@pytest.mark.parametrize(
    "name",
    [
        "sma_crossover",
        "rsi_reversion",
        "donchian_breakout",
        "bollinger_reversion",
        "momentum_rotation",
    ],
)
def test_every_builtin_documents_what_it_trades_on_and_its_parameters(name):
    strategy = strategies.get(name)
    module = __import__(strategy.signal_fn.__module__, fromlist=["_"])
    assert "long" in strategy.summary.lower() or "hold" in strategy.summary.lower()
    assert len(module.__doc__.strip().splitlines()) >= 3
    for key, field in strategy.params.model_fields.items():
        assert field.description, f"{name}.{key} has no description"
    assert strategy.params.model_config["frozen"]


def test_sma_crossover_matches_the_textbook_definition_on_real_bars():
    bars = sample_bars(["AAPL", "DELL", "GE"], start="2010-01-01")
    signals = strategies.compute_signals("sma_crossover", bars, {"fast": 10, "slow": 30})
    fast, slow = sma(bars.close, 10), sma(bars.close, 30)
    pd.testing.assert_frame_equal(signals.entries, crossed_above(fast, slow), check_names=False)
    pd.testing.assert_frame_equal(signals.exits, crossed_below(fast, slow), check_names=False)
    assert signals.entries.to_numpy().sum() > 10


@pytest.mark.parametrize(
    ("name", "params", "extra"),
    [
        ("sma_crossover", {"fast": 10, "slow": 40}, 0),
        ("rsi_reversion", {"window": 14}, 0),
        ("donchian_breakout", {"entry_window": 20, "exit_window": 10, "atr_window": 14}, 0),
        ("bollinger_reversion", {"window": 20, "k": 2}, 0),
        # Membership is settled at the first rebalance after the warm-up; entries and
        # exits (changes of membership) are comparable from the one after.
        ("momentum_rotation", {"lookback": 63, "top_n": 2, "rebalance_every": 5}, 2 * 7),
    ],
)
def test_a_short_recent_history_gives_the_signals_of_the_full_history(name, params, extra):
    # The live loop computes signals on recent bars only; they must be the backtest's.
    bars = sample_bars(["AAPL", "CAT", "F", "GE"], start="2008-01-01", end="2011-12-31")
    strategy = strategies.get(name)
    full = strategies.compute_signals(name, bars, params)
    recent_start = 500
    recent = strategies.compute_signals(name, bars.iloc(slice(recent_start, None)), params)
    settled = strategy.warmup(strategy.params(**params)) + 1 + extra
    for what in ("entries", "exits"):
        pd.testing.assert_frame_equal(
            getattr(recent, what).iloc[settled:],
            getattr(full, what).iloc[recent_start + settled :],
        )
    assert full.entries.iloc[recent_start + settled :].to_numpy().sum() >= 3
