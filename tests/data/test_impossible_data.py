"""Impossible data is refused at ingest, and `wb data check` finds it in what is stored."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from engine.data.ingest import ingest
from engine.data.quality import Policy
from engine.data.sources import CsvSource
from engine.errors import DataQualityError, InputError

HEADER = "date,symbol,open,high,low,close,volume,adj_close\n"
CLEAN = """2013-12-23,XYZ,10,11,9.5,10.5,1000,10.5
2013-12-24,XYZ,10.5,11,10,10.8,900,10.8
2013-12-26,XYZ,10.8,11.2,10.6,11,1200,11
"""


def write(tmp_path, rows: str, name="bars.csv"):
    path = tmp_path / name
    path.write_text(HEADER + rows)
    return path


@pytest.mark.parametrize("row, reason", [
    ("2013-12-27,XYZ,11,inf,10.9,11.2,800,11.2", "high is inf"),
    ("2013-12-27,XYZ,11,1e300,10.9,11.2,800,11.2", "high 1e+300 is past any real price"),
    ("2013-12-27,XYZ,11,11.5,10.9,11.2,1e26,11.2", "volume 1e+26 is past any real volume"),
    ("2013-12-27,XYZ,11,11.5,10.9,11.2,800,-3.5", "adj_close -3.5 is at or below zero"),
    ("2030-01-02,XYZ,11,11.5,10.9,11.2,800,11.2", "dated after now"),
    ("1850-01-02,XYZ,11,11.5,10.9,11.2,800,11.2", "dated before 1885"),
])
def test_each_impossible_row_is_an_error_with_the_row_named(store, tmp_path, row, reason):
    path = write(tmp_path, CLEAN + row + "\n")
    with pytest.raises(DataQualityError) as caught:
        ingest(store, CsvSource(path), progress=False)
    errors = caught.value.report.errors
    assert len(errors) == 1 and reason in errors["reason"].iloc[0]
    named = row.split(",")[0]
    assert f"XYZ    {named}" in caught.value.message  # symbol and date, in the one-line error
    assert store.scalar("SELECT count(*) FROM bars") == 0


def test_impossible_rows_are_dropped_even_under_the_flag_policy(store, tmp_path):
    path = write(tmp_path, CLEAN + "2013-12-27,XYZ,11,inf,10.9,11.2,800,11.2\n"
                                   "2030-01-02,XYZ,11,11.5,10.9,11.2,800,11.2\n")
    result = ingest(store, CsvSource(path), policy=Policy.FLAG, progress=False)
    assert result.rows_added == 3 and result.rows_dropped == 2
    assert pd.Timestamp(store.scalar("SELECT max(date) FROM bars")) == pd.Timestamp("2013-12-26")


def test_a_day_month_date_is_refused_unless_its_format_is_given(store, tmp_path):
    path = write(tmp_path, "02/01/2014,XYZ,10,11,9.5,10.5,1000,10.5\n")
    with pytest.raises(InputError, match=r"line 2: '02/01/2014'") as caught:
        ingest(store, CsvSource(path), progress=False)
    assert "--date-format" in caught.value.hint
    ingest(store, CsvSource(path, date_format="%d/%m/%Y"), progress=False)
    assert pd.Timestamp(store.scalar("SELECT date FROM bars")) == pd.Timestamp("2014-01-02")  # 2 January


def test_a_csv_row_without_a_symbol_is_named(store, tmp_path):
    path = write(tmp_path, CLEAN + "2013-12-27,,11,11.5,10.9,11.2,800,11.2\n")
    with pytest.raises(InputError, match=r"1 row\(s\) have no symbol \(line 5\)"):
        ingest(store, CsvSource(path), progress=False)


def wb(*args, data_dir):
    return subprocess.run([sys.executable, "-m", "engine.cli", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=300)


def test_data_check_finds_bad_rows_an_older_version_let_in(sample_store, data_dir):
    # what older versions stored without a word: infinite and absurd prices, huge volume,
    # a negative adj_close, bars in 2030 and 1850
    sample_store.execute(
        "INSERT INTO bars VALUES"
        " ('AAPL', '2030-01-02', 10, 11, 9, 10, 100, 10, 'csv', now()),"
        " ('AAPL', '1850-01-02', 10, 11, 9, 10, 100, 10, 'csv', now()),"
        " ('GE', '2013-12-27', 10, 'inf', 9, 10, 100, 10, 'csv', now()),"
        " ('GE', '2013-12-30', 10, 1e300, 9, 10, 100, 10, 'csv', now()),"
        " ('GE', '2013-12-31', 10, 11, 9, 10, 1e26, -10, 'csv', now())"
        " ON CONFLICT DO UPDATE SET high = excluded.high, volume = excluded.volume,"
        " adj_close = excluded.adj_close")
    result = wb("data", "check", "--symbols", "AAPL,GE", "--json", data_dir=data_dir)
    assert result.returncode == 1, result.stderr  # errors found: a script can stop on them
    report = json.loads(result.stdout)
    errors = {(f["symbol"], f["date"][:10], f["check"]) for f in report["findings"] if f["severity"] == "error"}
    assert errors == {
        ("AAPL", "2030-01-02", "impossible_date"), ("AAPL", "1850-01-02", "impossible_date"),
        ("GE", "2013-12-27", "impossible_value"), ("GE", "2013-12-30", "impossible_value"),
        ("GE", "2013-12-31", "impossible_value"),
    }
    text = wb("data", "check", "--symbols", "GE", data_dir=data_dir)
    assert text.returncode == 1 and "GE     2013-12-27" in text.stdout and "high is inf" in text.stdout


@pytest.mark.parametrize("args, expected", [
    (["ingest", "--source", "yahoo"], "error: --source yahoo needs symbols"),
    (["ingest", "--source", "alpaca", "--symbols", "AAPL"], "error: Alpaca market data needs API keys"),
    (["bars", "AAPL", "--start", "2013-12-31", "--end", "2013-12-01"], "error: the range is backwards"),
    (["ingest", "--bar-size", "1d", "--extended-hours"], "error: daily bars have no extended hours"),
])
def test_bad_requests_get_one_line_not_a_traceback(tmp_path, args, expected, monkeypatch):
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    result = wb(*args, data_dir=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(expected), result.stderr
    assert "what to do:" in result.stderr


def test_a_csv_with_an_empty_symbol_cell_is_one_line(tmp_path):
    path = write(tmp_path, CLEAN + "2013-12-27,,11,11.5,10.9,11.2,800,11.2\n")
    result = wb("ingest", "--source", "csv", "--path", str(path), data_dir=tmp_path / "data")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "have no symbol (line 5)" in result.stderr
