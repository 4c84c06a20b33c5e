"""A paper book's round trips read through the book queries, in the broker's own fill order."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.brokers.base import OrderRequest
from engine.brokers.paper import PaperBroker
from engine.data import load_bars
from engine.live.book_trades import book_trades
from engine.research.config_registry import save_proposal
from tests.config.factories import make_config


def test_an_exit_and_a_re_entry_filled_on_one_bar_are_two_trips_named_by_their_strategy(
    sample_store,
):
    config = make_config()
    save_proposal(sample_store, config, None, "ana")
    bars = load_bars(sample_store, ["GE"], "2013-01-01", "2013-01-31", adjust=False)
    broker = PaperBroker(sample_store, cash=100_000, account="trips")
    days = bars.index
    broker.process_bar(days[0], bars)
    broker.submit(OrderRequest(symbol="GE", side="buy", qty=100,
                               client_order_id=f"{config.config_id}-GE-buy-1"))  # fmt: skip
    broker.process_bar(days[1], bars)
    broker.submit(OrderRequest(symbol="GE", side="sell", qty=100,
                               client_order_id=f"{config.config_id}-GE-sell-1"))  # fmt: skip
    broker.submit(OrderRequest(symbol="GE", side="buy", qty=50, client_order_id="manual-ge"))
    broker.process_bar(days[2], bars)  # both fill at this bar's open

    trades = book_trades(sample_store, "paper:trips")

    first, second = trades.trips.iloc[0], trades.trips.iloc[1]
    fills = {f.client_order_id: f for f in broker.fills()}
    bought, sold = fills[f"{config.config_id}-GE-buy-1"], fills[f"{config.config_id}-GE-sell-1"]
    assert first.realised_pnl == pytest.approx(
        (sold.price - bought.price) * 100 - sold.fee - bought.fee
    )
    assert first.strategy == f"{config.strategy} · {config.config_id[:8]}"
    assert pd.isna(second.closed_at) and second.open_qty == 50 and second.strategy == "manual"
    assert trades.fills == 3 and trades.starting_cash == 100_000
