"""Earnings dates: yfinance frames (recorded shapes, no network), CSV imports, the stored table.

The frames are built the way yfinance returns them: ``get_earnings_dates`` scraping the
calendar page (index "Earnings Date" in New York time; EPS columns) and the older
screener path (an "Event Type" column that also lists stockholder meetings).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from engine.cli import cli
from engine.cli._common import run_cli
from engine.data import earnings
from engine.errors import InputError
from engine.research.config_registry import act, save_proposal
from engine.research.validation import Verdict
from tests.config.factories import make_config

NY = "America/New_York"


def scraped(*times: str, tz: str = NY) -> pd.DataFrame:
    """A frame as yfinance's calendar scrape gives it (times in ``tz``)."""
    index = pd.DatetimeIndex([pd.Timestamp(t) for t in times]).tz_localize(tz)
    index.name = "Earnings Date"
    n = len(times)
    return pd.DataFrame(
        {"EPS Estimate": [1.5] * n, "Reported EPS": [None] * n, "Surprise(%)": [None] * n},
        index=index,
    )


#: AAPL's reports of 2024 (after the close, 16:00 New York) and January 2025.
AAPL_2024 = scraped("2025-01-30 16:00", "2024-10-31 16:00", "2024-08-01 16:00", "2024-05-02 16:00")


def test_a_scraped_frame_gives_the_new_york_dates_of_the_reports():
    assert earnings.dates_from_yfinance(AAPL_2024) == [
        date(2024, 5, 2), date(2024, 8, 1), date(2024, 10, 31), date(2025, 1, 30),
    ]  # fmt: skip


def test_a_late_evening_report_keeps_its_new_york_date_whatever_zone_the_frame_is_in():
    # 20:00 in New York is already the next day in UTC.
    in_utc = scraped("2024-05-03 00:00", tz="UTC")
    assert earnings.dates_from_yfinance(in_utc) == [date(2024, 5, 2)]


def test_the_screener_shape_leaves_stockholder_meetings_out():
    frame = scraped("2025-02-25 08:00", "2025-01-30 16:00", "2024-10-31 16:00")
    frame["Event Type"] = ["Meeting", "Earnings", "Call"]
    assert earnings.dates_from_yfinance(frame) == [date(2024, 10, 31), date(2025, 1, 30)]
    reset = frame.reset_index()  # a frame with the dates as a column reads the same
    assert earnings.dates_from_yfinance(reset) == [date(2024, 10, 31), date(2025, 1, 30)]


@pytest.mark.parametrize("nothing", [None, scraped()], ids=["none", "empty"])
def test_no_frame_means_no_dates(nothing):
    assert earnings.dates_from_yfinance(nothing) == []


# -- a refresh from Yahoo (recorded frames in place of the network) -----------------------


def recorded(frames: dict[str, object]):
    """A fetch that answers from ``frames``; an exception in it is raised."""

    def fetch(symbol: str):
        answer = frames[symbol]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return fetch


def test_a_refresh_stores_each_symbols_dates_and_reports_what_failed(store):
    fetch = recorded({"AAPL": AAPL_2024, "ZZZZ": None, "MSFT": ValueError("odd page")})
    done = earnings.refresh(store, ["AAPL", "ZZZZ", "MSFT"], actor="job", fetch=fetch)

    assert earnings.known_dates(store) == {"AAPL": tuple(earnings.dates_from_yfinance(AAPL_2024))}
    assert done.failed == {"ZZZZ": "Yahoo lists no earnings dates", "MSFT": "ValueError: odd page"}
    line = done.summary(date(2024, 9, 1))
    assert line.startswith("earnings dates refreshed for 1 symbol(s); next: AAPL 2024-10-31")
    assert "failed: ZZZZ (Yahoo lists no earnings dates), MSFT (ValueError: odd page)" in line
    event = store.query("SELECT actor, payload FROM events WHERE kind = 'earnings.refreshed'")
    assert event["actor"].tolist() == ["job"]
    assert json.loads(event["payload"][0]) == {"rows": 4, "symbols": ["AAPL"]}


def test_a_moved_date_replaces_yahoos_old_one_and_a_csv_date_stays(store, tmp_path):
    (tmp_path / "mine.csv").write_text("symbol,date\nAAPL,2024-05-06\n")
    earnings.import_csv(store, tmp_path / "mine.csv", actor="ana")
    earnings.refresh(store, ["AAPL"], actor="job", fetch=recorded({"AAPL": AAPL_2024}))
    moved = scraped("2025-02-06 16:00", "2024-10-31 16:00")  # January's report moved a week
    earnings.refresh(store, ["AAPL"], actor="job", fetch=recorded({"AAPL": moved}))

    assert earnings.known_dates(store, since=date(2024, 5, 1))["AAPL"] == (
        date(2024, 5, 2), date(2024, 5, 6), date(2024, 8, 1), date(2024, 10, 31), date(2025, 2, 6),
    )  # fmt: skip
    sources = earnings.stored(store).set_index("date")["source"]
    assert sources[pd.Timestamp("2024-05-06")] == "csv:mine.csv"


def test_online_the_refresh_asks_yfinance_for_the_next_and_recent_reports(store, monkeypatch):
    import yfinance

    asked = []

    class Ticker:  # yfinance's Ticker as far as the refresh uses it; no network
        def __init__(self, symbol):
            self.symbol = symbol

        def get_earnings_dates(self, limit=12):
            asked.append((self.symbol, limit))
            return AAPL_2024

    monkeypatch.delenv("WB_OFFLINE")
    monkeypatch.setattr(yfinance, "Ticker", Ticker)
    done = earnings.refresh(store, ["AAPL"], actor="job")

    assert asked == [("AAPL", earnings.YAHOO_LIMIT)]
    assert done.found == {"AAPL": earnings.dates_from_yfinance(AAPL_2024)}


def test_offline_the_refresh_is_skipped_and_says_so(store, monkeypatch):
    monkeypatch.setenv("WB_OFFLINE", "1")
    done = earnings.refresh(store, ["AAPL"], actor="job")
    assert done.summary(date(2024, 9, 1)) == (
        "skipped: offline (WB_OFFLINE is set); the stored earnings dates are kept"
    )


def test_yahoo_out_of_reach_stops_the_refresh_and_keeps_what_it_fetched(store):
    fetch = recorded({"AAPL": AAPL_2024, "MSFT": ConnectionError("no route to host")})
    done = earnings.refresh(store, ["AAPL", "MSFT", "GE"], actor="job", fetch=fetch)

    assert done.skipped == (
        "Yahoo Finance cannot be reached (ConnectionError: no route to host); the stored "
        "dates are kept; 1 symbol(s) stored before that"
    )
    assert set(earnings.known_dates(store)) == {"AAPL"}


# -- CSV imports -------------------------------------------------------------------------


def test_a_csv_import_stores_every_line(store, tmp_path):
    path = tmp_path / "earnings.csv"
    path.write_text(
        "Symbol,Date,Time\naapl,2024-05-02,after close\nMSFT,2024-04-25,\nAAPL,2024-05-02,x\n"
    )
    rows = earnings.import_csv(store, path, actor="ana")

    assert len(rows) == 2  # the repeated AAPL line once
    assert earnings.known_dates(store) == {
        "AAPL": (date(2024, 5, 2),),
        "MSFT": (date(2024, 4, 25),),
    }


@pytest.mark.parametrize(
    "text, said",
    [
        pytest.param(
            "symbol,date\nAAPL,2024-05-02\nMSFT,05/02/2024\nbrk b,2024-05-03\n",
            "earnings.csv: nothing imported, 2 bad line(s): line 3: date '05/02/2024' is not "
            "YYYY-MM-DD; line 4: symbol 'brk b' is not a ticker",
            id="bad-lines-named",
        ),
        pytest.param("ticker,when\nAAPL,2024-05-02\n", "lacks the column(s) symbol, date", id="columns"),
        pytest.param("symbol,date\n", "has a header but no earnings dates", id="no-rows"),
        pytest.param("", "is not a readable CSV", id="empty-file"),
    ],
)  # fmt: skip
def test_a_bad_csv_is_refused_whole_with_a_line_that_says_what_to_fix(store, tmp_path, text, said):
    path = tmp_path / "earnings.csv"
    path.write_text(text)
    with pytest.raises(InputError) as raised:
        earnings.import_csv(store, path, actor="ana")
    assert said in raised.value.message
    assert "symbol,date" in raised.value.hint
    assert earnings.stored(store).empty
    assert store.scalar("SELECT count(*) FROM events WHERE kind LIKE 'earnings.%'") == 0


# -- wb earnings ---------------------------------------------------------------------------


def wb(data_dir, *args, capsys) -> tuple[int, str, str]:
    code = run_cli(cli, ["--data-dir", str(data_dir), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_wb_earnings_import_show_and_refresh_offline(store, data_dir, tmp_path, capsys):
    code, out, _ = wb(data_dir, "earnings", "show", capsys=capsys)
    assert (code, out.strip()) == (
        0,
        "no earnings dates stored (wb earnings refresh, or wb earnings import FILE)",
    )
    path = tmp_path / "dates.csv"
    path.write_text("symbol,date\nAAPL,2024-05-02\nGE,2024-04-23\n")
    code, out, _ = wb(data_dir, "earnings", "import", str(path), capsys=capsys)
    assert (code, out.strip()) == (0, "imported 2 earnings date(s) for 2 symbol(s): AAPL, GE")

    code, out, _ = wb(data_dir, "earnings", "show", "--json", capsys=capsys)
    shown = json.loads(out)
    assert [(r["symbol"], r["date"][:10], r["source"]) for r in shown] == [
        ("AAPL", "2024-05-02", "csv:dates.csv"),
        ("GE", "2024-04-23", "csv:dates.csv"),
    ]
    code, out, _ = wb(data_dir, "earnings", "show", "ge", capsys=capsys)
    assert out.splitlines() == ["GE       2024-04-23  csv:dates.csv"]

    code, out, _ = wb(data_dir, "earnings", "refresh", "--symbols", "AAPL", capsys=capsys)
    assert (code, out.strip()) == (
        0,
        "skipped: offline (WB_OFFLINE is set); the stored earnings dates are kept",
    )

    path.write_text("symbol,date\nAAPL,May 2\n")
    code, _, err = wb(data_dir, "earnings", "import", str(path), capsys=capsys)
    assert code == 2
    assert err.splitlines()[0] == (
        "error: dates.csv: nothing imported, 1 bad line(s): line 2: date 'May 2' is not YYYY-MM-DD"
    )


def test_the_scheduled_refresh_is_skipped_offline_with_a_clear_message(store, data_dir, capsys):
    jobs_file = Path(__file__).resolve().parents[2] / "jobs" / "jobs.yaml"
    run = ("jobs", "run", "refresh-earnings", "--jobs-file", str(jobs_file))
    code, out, _ = wb(data_dir, *run, capsys=capsys)
    assert (code, out.split(": ", 1)[1].split(" [run")[0]) == (
        0,
        "skipped: no approved config and nothing held (or name --symbols)",
    )

    config = make_config(universe=["AAPL", "GE"])
    save_proposal(store, config, Verdict(status="validated"), actor="ana")
    act(store, config.config_id, "approve", "bob", "for the earnings job")
    code, out, _ = wb(data_dir, *run, capsys=capsys)
    assert code == 0 and out.startswith("job refresh-earnings succeeded in ")
    assert "skipped: offline (WB_OFFLINE is set); the stored earnings dates are kept" in out
