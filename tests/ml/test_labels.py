"""Labels and the rules that keep them from leaking the future into training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.errors import InputError
from engine.ml.labels import (
    forward_return_labels,
    forward_returns,
    last_training_bar,
    purged_splits,
)


def _closes(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"X": values}, index=pd.bdate_range("2024-01-01", periods=len(values)))


def test_a_win_is_a_return_over_the_horizon_above_the_threshold():
    close = _closes([100, 101, 103, 99, 104, 105, np.nan, 106])

    labels = forward_return_labels(close, horizon=2, min_return=0.01)["X"].tolist()

    # 100->103 +3%, 101->99 -2%, 103->104 +1% (not above 1%), 99->105 +6%,
    # 104->missing, 105->106 +1%: not above; the last two bars have no future yet.
    assert labels[:4] == [1.0, 0.0, 0.0, 1.0]
    assert np.isnan(labels[4])
    assert labels[5] == 0.0
    assert np.isnan(labels[6]) and np.isnan(labels[7])
    assert forward_returns(close, 2)["X"].iloc[0] == pytest.approx(0.03)


def test_a_model_never_trains_on_a_label_it_could_not_have_known():
    for horizon in (1, 5, 21):
        for embargo in (0, 3):
            for predict_from in range(30, 60):
                last = last_training_bar(predict_from, horizon, embargo)
                # The label of bar `last` is known at bar last + horizon ...
                assert last + horizon < predict_from
                # ... and the embargo keeps exactly `embargo` more bars out.
                assert predict_from - 1 - (last + horizon) == embargo


@pytest.mark.parametrize(("horizon", "embargo"), [(1, 0), (5, 5), (10, 2)])
def test_purged_splits_test_every_row_once_and_train_far_from_the_test_block(horizon, embargo):
    bars_of_rows = np.repeat(np.arange(200), 3)  # 200 bars, 3 symbols each

    splits = purged_splits(bars_of_rows, 4, horizon, embargo)

    tested = np.sort(np.concatenate([test for _, test in splits]))
    assert (tested == np.arange(len(bars_of_rows))).all()
    for train, test in splits:
        start, end = bars_of_rows[test].min(), bars_of_rows[test].max()
        assert end - start + 1 == 50  # contiguous blocks of bars
        trained = bars_of_rows[train]
        assert not ((trained >= start - horizon) & (trained <= end + horizon + embargo)).any()
        assert len(train) > 0


def test_a_split_needs_two_blocks_and_enough_bars():
    with pytest.raises(InputError, match="at least 2 splits"):
        purged_splits(np.arange(10), 1, 5, 0)
    with pytest.raises(InputError, match="cannot be cut into 3 blocks"):
        purged_splits(np.array([0, 0, 1, 1]), 3, 1, 0)
