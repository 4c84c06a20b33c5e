"""A trader's review in a real browser: Performance over a period, a symbol's chart, then
cancelling an open order with the live loop down (straight to the broker).

Its own `wb app` on a fresh copy of the seeded data dir (the fixtures of test_browser.py).
"""

from __future__ import annotations

import pytest

from engine.brokers import PaperBroker
from tests.app.seed import make_stale
from tests.app.test_browser import log_in, server, settle, shoot, visit  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_trader_reviews_performance_then_cancels_an_order_with_the_loop_down(server, browser):  # noqa: F811
    url, store = server
    page = log_in(browser, url, "tina")

    visit(page, "Trading", "Performance")
    page.get_by_text("Return, 1M").first.wait_for()
    page.get_by_test_id("stButtonGroup").get_by_text("1W", exact=True).click()
    page.get_by_text("Return, 1W").first.wait_for()
    page.get_by_text("From the close of").first.wait_for()
    page.get_by_role("tab", name="Closed trades").wait_for()
    page.get_by_text("Realised P&L").first.wait_for()
    # Three charts drawn: the period's equity, P&L by period, the price chart with fills.
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 3")
    # The price chart is the page's last element: under load its candlesticks are drawn
    # after the other charts (counted at once, they were missed once in CI).
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot g.boxlayer .trace').length >= 1"
    )
    shoot(page, "trader-performance")
    legend = page.locator(".js-plotly-plot .legendtext").evaluate_all(
        "els => els.map(e => e.textContent)"
    )
    assert {"Buys", "Sells", "Stop"} <= set(legend), legend
    assert page.get_by_text("prices as traded, with the book's fills and stops").count() >= 1
    page.get_by_role("tab", name="By strategy").click()
    page.get_by_text("sma_crossover · ").first.wait_for(state="attached")

    make_stale(store, minutes=24 * 60)  # the loop dies: the cancel must go straight to the broker
    (order,) = PaperBroker(store).orders("open")
    visit(page, "Trading", "Orders and fills")
    page.get_by_test_id("stSelectbox").filter(has_text="Open order").click()
    page.get_by_role("option").filter(has_text=order.client_order_id).click()
    page.get_by_role("button", name="Cancel order").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("No live loop is running").wait_for()
    shoot(page, "trader-cancel-order-confirm")
    dialog.get_by_role("button", name="Yes, cancel it now").click()
    page.get_by_text("Canceled directly through").first.wait_for()  # the result, not a table cell

    assert PaperBroker(store).get_order(order.id).status == "canceled"
    command = store.query(
        "SELECT kind, status, decided_by, actor FROM commands ORDER BY id DESC LIMIT 1"
    ).iloc[0]
    assert tuple(command) == ("cancel_order", "applied", "direct", "tina")
    shoot(page, "trader-cancel-order-done")
    page.close()
