"""Walk-forward: windows that never overlap, warm-up from before the window, equity stitched in order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest import BacktestSettings, walk_forward
from engine.backtest.walkforward import fold_windows
from engine.errors import InputError
from engine.strategies import compute_signals

GRID = {"fast": [5, 10], "slow": [40, 60]}


@pytest.mark.parametrize("anchored", [False, True])
@pytest.mark.parametrize(("train", "test"), [(None, None), (300, None), (None, 100), (250, 120)])
def test_folds_never_overlap_and_each_test_follows_its_training(anchored, train, test):
    windows = fold_windows(1000, 4, train, test, anchored)
    assert len(windows) == 4
    assert windows[-1][3] == 1000  # the last test window ends on the last bar
    for k, (train_start, train_stop, test_start, test_stop) in enumerate(windows):
        assert 0 <= train_start < train_stop == test_start < test_stop
        if k:
            assert test_start == windows[k - 1][3]  # test windows follow one another
    if anchored:
        assert len({w[0] for w in windows}) == 1
    else:
        assert len({w[1] - w[0] for w in windows}) == 1


def test_too_many_folds_for_the_data_is_a_clear_error():
    with pytest.raises(InputError, match="the data has 100") as caught:
        fold_windows(100, 10)
    assert "fewer folds" in caught.value.hint
    with pytest.raises(InputError, match="the data has 500"):
        fold_windows(500, 3, train_bars=300, test_bars=100)


@pytest.fixture(scope="module")
def result(real_bars):
    return walk_forward(
        real_bars, "sma_crossover", GRID, BacktestSettings(), folds=3, progress=False
    )


def test_folds_train_before_they_test_and_the_oos_equity_is_stitched_in_order(result, real_bars):
    assert len(result.folds) == 3
    test_dates = []
    for fold in result.folds:
        assert fold.train_start <= fold.train_end < fold.test_start <= fold.test_end
        test_dates.append(
            real_bars.index[
                (real_bars.index >= fold.test_start) & (real_bars.index <= fold.test_end)
            ]
        )
    for earlier, later in zip(result.folds, result.folds[1:], strict=False):
        assert later.test_start == real_bars.index[real_bars.index.get_loc(earlier.test_end) + 1]
    stitched = result.oos_equity.index
    assert stitched.equals(test_dates[0].append(test_dates[1:]))  # every test bar, in order, once
    # Each test window ends flat, so the stitched growth is the product of the folds' growth.
    growth = np.prod([1 + fold.out_of_sample["total_return"] for fold in result.folds])
    assert result.oos_equity.iloc[-1] == pytest.approx(100_000 * growth)
    assert result.oos_metrics["total_return"] == pytest.approx(growth - 1)
    assert result.oos_metrics["trades"] == sum(f.out_of_sample["trades"] for f in result.folds)


def test_a_fold_picks_the_combination_with_the_best_in_sample_objective(result, real_bars):
    from engine.backtest import run_backtest

    # The first fold trains from the first bar, so backtesting each combination on the bars
    # up to its training end sees the same signals and trades as the walk-forward did.
    fold = result.folds[0]
    train = real_bars.between(fold.train_start, fold.train_end)
    sharpes = {
        (fast, slow): run_backtest(
            train, "sma_crossover", {"fast": fast, "slow": slow}, BacktestSettings()
        ).metrics
        for fast in GRID["fast"]
        for slow in GRID["slow"]
    }
    best = max(sharpes, key=lambda key: sharpes[key]["sharpe"])
    assert (fold.params["fast"], fold.params["slow"]) == best
    assert fold.in_sample == pytest.approx(sharpes[best], nan_ok=True)


def test_test_windows_trade_on_signals_warmed_up_before_them(result, real_bars):
    # A 60-bar average is NaN for 59 bars on a history cut at the window's start; with the
    # warm-up, trades can open in the window's first bars, on the full history's signals.
    trades = result.oos_trades
    entries_early = 0
    for fold in result.folds:
        params = fold.params
        signals = compute_signals("sma_crossover", real_bars, params).entries
        in_fold = trades[trades["fold"] == result.folds.index(fold)]
        for row in in_fold.itertuples():
            position = real_bars.index.get_loc(row.entry_date)
            assert signals[row.symbol].iloc[position - 1]  # acted on the previous bar's signal
            window_start = real_bars.index.get_loc(fold.test_start)
            entries_early += position - window_start < params["slow"]
    assert entries_early > 0


def test_trials_are_every_valid_combination_over_the_full_history(result, real_bars):
    assert result.n_trials == 4 and result.skipped == 0
    assert result.trial_returns.shape == (len(real_bars), 4)
    assert list(result.trial_returns.columns.names) == ["fast", "slow"]
    assert np.isfinite(result.trial_returns.to_numpy()).all()


def test_the_chosen_params_name_a_trial_for_the_deflated_sharpe(result):
    from engine.backtest.overfitting import deflated_sharpe_of_trials

    by_params = deflated_sharpe_of_trials(result.trial_returns, selected=result.params)
    label = (result.params["fast"], result.params["slow"])
    assert by_params == deflated_sharpe_of_trials(result.trial_returns, selected=label)
    assert 0.0 <= by_params <= 1.0
    with pytest.raises(InputError, match="no trial"):
        deflated_sharpe_of_trials(result.trial_returns, selected={"fast": 7, "slow": 40})


def test_an_unknown_objective_gets_a_did_you_mean(real_bars):
    with pytest.raises(InputError, match="did you mean 'sharpe'"):
        walk_forward(real_bars, "sma_crossover", GRID, objective="sharp", progress=False)


def test_chunking_the_trials_changes_nothing(result, real_bars):
    chunked = walk_forward(
        real_bars,
        "sma_crossover",
        GRID,
        BacktestSettings(),
        folds=3,
        progress=False,
        max_columns=3,  # one combination (three symbols) at a time
    )
    assert [f.to_dict() for f in chunked.folds] == [f.to_dict() for f in result.folds]
    pd.testing.assert_frame_equal(chunked.trial_returns, result.trial_returns)
    pd.testing.assert_series_equal(chunked.oos_equity, result.oos_equity)


def test_the_report_shows_the_stitched_equity_with_its_folds(result, tmp_path):
    from engine.backtest import write_report

    html = write_report(result, tmp_path / "wf.html").read_text()
    assert "Out-of-sample equity (stitched)" in html
    assert all(f"fast={f.params['fast']}, slow={f.params['slow']}" in html for f in result.folds)
    with pytest.raises(InputError, match="cannot report on a dict"):
        write_report({}, tmp_path / "nothing.html")
