"""The Performance page and the Cancel control under AppTest, on the seeded store.

The seeded book bought and later sold whole positions through the paper broker, so each
sale closes one round trip; its realised P&L is checked against the broker's own fills.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from app import charts
from engine.brokers import PaperBroker
from engine.research.config_registry import list_configs
from tests.app.conftest import open_app, page, texts
from tests.app.seed import make_stale


def frame_with(at, column: str) -> pd.DataFrame:
    for element in at.dataframe:
        if column in element.value.columns:
            return element.value
    raise AssertionError(f"no table with {column}: {[list(e.value.columns) for e in at.dataframe]}")


def paper_fills(store) -> pd.DataFrame:
    return store.query(
        "SELECT bar_date, symbol, side, qty, price, fee, client_order_id FROM paper_fills ORDER BY seq"
    )


def test_closed_trades_match_the_brokers_fills_and_name_their_strategy(on_seeded):
    at = page(open_app(), "performance")
    assert not at.exception, [e.value for e in at.exception]

    trades = frame_with(at, "realised_pnl")
    fills = paper_fills(on_seeded)
    sells = fills[fills["side"] == "sell"]
    assert len(trades) == len(sells) > 0  # the seed sells each position whole: one trip each
    # Each sale against the buy it closed, fees of both included: the broker's own numbers.
    expected = 0.0
    for sale in sells.itertuples():
        buy = fills[(fills["symbol"] == sale.symbol) & (fills["side"] == "buy")]
        buy = buy[buy["bar_date"] <= sale.bar_date].iloc[-1]
        expected += (sale.price - buy["price"]) * sale.qty - sale.fee - buy["fee"]
    assert trades["realised_pnl"].sum() == pytest.approx(expected)
    approved = next(r for r in list_configs(on_seeded) if r.status != "rejected")
    names = set(trades["strategy"])
    assert any(name.startswith(f"{approved.strategy} · ") and len(name.split(" · ")[1]) == 8
               for name in names), names  # fmt: skip
    assert "Prices as traded" in texts(at)


def test_the_period_selector_measures_the_return_from_the_close_before_it(on_seeded):
    at = page(open_app(), "performance")
    curve = on_seeded.query("SELECT bar_date, equity FROM equity_snapshots ORDER BY bar_date")

    at.button_group(key="perf_period").set_value("1D").run()

    shown = next(m for m in at.metric if m.label == "Return, 1D")
    day = curve["equity"].iloc[-1] / curve["equity"].iloc[-2] - 1
    assert shown.value == f"{day:+.2%}"
    assert f"From the close of {pd.Timestamp(curve['bar_date'].iloc[-2]).date()}" in texts(at)
    at.button_group(key="perf_period").set_value("all").run()
    whole = next(m for m in at.metric if m.label == "Return, all")
    assert whole.value == f"{curve['equity'].iloc[-1] / 100_000 - 1:+.2%}"  # the starting cash


def test_pnl_by_month_adds_up_to_the_books_pnl(on_seeded):
    at = page(open_app(), "performance")
    at.button_group(key="perf_bucket").set_value("month").run()

    figure = json.loads(
        next(c.proto.spec for c in at.get("plotly_chart") if "P&L by month" in c.proto.spec)
    )
    bars = figure["data"][0]
    last = on_seeded.scalar("SELECT equity FROM equity_snapshots ORDER BY bar_date DESC LIMIT 1")
    assert len(bars["x"]) == 4  # March to June 2013
    assert sum(_numbers(bars["y"])) == pytest.approx(last - 100_000)


def test_the_price_chart_draws_the_books_fills_and_stops_on_traded_bars(on_seeded):
    at = page(open_app(), "performance")
    fills = paper_fills(on_seeded)
    symbol = "AAPL"
    at.selectbox(key="chart_symbol").set_value(symbol).run()

    figure = json.loads(
        next(c.proto.spec for c in at.get("plotly_chart") if "prices as traded" in c.proto.spec)
    )
    traces = {t.get("name"): t for t in figure["data"]}
    assert traces[symbol]["type"] == "candlestick"
    mine = fills[fills["symbol"] == symbol]
    assert _numbers(traces["Buys"]["y"]) == pytest.approx(
        mine[mine["side"] == "buy"]["price"].tolist()
    )
    assert _numbers(traces["Sells"]["y"]) == pytest.approx(
        mine[mine["side"] == "sell"]["price"].tolist()
    )
    stops = on_seeded.query(
        "SELECT DISTINCT stop_price FROM position_snapshots WHERE symbol = ? AND stop_price IS NOT NULL",
        [symbol],
    )["stop_price"]
    drawn = {round(v, 2) for v in _numbers(traces["Stop"]["y"]) if v == v}
    assert drawn == {round(v, 2) for v in stops}
    # The candles are the stored closes as traded (AAPL traded near $400-450 then, not split-adjusted).
    assert min(_numbers(traces[symbol]["close"])) > 350


def test_a_trader_cancels_an_open_order_as_a_command_the_running_loop_applies(on_seeded):
    at = page(open_app(), "orders")
    (order,) = PaperBroker(on_seeded).orders("open")

    at.selectbox(key="cancel_pick").set_value(order.id).run()
    at.button(key="cancel_order").click().run()
    assert any("The live loop cancels it at its next step" in m.value for m in at.markdown)
    at.button(key="confirm_yes").click().run()

    command = on_seeded.query(
        "SELECT kind, payload, status, actor FROM commands ORDER BY id DESC LIMIT 1"
    ).iloc[0]
    assert (command["kind"], command["status"]) == ("cancel_order", "pending")
    assert json.loads(command["payload"])["order_id"] == order.id
    assert PaperBroker(on_seeded).get_order(order.id).is_open  # the loop has not applied it yet


def test_with_the_loop_down_cancel_goes_straight_to_the_broker_and_says_what_it_did(on_seeded):
    make_stale(on_seeded)
    at = page(open_app(), "orders")
    (order,) = PaperBroker(on_seeded).orders("open")

    at.selectbox(key="cancel_pick").set_value(order.id).run()
    at.button(key="cancel_order").click().run()
    at.button(key="confirm_yes").click().run()

    assert PaperBroker(on_seeded).get_order(order.id).status == "canceled"
    command = on_seeded.query(
        "SELECT status, decided_by, result FROM commands ORDER BY id DESC LIMIT 1"
    ).iloc[0]
    assert (command["status"], command["decided_by"]) == ("applied", "direct")
    assert any(f"(order {order.id}) canceled" in t.value for t in at.toast)
    assert "cancel_pick" not in {s.key for s in at.selectbox}  # no open order is left to cancel


def test_a_viewer_gets_no_cancel_control(on_seeded, with_users):
    from tests.app.conftest import log_in

    at = page(log_in(open_app(), "vic"), "orders")
    assert "cancel_order" not in {b.key for b in at.button if b.key}


def test_buying_power_sits_beside_cash_on_the_overview(on_seeded):
    on_seeded.execute(
        "INSERT INTO live_books (book, mode, broker, configs, cash, equity, bar_date, updated_at,"
        " buying_power) VALUES ('paper:paper', 'replay', 'paper', '{}', 1, 1, NULL, now(), 41234.5)"
    )
    at = open_app()
    labels = [m.label for m in at.metric]
    assert labels.index("Buying power") == labels.index("Cash") + 1
    assert next(m for m in at.metric if m.label == "Buying power").value == "$41,234"


def test_holding_times_read_as_a_trader_says_them():
    assert charts.holding_text(pd.Timedelta(days=12, hours=3)) == "12 days"
    assert charts.holding_text(pd.Timedelta(hours=3, minutes=20)) == "3 h 20 min"
    assert charts.holding_text(pd.NaT) == "—"


def _numbers(values) -> list[float]:
    """A plotly array from its JSON: a list, or a typed array {dtype, bdata} (base64)."""
    if isinstance(values, dict):
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return [float("nan") if v is None else float(v) for v in values]
