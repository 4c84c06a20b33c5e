"""Every built-in on 5-minute bars: the engine's fills equal an independent vectorbt run.

For each built-in, its signals on the SYNTHETIC intraday sample go through ``run_backtest``
and through vectorbt's own ``Portfolio.from_signals`` (signals moved to the next bar, which
over a session's last bar is the next session's first open). The shares of each entry are
worked out here from the rule (all the cash at the signal's close, cut to what the open
pays), not read from the engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from engine.backtest import BacktestSettings, compute_metrics, run_backtest
from engine.strategies import compute_signals
from engine.strategies.indicators import atr
from tests.backtest.conftest import scripted
from tests.ml.conftest import FAST as FAST_ML

FEES, SLIPPAGE = 0.001, 0.0005
BUILTINS = {
    "sma_crossover": {"fast": 10, "slow": 40},
    "donchian_breakout": {"entry_window": 20, "exit_window": 10},
    "bollinger_reversion": {"window": 20, "k": 2.0},
    "rsi_reversion": {"window": 14, "lower": 30.0, "upper": 60.0},
    "momentum_rotation": {"lookback": 60, "top_n": 1, "rebalance_every": 1},
    "ml_classifier": {**FAST_ML, "train_bars": 390, "retrain_every": 10},
}


def _from_signals(bars, entries, exits, *, price, size=np.inf, sl_stop=None, trail=False):
    return vbt.Portfolio.from_signals(
        bars.close, entries, exits, size=size, price=price, open=bars.open, high=bars.high,
        low=bars.low, sl_stop=bars.close * np.nan if sl_stop is None else sl_stop,
        sl_trail=trail, stop_entry_price="price", stop_exit_price="stopmarket", fees=FEES,
        slippage=SLIPPAGE, init_cash=100_000, freq=bars.freq,
    )  # fmt: skip


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_each_builtin_trades_intraday_bars_as_vectorbt_does(intraday_bars, name):
    symbol = "GE"
    # Signals on the whole universe (a rotation ranks the symbols), traded on one symbol.
    signals = compute_signals(name, intraday_bars, BUILTINS[name])
    column = {
        kind: list(np.flatnonzero(frame[symbol].to_numpy()))
        for kind, frame in (("entries", signals.entries), ("exits", signals.exits))
    }
    bars = intraday_bars.select([symbol])
    # Entries signalled on a session's last bar fill at the next session's open, as vectorbt's.
    settings = BacktestSettings(size="all", fees=FEES, slippage=SLIPPAGE, last_bar_entries="next_open")
    result = run_backtest(
        bars, scripted({symbol: column["entries"]}, {symbol: column["exits"]}), {}, settings
    )
    trades = result.trades
    assert len(trades) > 3, name

    # Each entry: all the cash at the signal bar's close, cut to what that cash pays at the open.
    position = bars.index.get_indexer(trades["entry_date"])
    cash = np.where(position > 0, result.equity.to_numpy()[position - 1], 100_000)
    unit = (1 + SLIPPAGE) * (1 + FEES)
    shares = np.minimum(
        cash / (bars.close[symbol].to_numpy()[position - 1] * unit),
        cash / (bars.open[symbol].to_numpy()[position] * unit),
    )
    np.testing.assert_allclose(trades["size"].to_numpy(), shares, rtol=1e-9)

    size = pd.Series(np.nan, index=bars.index)
    size.iloc[position] = shares
    entries = pd.DataFrame(False, index=bars.index, columns=[symbol])
    exits = entries.copy()
    entries.iloc[column["entries"], 0] = True
    exits.iloc[column["exits"], 0] = True
    reference = _from_signals(
        bars, entries.shift(1, fill_value=False), exits.shift(1, fill_value=False),
        price=bars.open, size=size.to_frame(symbol),
    )  # fmt: skip
    assert len(reference.trades.values) == len(trades)
    np.testing.assert_allclose(result.equity.to_numpy(), reference.value().to_numpy().ravel())
    np.testing.assert_allclose(trades["pnl"].to_numpy(), reference.trades.values["pnl"], rtol=1e-9)
    # Over a session's last bar, a signal fills at the next session's first open.
    overnight = bars.session_end[position - 1]
    assert (bars.session_start[position] == overnight).all()

    # And the figures are vectorbt's analytics of the same fills, at the calendar's year.
    analytics = compute_metrics(
        result.portfolio, freq=bars.freq, per_year=result.annualisation.bars_per_year
    ).iloc[0]
    for metric, value in result.metrics.items():
        assert value == pytest.approx(analytics[metric], rel=1e-9, nan_ok=True), (name, metric)


def test_trailing_atr_stops_through_the_overnight_gap_as_vectorbt_does(intraday_bars):
    bars = intraday_bars.select(["F"])
    settings = BacktestSettings(size="all", execution="close", stop="atr", atr_multiple=2.0,
                                atr_window=14, trailing_stop=True, fees=FEES, slippage=SLIPPAGE)  # fmt: skip
    params = {"fast": 10, "slow": 40}
    result = run_backtest(bars, "sma_crossover", params, settings)

    signals = compute_signals("sma_crossover", bars, params)
    distance = 2.0 * atr(bars.high, bars.low, bars.close, 14)
    reference = _from_signals(bars, signals.entries, signals.exits, price=bars.close,
                              sl_stop=distance / bars.close, trail=True)  # fmt: skip
    stops = result.trades[result.trades["exit_reason"] == "stop"]
    assert len(stops) > 5
    # Some stops fill at the first open of a session: the gap went through them.
    assert bars.session_start[bars.index.get_indexer(stops["exit_date"])].any()
    assert len(result.trades) == len(reference.trades.values)
    np.testing.assert_allclose(result.equity.to_numpy(), reference.value().to_numpy().ravel())
