"""Parity on intraday bars: a replay stepping every 15-minute bar close makes the backtest's trades.

Every built-in strategy on the SYNTHETIC 15-minute sample of three symbols over three
sessions (the last an early close), through the function ``wb parity`` uses: the same
symbols, entry and exit bars (to the minute), sizes, prices and P&L. The ML classifier
as the loop trades it: one pinned model (a saved file, checked by its hash, never
retrained), which the backtest runs too over the same bars; trained on the sessions
before, it needs a hundred bars for its features, so its replay starts four sessions
earlier. Windows are small so that each replay trades often in few bars; both sides refuse
an entry signalled on a session's last bar (``last_bar_entries``, whose backtest side once
filled it at the next open), or both send it to the next open. Flat by the close, the
backtest's sale at its bar's close is the replay's sale sent at that close, filled as the
next bar opens (:func:`engine.live.parity.at_their_moment`).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from engine.data.bars import Bars
from engine.data.repository import load_bars
from engine.live import clock
from engine.live.parity import parity_report
from engine.store import Store
from tests.live.conftest import INTRADAY_15M, approve
from tests.live.test_cli import wb

pytestmark = pytest.mark.slow  # real processes or long replays: run early (tests/conftest.py)

UNIVERSE = INTRADAY_15M["symbols"]
#: Three sessions: the Tuesday and Wednesday before Thanksgiving, and the early close after it.
START, END = "2013-11-26", "2013-11-29"
BAR_SIZE = "15m"
#: The ML classifier's model learns from the 15-minute bars of HISTORY_START..TRAINED_TO;
#: its replay starts at ML_START, a hundred bars (its features' warm-up) before START.
HISTORY_START, TRAINED_TO, ML_START = INTRADAY_15M["start"], "2013-11-19", "2013-11-21"
#: Small, fast model params (the window is 130 bars, five sessions); a threshold that the
#: synthetic bars' calibrated probabilities (0.41-0.53) cross now and then.
ML_PARAMS = {"horizon": 4, "embargo": 2, "train_bars": 130, "retrain_every": 5,
             "boosting_rounds": 20, "max_depth": 2, "atr_window": 6, "entry_probability": 0.47}
ML_SETTINGS = {"size": "fraction", "fraction": 0.3, "stop": "strategy", "max_positions": 3}

CASES = [
    ("sma_crossover", {"fast": 3, "slow": 8}, {"size": "fraction", "fraction": 0.3, "max_positions": 2}),
    ("donchian_breakout", {"entry_window": 6, "exit_window": 3, "atr_window": 6},
     {"size": "risk", "stop": "strategy", "trailing_stop": True, "max_positions": 3}),
    ("rsi_reversion", {"window": 4, "lower": 35, "upper": 65},
     {"size": "all", "stop": "atr", "atr_window": 4, "atr_multiple": 1.5, "max_positions": 1}),
    ("bollinger_reversion", {"window": 6, "k": 1.0},
     {"size": "fraction", "fraction": 0.25, "stop": "atr", "atr_window": 6, "trailing_stop": True}),
    ("momentum_rotation", {"lookback": 6, "top_n": 1, "rebalance_every": 1},
     {"size": "fraction", "fraction": 0.45, "max_positions": 1}),
    # Last-bar entries sent to the next session's open on both sides, through the gap.
    ("sma_crossover", {"fast": 2, "slow": 6},
     {"size": "fraction", "fraction": 0.3, "max_positions": 2, "last_bar_entries": "next_open"}),
]  # fmt: skip
IDS = [c[0] + ("-next-open" if "last_bar_entries" in c[2] else "") for c in CASES]
#: Trades enough to prove parity. A rotation re-ranks on weekdays (its first bar), so three
#: sessions give it one rotation.
MIN_TRADES = {"momentum_rotation": 1}

#: Flat by the close: sold at the close of the last bar that ends 15 (30) minutes before it,
#: no entry after; the second with ATR stops resting until the flat sale.
FLAT_CASES = [
    ("sma_crossover", {"fast": 3, "slow": 8},
     {"size": "fraction", "fraction": 0.3, "max_positions": 2, "flat_by_close": True,
      "flat_minutes_before_close": 15}),
    ("rsi_reversion", {"window": 4, "lower": 35, "upper": 65},
     {"size": "all", "stop": "atr", "atr_window": 4, "atr_multiple": 1.5, "max_positions": 1,
      "flat_by_close": True, "flat_minutes_before_close": 30}),
]  # fmt: skip
#: The loop sells a flat-by-close book out at its flat bar's close (engine.live.clock's
#: flat_due, from the intraday clock's branch); until it does, its replay holds overnight.
LOOP_SELLS_FLAT = hasattr(clock, "flat_due")


@pytest.fixture
def store(intraday_15m_store) -> Store:
    """A store holding the SYNTHETIC 15-minute bars of UNIVERSE (INTRADAY_15M)."""
    return intraday_15m_store


@pytest.fixture(scope="module")
def pinned_ml(_intraday_15m_file, tmp_path_factory) -> dict:
    """ml_classifier params that trade one saved model, trained on the bars to TRAINED_TO."""
    from engine.ml import TrainingPlan, save_model, train_final_model
    from engine.strategies.builtins.ml_classifier import MlClassifierParams

    bars = load_bars(Store.open(_intraday_15m_file.parent), UNIVERSE, HISTORY_START, TRAINED_TO,
                     bar_size=BAR_SIZE)  # fmt: skip
    plan = TrainingPlan.from_params(MlClassifierParams(**ML_PARAMS))
    path, sha256 = save_model(train_final_model(bars, plan), tmp_path_factory.mktemp("models"))
    return {**ML_PARAMS, "model_file": str(path), "model_sha256": sha256}


def _approve(store, strategy, params, **settings):
    return approve(store, strategy, params, UNIVERSE, bar_size=BAR_SIZE, **settings)


def _overnight(bars: Bars, times) -> int:
    """How many of ``times`` are a session's first bar (an entry through the overnight gap)."""
    return int(pd.DatetimeIndex(times).isin(bars.index[bars.session_start]).sum())


@pytest.mark.parametrize("strategy, params, settings", CASES, ids=IDS)
def test_an_intraday_replay_makes_the_backtests_trades(store, strategy, params, settings):
    config = _approve(store, strategy, params, **settings)

    report = parity_report(store, config.config_id, START, END)

    entries = _holds(report, MIN_TRADES.get(strategy, 4))
    bars = load_bars(store, UNIVERSE, START, END, bar_size=BAR_SIZE)
    overnight = _overnight(bars, entries)
    if settings.get("last_bar_entries") == "next_open":
        assert overnight >= 1, "no entry through the overnight gap to prove it"
    else:
        assert overnight == 0


def test_an_intraday_replay_of_a_pinned_model_makes_its_backtests_trades(store, pinned_ml):
    config = _approve(store, "ml_classifier", pinned_ml, **ML_SETTINGS)

    report = parity_report(store, config.config_id, ML_START, END)

    entries = _holds(report, 4)
    # The model trades only bars it has not seen: none before the last it trained on.
    assert entries.min() > pd.Timestamp(f"{TRAINED_TO} 16:00", tz=entries.tz)
    bars = load_bars(store, UNIVERSE, ML_START, END, bar_size=BAR_SIZE)
    assert _overnight(bars, entries) == 0


def _holds(report, min_trades: int) -> pd.DatetimeIndex:
    """The backtest's entry bars, once ``report`` shows parity over at least ``min_trades``."""
    assert len(report.backtest) >= min_trades, "too few trades to prove anything"
    assert report.differences == [], "\n".join(d.line() for d in report.differences)
    assert len(report.replay) == len(report.backtest)
    assert report.replay_equity == pytest.approx(report.backtest_equity, rel=1e-9)
    # Trades are told apart by their bar, not their day.
    entries = pd.DatetimeIndex(report.backtest["entry_date"])
    assert entries.tz is not None and (entries != entries.normalize()).all()
    return entries


@pytest.mark.skipif(not LOOP_SELLS_FLAT, reason="the live loop does not sell flat by the close yet")
@pytest.mark.parametrize("strategy, params, settings", FLAT_CASES, ids=[c[0] for c in FLAT_CASES])
def test_a_flat_by_close_replay_makes_the_backtests_trades(store, strategy, params, settings):
    config = _approve(store, strategy, params, **settings)

    report = parity_report(store, config.config_id, START, END)

    assert len(report.backtest) >= 4, "too few trades to prove anything"
    assert report.differences == [], "\n".join(d.line() for d in report.differences)
    assert report.replay_equity == pytest.approx(report.backtest_equity, rel=1e-9)
    # Nothing held overnight: each trade ends in the session it began, in time.
    trades = report.replay
    entered, left = (pd.DatetimeIndex(trades[c]) for c in ("entry_date", "exit_date"))
    assert (entered.normalize() == left.normalize()).all()
    minutes = settings["flat_minutes_before_close"]
    close = pd.DatetimeIndex([pd.Timestamp(f"{d:%Y-%m-%d} 16:00", tz=left.tz) for d in left])
    early = left.normalize() == pd.Timestamp("2013-11-29", tz=left.tz)  # closes at 13:00
    close = close.where(~early, close - pd.Timedelta(hours=3))
    assert (left <= close - pd.Timedelta(minutes=minutes)).all()


@pytest.mark.parametrize("strategy", ["sma_crossover", "ml_classifier"])
def test_wb_parity_on_an_intraday_config_names_each_trade_by_its_bar(
    store, data_dir, capsys, request, strategy
):
    if strategy == "ml_classifier":
        config, start = _approve(store, strategy, request.getfixturevalue("pinned_ml"),
                                 **ML_SETTINGS), ML_START  # fmt: skip
    else:
        _, params, settings = CASES[0]
        config, start = _approve(store, strategy, params, **settings), START
    args = ("parity", "--config", config.config_id[:8], "--start", start, "--end", END)
    code, out, _ = wb(data_dir, *args, "--json", capsys=capsys)
    report = json.loads(out)
    assert code == 0 and report["matches"] and report["backtest_trades"] > 0
    code, out, _ = wb(data_dir, *args, capsys=capsys)
    assert code == 0 and out.strip().endswith("parity holds")
    first = out.splitlines()[2]  # the backtest's first trade: entered and left at bar times
    assert pd.Series(first.split()).str.fullmatch(r"\d\d:\d\d").sum() >= 1, first
