"""The money path in traded prices: a replay decides on adjusted history but fills, marks
and measures slippage at the prices as traded, so slippage compares like with like.

Before, the paper broker filled a replay at adjusted prices while an exit's decision price
was the stored close as traded: every exit showed the adjustment (+330 bps and more on
the demo's book) as slippage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.figures import slippage_bps
from engine.data.repository import load_bars
from engine.live import book_queries
from engine.live.runner import run_replay
from tests.live.conftest import open_replay

START, END = "2012-01-03", "2012-03-30"


def test_a_replay_fills_at_traded_prices_and_its_slippage_is_the_traded_gap(replay_store):
    config = replay_store.config
    traded = load_bars(replay_store, config.universe, START, END, adjust=False)
    adjusted = load_bars(replay_store, config.universe, START, END)
    # The adjustment is large enough here to show: dividends paid after 2012.
    assert (adjusted.close / traded.close).min().min() < 0.97

    opened = open_replay(replay_store, start=START, end=END)
    run_replay(opened.loop, opened.days)
    fills = book_queries.fills(replay_store, opened.loop.book, limit=None)
    market = fills[fills["type"] == "market"].reset_index(drop=True)
    assert {"buy", "sell"} <= set(market["side"]) and len(market) >= 6

    # Each market order fills at the open of the session after its decision, as traded,
    # and was decided at that decision bar's close as traded.
    sessions = list(traded.index)
    sign = np.where(market["side"] == "buy", 1.0, -1.0)
    for k, fill in market.iterrows():
        decided = pd.Timestamp(fill["decision_bar"])
        filled = sessions[sessions.index(decided) + 1]
        assert pd.Timestamp(fill["bar_date"]) == filled
        opening = traded.open.loc[filled, fill["symbol"]]
        assert fill["price"] == pytest.approx(opening * (1 + sign[k] * config.settings.slippage))
        assert fill["decision_price"] == pytest.approx(traded.close.loc[decided, fill["symbol"]])

    # So the control room's slippage is the overnight gap plus the modelled slippage, in
    # one basis: small for exits as for entries, never the adjustment.
    bps = slippage_bps(market["side"], market["price"], market["decision_price"])
    exits = bps[market["side"] == "sell"]
    assert exits.abs().median() < 100, exits.describe()
