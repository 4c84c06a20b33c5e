"""The Live vs backtest page: a traded config's equity over its backtest's, the gap explained."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from engine.live.drift import drift_report
from tests.app.conftest import open_app, page, texts
from tests.live.conftest import allow_replay, approve
from tests.live.test_drift import _replay


@pytest.fixture
def traded(app_env, sample_store, data_dir):
    """A Donchian config replayed through the paper broker (whole run, nothing injected)."""
    config = approve(sample_store, "donchian_breakout",
                     {"entry_window": 10, "exit_window": 5, "atr_window": 10},
                     ["AAPL", "CAT", "GE"], stop="strategy", size="risk", max_positions=3)  # fmt: skip
    allow_replay(sample_store)
    loop, _ = _replay(sample_store, config, account="page")
    app_env.setenv("WB_DATA_DIR", str(data_dir))
    return sample_store, config, loop


def test_the_page_overlays_live_and_backtest_equity_and_explains_the_gap(traded):
    store, config, loop = traded
    at = page(open_app(), "drift")
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="drift_config").value == config.config_id
    assert at.selectbox(key="drift_book").value == loop.book

    chart = json.loads(at.get("plotly_chart")[-1].proto.spec)
    lines = {trace["name"]: trace for trace in chart["data"]}
    assert {"Live", "Backtest"} <= set(lines)
    report = drift_report(store, config.config_id)
    live = pd.Series(lines["Live"]["y"]) if isinstance(lines["Live"]["y"], list) else None
    if live is not None:  # plotly may ship the numbers as a typed array instead of a list
        assert live.iloc[-1] == pytest.approx(report.equity["live"].iloc[-1])
    rendered = texts(at)
    assert "Prices as traded by the loop, in dollars" in rendered
    assert f"${abs(report.gap):,.0f}" in rendered  # the gap, as the metric shows it


def test_the_page_says_what_to_do_when_nothing_has_traded(app_env, store, data_dir):
    app_env.setenv("WB_DATA_DIR", str(data_dir))
    at = page(open_app(), "drift")
    assert not at.exception
    assert "No config has traded yet" in texts(at)
