"""An intraday book in a real browser: its fills named by their bar's time, and its 5-minute
candles with the fills on them.

Its own `wb app` on a data dir holding the SYNTHETIC 5-minute sample, a 5-minute Donchian
config replayed over the early-closed session after Thanksgiving (the fixtures of
test_browser.py).
"""

from __future__ import annotations

import re
import shutil

import pytest

from engine.live.runner import run_replay
from engine.store import Store
from engine.store.db import DB_FILE
from tests.app.test_browser import log_in, serve, shoot, visit  # noqa: F401
from tests.live.conftest import open_replay
from tests.live.test_intraday_loop import approve_intraday, paper_fills

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SESSION = "2013-11-29"  # closes at 13:00


@pytest.fixture(scope="module")
def intraday_server(tmp_path_factory, _intraday_store_file, users_line):
    data_dir = tmp_path_factory.mktemp("browser-intraday") / "data"
    data_dir.mkdir()
    shutil.copy(_intraday_store_file, data_dir / DB_FILE)
    store = Store.open(data_dir)
    store.config = approve_intraday(store)
    opened = open_replay(store, start=SESSION, end=SESSION)
    run_replay(opened.loop, opened.days)
    opened.loop.stop()
    yield from serve(data_dir, store, users_line)


def test_an_intraday_books_fills_show_their_bar_times_and_sit_on_its_candles(intraday_server, browser):  # noqa: F811
    url, store = intraday_server
    fills = paper_fills(store)
    assert len(fills) >= 2, "the replay traded too little to show"
    page = log_in(browser, url, "tina")

    visit(page, "Trading", "Orders and fills")
    page.get_by_role("tab", name="Fills").click()
    page.get_by_text("Fill bar (New York)").first.wait_for(state="attached")
    # A fill's bar to the minute, in New York time, within the session (09:30 to 13:00).
    page.get_by_text(re.compile(rf"^{SESSION} (09|1[0-2]):[0-5][05]$")).first.wait_for(
        state="attached"
    )
    shoot(page, "intraday-fills")

    visit(page, "Trading", "Performance")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot g.boxlayer .trace').length >= 1")
    # The chart opens on the book's own bars, 5-minute candles as traded, with its fills.
    legend = page.locator(".js-plotly-plot .legendtext").evaluate_all(
        "els => els.map(e => e.textContent)"
    )
    assert {"Buys", "Sells"} & set(legend), legend
    # The captions may render after the chart: wait for them (a timeout fails the test).
    page.get_by_text("prices as traded, with the book's fills and stops").first.wait_for(
        state="attached"
    )
    page.get_by_text(re.compile(r"^[\d,]+ 5m bars of \w+ as traded")).first.wait_for(
        state="attached"
    )
    shoot(page, "intraday-price-chart")
    page.close()
