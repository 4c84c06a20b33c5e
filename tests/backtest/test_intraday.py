"""Intraday bars through backtests, sweeps and walk-forward: the overnight gap, the year the
figures are annualised by, folds of whole sessions, and the guards on intraday evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest import BacktestSettings, run_backtest
from engine.backtest.sweep import sweep
from engine.backtest.walkforward import fold_windows, walk_forward
from engine.data import calendar
from engine.data.bars import Bars
from engine.errors import InputError
from engine.research.propose import build_proposal
from tests.backtest.conftest import scripted

FRICTIONLESS_ALL_IN = {"size": "all", "fees": 0.0, "slippage": 0.0}
#: Hourly bars of a regular session start at these times (the last one is half an hour).
HOURS = ["09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30"]


def hourly_bars(sessions: dict[str, list[tuple[float, float, float, float]]]) -> Bars:
    """One symbol's hourly bars, (open, high, low, close) per bar, for each session date given."""
    stamps, rows = [], []
    for day, bars in sessions.items():
        assert len(bars) == len(HOURS)
        stamps += [pd.Timestamp(f"{day} {hour}", tz="America/New_York") for hour in HOURS]
        rows += bars
    index = pd.DatetimeIndex(stamps, name="timestamp")
    fields = {
        name: pd.DataFrame({"XYZ": [bar[k] for bar in rows]}, index=index, dtype=float)
        for k, name in enumerate(("open", "high", "low", "close"))
    }
    return Bars(**fields, volume=fields["close"] * 0 + 1_000, bar_size="1h")


def flat(price: float) -> tuple[float, float, float, float]:
    return (price, price, price, price)


# -- the overnight gap ---------------------------------------------------------------------


def _last_bar_entry(**settings) -> pd.DataFrame:
    """The trades of an entry signalled on Monday's last hourly bar, Tuesday gapping up."""
    bars = hourly_bars(
        {
            "2024-03-11": [flat(100.0)] * 7,
            "2024-03-12": [(104.0, 106, 103, 105)] + [flat(105.0)] * 6,
        }
    )
    last_bar_of_monday = 6
    settings = BacktestSettings(**FRICTIONLESS_ALL_IN, **settings)
    return run_backtest(bars, scripted({"XYZ": [last_bar_of_monday]}), {}, settings).trades


def test_an_entry_signalled_on_a_sessions_last_bar_is_refused_by_default_as_the_loop_refuses_it():
    assert BacktestSettings().last_bar_entries == "refuse"
    assert _last_bar_entry().empty
    assert _last_bar_entry(last_bar_entries="refuse").empty


def test_a_signal_on_a_sessions_last_bar_fills_at_the_next_sessions_first_open_when_asked():
    trade = _last_bar_entry(last_bar_entries="next_open").iloc[0]
    assert trade["entry_date"] == pd.Timestamp("2024-03-12 09:30", tz="America/New_York")
    assert trade["entry_price"] == 104.0  # the gap up is paid, not the Monday close of 100
    assert trade["size"] == pytest.approx(100_000 / 104.0)


def test_a_stop_the_overnight_gap_jumps_fills_at_the_open_beyond_it():
    bars = hourly_bars(
        {"2024-03-11": [flat(100.0)] * 7, "2024-03-12": [(90.0, 91, 88, 89)] + [flat(89.0)] * 6}
    )
    # Entered at Monday 10:30's open with a stop 5 below the 9:30 close: a level of 95.
    strategy = scripted({"XYZ": [0]}, stop_distance={"XYZ": 5.0})
    settings = BacktestSettings(**FRICTIONLESS_ALL_IN, stop="strategy")
    trade = run_backtest(bars, strategy, {}, settings).trades.iloc[0]
    assert trade["exit_reason"] == "stop"
    assert trade["exit_date"] == pd.Timestamp("2024-03-12 09:30", tz="America/New_York")
    assert trade["exit_price"] == 90.0  # the open, below the level: the gap is the loss
    assert trade["pnl"] == pytest.approx(trade["size"] * (90.0 - 100.0))


# -- annualisation ---------------------------------------------------------------------------


def test_intraday_figures_are_annualised_by_the_calendar_and_say_so(intraday_bars):
    result = run_backtest(intraday_bars, "sma_crossover", {"fast": 10, "slow": 40})
    year = calendar.annualisation("5m", "2013-01-01", "2013-12-31")
    assert result.annualisation.bars_per_year == year.bars_per_year
    # Every session at 78 bars would be 19,656; 2013's three 13:00 closes make it fewer.
    assert year.bars_per_year == 252 * 78 - 3 * (78 - 42)
    returns = result.equity.pct_change().fillna(result.equity.iloc[0] / 100_000 - 1)
    sharpe = returns.mean() / returns.std() * np.sqrt(year.bars_per_year)
    assert result.metrics["sharpe"] == pytest.approx(sharpe, rel=1e-9)
    stated = result.summary()["annualisation"]["statement"]
    assert "19,548 bars a year" in stated and "42 on an early close" in stated
    assert result.settings.freq == "5min"


def test_daily_figures_keep_their_252_bars_a_year(real_bars):
    result = run_backtest(real_bars, "sma_crossover", {"fast": 10, "slow": 40})
    assert result.annualisation.bars_per_year == 252
    assert result.annualisation.describe() == (
        "annualised at 1d bars: 252 a year (the trading-day convention)"
    )


def test_settings_that_name_another_bar_size_are_refused(intraday_bars):
    with pytest.raises(InputError, match="the settings say 1D bars but the bars are 5min"):
        run_backtest(intraday_bars, "sma_crossover", None, BacktestSettings(freq="1D"))


def test_a_sweep_on_intraday_bars_states_its_annualisation(intraday_bars):
    result = sweep(intraday_bars, "rsi_reversion", {"window": [7, 14]}, per="portfolio",
                   progress=False)  # fmt: skip
    assert result.annualisation.bars_per_year == pytest.approx(19_548)


# -- walk-forward folds of whole sessions ------------------------------------------------------


def test_folds_on_intraday_bars_are_whole_sessions():
    session = np.repeat(np.arange(10), 78)  # ten sessions of 78 five-minute bars
    windows = fold_windows(len(session), 3, session=session)
    # Four equal parts of 10 sessions are 2 sessions each, the folds ending at the last bar.
    in_sessions = [tuple(bound // 78 for bound in window) for window in windows]
    assert in_sessions == [(2, 4, 4, 6), (4, 6, 6, 8), (6, 8, 8, 10)]
    assert all(bound % 78 == 0 for window in windows for bound in window)
    with pytest.raises(InputError, match=r"need .* sessions; the data has 10"):
        fold_windows(len(session), 3, train_bars=8 * 78, session=session)


def test_a_walk_forward_on_intraday_bars_never_cuts_a_session(intraday_bars):
    result = walk_forward(intraday_bars, "rsi_reversion", {"window": [7, 14]}, folds=3,
                          progress=False)  # fmt: skip
    starts = set(intraday_bars.index[intraday_bars.session_start])
    ends = set(intraday_bars.index[intraday_bars.session_end])
    for fold in result.folds:
        assert {fold.train_start, fold.test_start} <= starts
        assert {fold.train_end, fold.test_end} <= ends
        assert fold.train_end.date() < fold.test_start.date()
    assert result.annualisation.bars_per_year == pytest.approx(19_548)


def test_a_config_proposed_on_intraday_bars_carries_its_bar_size_and_guards(intraday_bars):
    config = build_proposal(
        None, intraday_bars, "rsi_reversion", {"window": [7, 14], "lower": [25.0, 30.0]},
        BacktestSettings(), folds=3, objective="sharpe", actor="test",
    ).config  # fmt: skip
    evidence = config.evidence
    assert (config.bar_size, config.settings.freq) == ("5m", "5min")
    assert len(evidence.folds) == 3
    assert evidence.deflated_sharpe is not None and evidence.pbo is not None
    assert evidence.lookahead_passed, evidence.lookahead_detail
    assert evidence.synthetic_bars
    assert "5m bars: 78 per session" in evidence.annualisation
