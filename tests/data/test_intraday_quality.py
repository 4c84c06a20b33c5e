"""Quality of intraday bars: duplicates, bars outside the session or off the grid, broken
ranges, missing bars counted per day; the same policies, nothing half-written."""

import numpy as np
import pandas as pd
import pytest

from engine.data.ingest import ingest
from engine.data.quality import Policy, check_bars
from engine.data.repository import load_bars
from engine.data.sources import CsvSource
from engine.errors import DataQualityError

NY = "America/New_York"


def five_minute_rows(day="2024-03-12", symbol="XYZ", start="09:30", end="16:00") -> pd.DataFrame:
    stamps = pd.date_range(f"{day} {start}", f"{day} {end}", freq="5min", tz=NY, inclusive="left")
    price = 20 + np.arange(len(stamps)) * 0.01
    return pd.DataFrame({"timestamp": stamps, "symbol": symbol, "open": price, "high": price + 0.05,
                         "low": price - 0.05, "close": price + 0.01, "volume": 1000.0, "adj_close": price + 0.01})


def to_csv(tmp_path, rows: pd.DataFrame):
    path = tmp_path / "bars.csv"
    out = rows.assign(timestamp=rows["timestamp"].dt.strftime("%Y-%m-%d %H:%M"))
    out.to_csv(path, index=False)
    return path


def findings(rows, **kwargs):
    report = check_bars(rows, bar_size="5m", now=pd.Timestamp("2024-06-01", tz=NY), **kwargs)
    return report, {(f.check, f.severity) for f in report.findings.itertuples()}


def test_a_clean_session_has_no_findings():
    report, found = findings(five_minute_rows())
    assert found == set() and report.rows_checked == 78


def test_duplicate_timestamps_are_errors_on_every_copy():
    rows = five_minute_rows()
    report, found = findings(pd.concat([rows, rows.iloc[[10]]], ignore_index=True))
    assert found == {("duplicate_timestamp", "error")} and len(report.errors) == 2


def test_bars_outside_the_session_and_off_the_grid_are_errors():
    rows = five_minute_rows()
    pre = rows.iloc[[0]].assign(timestamp=pd.Timestamp("2024-03-12 08:00", tz=NY))
    odd = rows.iloc[[1]].assign(timestamp=pd.Timestamp("2024-03-12 09:37", tz=NY))
    rows = rows.drop(index=1)
    report, found = findings(pd.concat([rows, pre, odd], ignore_index=True))
    assert found == {("outside_session", "error"), ("off_grid", "error"), ("missing_bars", "warning")}
    # the pre-market bar is fine when extended hours are asked for
    _, extended = findings(pd.concat([five_minute_rows(), pre], ignore_index=True), extended_hours=True)
    assert extended == set()


def test_early_close_sessions_end_at_one():
    rows = five_minute_rows("2023-11-24", end="13:00")
    assert findings(rows)[1] == set()
    late = rows.iloc[[0]].assign(timestamp=pd.Timestamp("2023-11-24 13:00", tz=NY))
    assert ("outside_session", "error") in findings(pd.concat([rows, late]))[1]


def test_a_bar_breaking_its_own_range_is_an_error_intraday():
    rows = five_minute_rows()
    rows.loc[5, "close"] = rows.loc[5, "high"] + 1
    rows.loc[6, ["high", "low"]] = [rows.loc[6, "low"], rows.loc[6, "high"]]
    _, found = findings(rows)
    assert {("open_close_outside_range", "error"), ("high_below_low", "error")} <= found


def test_missing_bars_are_counted_per_day_and_missing_sessions_flagged():
    rows = pd.concat([five_minute_rows("2024-03-11").drop(index=[3, 4, 5]),
                      five_minute_rows("2024-03-13")], ignore_index=True)
    report, _ = findings(rows)
    gaps = report.warnings
    missing = gaps[gaps["check"] == "missing_bars"]
    assert list(missing["count"]) == [3] and "3 of 78 5m bars missing" in missing["reason"].iloc[0]
    assert list(gaps.loc[gaps["check"] == "missing_session", "date"].dt.strftime("%Y-%m-%d")) == ["2024-03-12"]


def test_todays_session_counts_only_the_bars_that_have_closed():
    rows = five_minute_rows("2024-03-12", end="11:00")
    report = check_bars(rows, bar_size="5m", now=pd.Timestamp("2024-03-12 11:02", tz=NY))
    assert report.findings.empty
    later = check_bars(rows, bar_size="5m", now=pd.Timestamp("2024-03-12 11:31", tz=NY))
    assert list(later.findings["count"]) == [6]


def test_an_intraday_csv_with_errors_is_refused_whole(store, tmp_path):
    rows = five_minute_rows()
    bad = pd.concat([rows, rows.iloc[[0]].assign(timestamp=pd.Timestamp("2024-03-12 17:00", tz=NY))])
    with pytest.raises(DataQualityError, match="nothing written") as caught:
        ingest(store, CsvSource(to_csv(tmp_path, bad)), bar_size="5m", progress=False)
    assert "2024-03-12 17:00 outside_session" in caught.value.message
    assert store.scalar("SELECT count(*) FROM intraday_bars") == 0
    assert store.scalar("SELECT count(*) FROM ingests") == 0
    assert not list(store.data_dir.glob(".ingest-*"))  # no staged batch left behind


def test_drop_and_flag_policies_on_intraday_bars(store, tmp_path):
    rows = five_minute_rows()
    rows.loc[5, "close"] = rows.loc[5, "high"] + 1  # storable, but broken
    path = to_csv(tmp_path, pd.concat([rows, rows.iloc[[0]].assign(open=np.inf)]))
    dropped = ingest(store, CsvSource(path), bar_size="5m", policy=Policy.DROP, progress=False)
    assert dropped.rows_added == 76 and dropped.rows_dropped == 3  # both copies of 9:30, and 10:05
    store.execute("DELETE FROM intraday_bars")
    flagged = ingest(store, CsvSource(path), bar_size="5m", policy=Policy.FLAG, progress=False)
    assert flagged.rows_added == 77 and flagged.rows_dropped == 2  # the broken bar kept and flagged
    flags = store.query("SELECT check_name, ts, bar_size FROM bar_flags WHERE check_name = 'open_close_outside_range'")
    assert list(flags["bar_size"]) == ["5m"]
    assert pd.Timestamp(flags["ts"].iloc[0]).tz_localize("UTC").tz_convert(NY).strftime("%H:%M") == "09:55"


def test_csv_times_are_new_york_unless_they_carry_an_offset(store, tmp_path):
    rows = five_minute_rows("2024-03-11", end="10:00")  # the Monday after the clocks changed
    text = rows.assign(timestamp=rows["timestamp"].dt.strftime("%Y-%m-%dT%H:%M"))
    utc = rows.assign(timestamp=rows["timestamp"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      symbol="UTC")
    path = tmp_path / "mixed.csv"
    pd.concat([text, utc]).to_csv(path, index=False)
    ingest(store, CsvSource(path), bar_size="5m", progress=False, policy="drop")
    bars = load_bars(store, ["XYZ", "UTC"], bar_size="5m", adjust=False)
    assert bars.index[0] == pd.Timestamp("2024-03-11 09:30", tz=NY)
    assert bars.close["XYZ"].equals(bars.close["UTC"].rename("XYZ"))


def test_extended_hours_are_kept_apart_from_the_regular_series(store, tmp_path):
    rows = pd.concat([five_minute_rows(start="08:00", end="09:30"), five_minute_rows(),
                      five_minute_rows(start="16:00", end="17:00")], ignore_index=True)
    with pytest.raises(DataQualityError, match="outside_session"):
        ingest(store, CsvSource(to_csv(tmp_path, rows)), bar_size="5m", progress=False)
    ingest(store, CsvSource(to_csv(tmp_path, rows)), bar_size="5m", extended_hours=True, progress=False)
    regular = load_bars(store, ["XYZ"], bar_size="5m")
    extended = load_bars(store, ["XYZ"], bar_size="5m", extended_hours=True)
    assert len(regular) == 78 and not regular.extended_hours
    assert len(extended) == 78 + 18 + 12 and extended.extended_hours
    assert regular.index[0].strftime("%H:%M") == "09:30" and regular.index[-1].strftime("%H:%M") == "15:55"
