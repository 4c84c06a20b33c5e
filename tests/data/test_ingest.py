"""Ingest: incremental and idempotent, checked, and all-or-nothing."""

from pathlib import Path

import pandas as pd
import pytest

from engine.data.ingest import ingest
from engine.data.quality import Policy
from engine.data.sources import CsvSource, SampleSource
from engine.errors import DataQualityError, InputError, NotFoundError

FIXTURES = Path(__file__).parents[1] / "fixtures"


def bar_count(store) -> int:
    return int(store.scalar("SELECT count(*) FROM bars"))


def test_ingesting_the_sample_twice_leaves_the_same_rows(store):
    first = ingest(store, SampleSource(), progress=False)
    count = bar_count(store)
    assert first.rows_added == count == first.rows_fetched > 30_000
    second = ingest(store, SampleSource(), progress=False)
    assert second.rows_added == 0
    assert second.rows_already_stored == first.rows_fetched
    assert bar_count(store) == count


def test_ingest_adds_only_the_missing_dates(store):
    ingest(store, SampleSource(), ["AAPL"], end="2005-12-31", progress=False)
    before = bar_count(store)
    later = ingest(store, SampleSource(), ["AAPL"], progress=False)
    assert later.rows_already_stored == before
    assert later.rows_added == bar_count(store) - before > 0
    dates = store.query("SELECT date FROM bars WHERE symbol = 'AAPL'")["date"]
    assert dates.is_unique


def test_unknown_sample_symbol_names_what_the_sample_has(store):
    with pytest.raises(NotFoundError) as caught:
        ingest(store, SampleSource(), ["AAPL", "TSLA"], progress=False)
    assert "TSLA" in caught.value.message and "MSFT" in caught.value.hint
    assert bar_count(store) == 0


def write_csv(tmp_path, text: str) -> Path:
    path = tmp_path / "bars.csv"
    path.write_text(text.strip() + "\n")
    return path


GOOD = """
date,symbol,open,high,low,close,volume
2013-12-23,XYZ,10,11,9.5,10.5,1000
2013-12-24,XYZ,10.5,11,10,10.8,900
2013-12-26,XYZ,10.8,11.2,10.6,11,1200
"""


def test_a_clean_csv_is_ingested_with_adj_close_defaulting_to_close(store, tmp_path):
    result = ingest(store, CsvSource(write_csv(tmp_path, GOOD)), progress=False)
    assert result.rows_added == 3
    stored = store.query("SELECT close, adj_close FROM bars ORDER BY date")
    assert (stored["close"] == stored["adj_close"]).all()


BAD = GOOD + """2013-12-27,XYZ,11,10.5,11.5,11,1000
2013-12-30,XYZ,,11.5,10.9,11.2,800
2013-12-31,XYZ,-1,11.5,10.9,11.2,800
2013-12-28,XYZ,11,11.5,10.9,11.2,800
"""


def test_a_csv_with_bad_rows_is_rejected_with_a_report_and_nothing_written(store, tmp_path):
    with pytest.raises(DataQualityError) as caught:
        ingest(store, CsvSource(write_csv(tmp_path, BAD)), progress=False)
    errors = caught.value.report.errors
    found = {(r.check, pd.Timestamp(r.date).date().isoformat()) for r in errors.itertuples()}
    assert found == {
        ("high_below_low", "2013-12-27"),
        ("missing_value", "2013-12-30"),
        ("non_positive_price", "2013-12-31"),
        ("non_session_date", "2013-12-28"),  # a Saturday
    }
    assert "nothing written" in caught.value.message
    assert "--on-error" in caught.value.hint
    assert bar_count(store) == 0
    assert store.scalar("SELECT count(*) FROM events") == 0
    assert store.scalar("SELECT count(*) FROM ingests") == 0


def test_drop_policy_leaves_out_bad_rows_and_keeps_the_rest(store, tmp_path):
    result = ingest(store, CsvSource(write_csv(tmp_path, BAD)), policy=Policy.DROP, progress=False)
    assert result.rows_added == 3 and result.rows_dropped == 4
    assert bar_count(store) == 3


def test_flag_policy_keeps_storable_bad_rows_and_marks_them(store, tmp_path):
    result = ingest(store, CsvSource(write_csv(tmp_path, BAD)), policy=Policy.FLAG, progress=False)
    # high<low and the Saturday bar can be stored and flagged; a missing or negative price cannot
    assert result.rows_added == 5 and result.rows_dropped == 2
    flags = store.query("SELECT check_name FROM bar_flags")["check_name"].tolist()
    assert {"high_below_low", "non_session_date"} <= set(flags)


def test_duplicate_dates_in_a_file_are_rejected(store, tmp_path):
    path = write_csv(tmp_path, GOOD + "2013-12-26,XYZ,10.9,11.3,10.6,11.1,1300\n")
    with pytest.raises(DataQualityError) as caught:
        ingest(store, CsvSource(path), progress=False)
    assert set(caught.value.report.errors["check"]) == {"duplicate_date"}
    assert len(caught.value.report.errors) == 2  # both copies: we cannot tell which is right


@pytest.mark.parametrize(
    "text, expected",
    [
        ("date,symbol,open,high,low,close\n2013-12-23,XYZ,1,1,1,1\n", r"lacks column\(s\) volume"),
        ("date,symbol,open,high,low,close,volume\nyesterday,XYZ,1,1,1,1,1\n", "could not be read"),
        ("", "not a readable CSV"),
    ],
)
def test_malformed_csv_files_get_a_clear_error(store, tmp_path, text, expected):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=expected):
        ingest(store, CsvSource(path), progress=False)
    assert bar_count(store) == 0


def test_a_missing_csv_file_says_which(store, tmp_path):
    with pytest.raises(InputError, match="no such CSV file"):
        ingest(store, CsvSource(tmp_path / "nope.csv"), progress=False)


def test_real_quirks_are_kept_as_warnings(store):
    result = ingest(store, CsvSource(FIXTURES / "ba_1962_close_above_high.csv"), progress=False)
    warnings = result.report.warnings
    row = warnings[warnings["check"] == "open_close_outside_range"]
    assert [pd.Timestamp(d).date().isoformat() for d in row["date"]] == ["1962-01-23"]
    assert result.rows_added == 41


def test_a_missing_session_is_flagged(store, tmp_path):
    # 2013-12-24 is missing between two sessions
    text = "\n".join(line for line in GOOD.strip().splitlines() if "12-24" not in line)
    result = ingest(store, CsvSource(write_csv(tmp_path, text)), progress=False)
    gaps = result.report.warnings[result.report.warnings["check"] == "missing_session"]
    assert [pd.Timestamp(d).date().isoformat() for d in gaps["date"]] == ["2013-12-24"]


def test_start_after_end_is_refused(store):
    with pytest.raises(InputError, match="after --end"):
        ingest(store, SampleSource(), start="2010-01-01", end="2009-01-01", progress=False)


def test_the_command_lines_policy_choices_are_the_quality_policies():
    from engine.cli.data import POLICIES
    from engine.data.quality import Policy

    assert tuple(p.value for p in Policy) == POLICIES
