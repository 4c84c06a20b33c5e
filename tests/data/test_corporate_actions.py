"""Corporate-action records: kept by ingest from the source, imported from a CSV, read by ex-date."""

from __future__ import annotations

import json
from datetime import date

import pytest

from engine.cli import cli
from engine.cli._common import run_cli
from engine.data import corporate_actions
from engine.data.corporate_actions import CorporateAction, actions_between
from engine.data.ingest import ingest
from engine.data.sources import SampleSource
from engine.errors import InputError

SAMPLE_ACTIONS = corporate_actions.__file__.replace(
    "engine/data/corporate_actions.py", "data/sample/actions.csv.gz"
)


def _between(store, symbols, after, through):
    with store.connect() as con:
        return actions_between(con, symbols, date.fromisoformat(after), date.fromisoformat(through))


def test_ingest_keeps_the_sources_dividends_beside_its_splits(store):
    ingest(store, SampleSource(), ["AAPL"], progress=False)
    # AAPL's 2005 2-for-1 split and its first dividends in 2012 (WIKI's records, as traded).
    assert _between(store, ["AAPL"], "2005-01-01", "2012-12-31") == [
        CorporateAction("AAPL", date(2005, 2, 28), "split", ratio=2.0),
        CorporateAction("AAPL", date(2012, 8, 9), "dividend", amount=2.65),
        CorporateAction("AAPL", date(2012, 11, 7), "dividend", amount=2.65),
    ]
    # The ex-date window is (after, through]: an action on `after` has already happened.
    assert _between(store, ["AAPL"], "2012-08-09", "2012-11-07") == [
        CorporateAction("AAPL", date(2012, 11, 7), "dividend", amount=2.65)
    ]


def test_a_csv_import_stores_splits_and_dividends_and_replaces_a_sources_record(store, tmp_path):
    ingest(store, SampleSource(), ["AAPL"], progress=False)
    path = tmp_path / "actions.csv"
    path.write_text(
        "symbol,date,split_ratio,dividend,pay_date\n"
        "aapl,2014-06-09,7,,\n"
        "AAPL,2012-08-09,,2.70,2012-08-16\n"  # a corrected amount, with its pay date
        "XYZ,2020-08-31,0.25,,\n"
    )
    assert corporate_actions.import_csv(store, path, actor="test") == (2, 1)
    assert _between(store, ["AAPL", "XYZ"], "2012-08-01", "2020-12-31") == [
        CorporateAction(
            "AAPL", date(2012, 8, 9), "dividend", amount=2.70, pay_date=date(2012, 8, 16)
        ),
        CorporateAction("AAPL", date(2012, 11, 7), "dividend", amount=2.65),
        CorporateAction("AAPL", date(2013, 2, 7), "dividend", amount=2.65),
        CorporateAction("AAPL", date(2013, 5, 9), "dividend", amount=3.05),
        CorporateAction("AAPL", date(2013, 8, 8), "dividend", amount=3.05),
        CorporateAction("AAPL", date(2013, 11, 6), "dividend", amount=3.05),
        CorporateAction("AAPL", date(2014, 6, 9), "split", ratio=7.0),
        CorporateAction("XYZ", date(2020, 8, 31), "split", ratio=0.25),
    ]
    event = store.query(
        "SELECT subject, payload FROM events WHERE kind = 'corporate_actions.imported'"
    )
    assert event["subject"].tolist() == ["csv:actions.csv"]
    assert json.loads(event["payload"][0])["symbols"] == ["AAPL", "XYZ"]


def test_the_bundled_actions_file_imports_as_it_is(store):
    splits, dividends = corporate_actions.import_csv(store, SAMPLE_ACTIONS, actor="test")
    assert (splits, dividends) == (8, 207)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("symbol,when\nAAPL,2024-01-02\n", "lacks the column(s) date"),
        ("symbol,date\nAAPL,2024-01-02\n", "has neither a split_ratio nor a dividend column"),
        ("symbol,date,split_ratio,dividend\nAAPL,2024-01-02,,\n", "line 2: neither a split_ratio nor a dividend"),
        ("symbol,date,split_ratio\n", "has a header but no corporate actions"),
        ("symbol,date,split_ratio\nAAPL,06/09/2014,7\n", "line 2: date '06/09/2014' is not YYYY-MM-DD"),
        ("symbol,date,split_ratio\nAAPL,2014-06-09,7:1\n", "line 2: split_ratio '7:1' is not a positive number"),
        ("symbol,date,split_ratio\nAAPL,2014-06-09,-2\n", "line 2: split_ratio '-2' is not a positive number"),
        ("symbol,date,dividend\nAAPL,2014-06-09,$0.47\n", "line 2: dividend '$0.47' is not an amount of cash >= 0"),
        ("symbol,date,dividend\n12AB,2014-06-09,0.47\n", "line 2: symbol '12AB' is not a ticker"),
        ("symbol,date,dividend,pay_date\nAAPL,2014-06-09,0.47,2014-06-01\n", "pay_date 2014-06-01 is before the ex-date"),
        ("symbol,date,split_ratio\nAAPL,2014-06-09,7\nAAPL,2014-06-09,4\n", "lines 2, 3: AAPL 2014-06-09 is listed more than once"),
    ],
)  # fmt: skip
def test_a_bad_csv_is_refused_whole_with_a_line_that_says_what_to_fix(store, tmp_path, text, said):
    path = tmp_path / "actions.csv"
    # A good line last: nothing of the file may be written when one line is bad.
    lines = text.splitlines()
    width = len(lines[0].split(","))
    if len(lines) > 1 and width > 2:
        lines.append(",".join(["GE", "2014-01-02", "1.5", *[""] * (width - 3)]))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as caught:
        corporate_actions.import_csv(store, path, actor="test")
    assert said in caught.value.message
    assert caught.value.hint and "symbol,date,split_ratio,dividend" in caught.value.hint
    assert store.scalar("SELECT count(*) FROM splits") == 0
    assert store.scalar("SELECT count(*) FROM dividends") == 0


def test_wb_data_actions_import_and_show(store, data_dir, tmp_path, capsys):
    path = tmp_path / "actions.csv"
    path.write_text("symbol,date,split_ratio,dividend\nXYZ,2024-01-04,4,\nXYZ,2024-01-05,,0.5\n")
    code = run_cli(cli, ["--data-dir", str(data_dir), "data", "actions", "import", str(path)])
    assert (code, capsys.readouterr().out.strip()) == (
        0,
        "imported 1 split(s) and 1 dividend(s) from actions.csv",
    )
    run_cli(cli, ["--data-dir", str(data_dir), "data", "actions", "show", "xyz"])
    assert capsys.readouterr().out.splitlines() == [
        "XYZ      2024-01-04  split 4 new shares per old  (csv:actions.csv)",
        "XYZ      2024-01-05  dividend 0.5/share  (csv:actions.csv)",
    ]

    path.write_text("symbol,date,split_ratio\nXYZ,2024-01-04,four\n")
    code = run_cli(cli, ["--data-dir", str(data_dir), "data", "actions", "import", str(path)])
    assert code == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "error: actions.csv: nothing imported, 1 bad line(s): line 2: split_ratio 'four' is not a positive number"
    )


def test_kept_actions_are_read_once_and_read_again_when_the_stored_ones_change(store, tmp_path):
    """A loop steps session after session: it reads the actions once, and again only when
    an ingest or an import changed them (its stamp, read with its other reads, moves)."""
    ingest(store, SampleSource(), ["AAPL"], progress=False)
    known = corporate_actions.KnownActions()

    def between(after, through, con=None):
        with store.connect() as live:
            stamp = live.execute(corporate_actions.STAMP_SQL).fetchone()[0]
            return known.between(con or live, stamp, ["AAPL"], date.fromisoformat(after),
                                 date.fromisoformat(through))  # fmt: skip

    assert between("2012-08-01", "2012-08-31") == [
        CorporateAction("AAPL", date(2012, 8, 9), "dividend", amount=2.65)
    ]

    class NoReads:
        def execute(self, *_):
            raise AssertionError("read again while the stored actions were unchanged")

    # The next sessions are answered from memory, the window (after, through] as read.
    assert between("2012-08-09", "2012-11-07", NoReads()) == [
        CorporateAction("AAPL", date(2012, 11, 7), "dividend", amount=2.65)
    ]
    assert between("2012-11-07", "2012-11-30", NoReads()) == []
    # A split imported for a session still to come is seen at that session.
    path = tmp_path / "actions.csv"
    path.write_text("symbol,date,split_ratio,dividend\nAAPL,2012-11-20,2,\n")
    corporate_actions.import_csv(store, path, actor="test")
    assert between("2012-11-07", "2012-11-30") == [
        CorporateAction("AAPL", date(2012, 11, 20), "split", ratio=2.0)
    ]
