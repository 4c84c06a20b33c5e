"""jobs.yaml: readable job definitions, and errors that name the job and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InputError, NotFoundError
from engine.jobs import When, find_job, load_jobs

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "research_runs" / "tiny.ipynb"


def _jobs_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(f"root: {REPO}\njobs:\n{body}")
    return path


def test_the_shipped_jobs_are_four_trading_day_jobs_and_a_daily_backup():
    jobs = {job.name: job for job in load_jobs(REPO / "jobs" / "jobs.yaml")}

    assert {name: job.kind for name, job in jobs.items()} == {
        "refresh-bars": "ingest",
        "refresh-earnings": "command",
        "daily-report": "report",
        "nightly-research": "notebook",
        "backup-store": "command",
    }
    assert all(job.timezone == "America/New_York" for job in jobs.values())
    assert [name for name, job in jobs.items() if not job.trading_days_only] == ["backup-store"]
    assert jobs["backup-store"].command == "backup --keep 14"
    assert jobs["refresh-bars"].when.text == "every().day.at('16:30')"
    assert jobs["refresh-earnings"].command == "earnings refresh"
    # notebook paths are resolved against the project, so any working directory will do
    assert Path(jobs["nightly-research"].notebook) == REPO / "notebooks" / "strategy_research.ipynb"


@pytest.mark.parametrize(
    ("when", "text"),
    [
        ("every().day.at('16:30')", "every().day.at('16:30')"),
        ("schedule.every().day.at('16:30')", "every().day.at('16:30')"),
        ({"every": "day", "at": "16:30"}, "every().day.at('16:30')"),
        ({"every": "day", "at": 990}, "every().day.at('16:30')"),  # YAML's reading of a bare 16:30
        ("every(10).minutes", "every(10).minutes"),
        ({"every": "10 minutes"}, "every(10).minutes"),
        ("every().monday.at('08:00')", "every().monday.at('08:00')"),
        ({"every": "hour", "at": ":15"}, "every().hour.at(':15')"),
    ],
)
def test_when_reads_the_schedule_vocabulary_both_ways(when, text):
    assert When.model_validate(when).text == text


@pytest.mark.parametrize(
    ("when", "says"),
    [
        ("every().dya.at('16:30')", "did you mean 'day'?"),
        ("every().day.at('25:00')", "every().day.at('25:00')"),
        ("__import__('os').system('rm -rf /')", "must start with every()"),
        ("every().day.do(print)", "only .at('HH:MM') may follow the unit"),
        ("every(2).monday", "a weekday schedule runs every week"),
        ({"every": "day", "at": "4pm"}, "at('4pm')"),
        ("daily", "must start with every()"),
    ],
)
def test_a_bad_when_says_what_to_write(when, says):
    with pytest.raises(ValueError) as refused:
        When.model_validate(when)
    assert says in str(refused.value)


def test_the_unquoted_yaml_time_works_in_a_file(tmp_path):
    path = _jobs_file(
        tmp_path,
        (
            "  - name: check\n    kind: command\n    command: wb data check\n"
            "    when: {every: day, at: 16:30}\n"
        ),
    )
    [job] = load_jobs(path)
    assert job.when.text == "every().day.at('16:30')"
    assert job.command == "data check"  # a leading `wb` is optional


def test_every_problem_names_its_job_and_field(tmp_path):
    path = _jobs_file(
        tmp_path,
        (
            "  - name: report\n    kind: report\n    when: every().day.at('17:00')\n"
            "    trading_day_only: true\n"
            "  - name: research\n    kind: notebok\n    when: every().day\n"
            "  - name: refresh\n    kind: ingest\n    source: yahooo\n    when: every().day.at('16:30')\n"
            "  - name: refresh\n    kind: command\n    command: data check\n    when: every().day\n"
            "  - name: tokyo\n    kind: command\n    command: data check\n    when: every().day\n"
            "    timezone: Asia/Tokio\n"
            "  - name: lost\n    kind: notebook\n    notebook: notebooks/nope.ipynb\n    when: every().day\n"
            "  - name: nightly\n    kind: notebook\n    notebook: notebooks/strategy_research.ipynb\n"
            "    parameters: {foldz: 3}\n    when: every().day\n"
        ),
    )
    with pytest.raises(InputError) as refused:
        load_jobs(path)
    message = refused.value.message

    assert "has 7 problems" in message
    assert (
        "job 'report': unknown field 'trading_day_only': did you mean 'trading_days_only'?"
        in message
    )
    assert (
        "job 'research': field 'kind': unknown kind 'notebok': did you mean 'notebook'?" in message
    )
    assert "job 'refresh': field 'source': Input should be 'sample', 'yahoo', 'csv' or 'alpaca'" in message
    assert "job 'refresh': the name is used by an earlier job" in message
    assert "job 'tokyo': field 'timezone': unknown time zone 'Asia/Tokio'" in message
    assert (
        f"job 'lost': field 'notebook': no notebook at {REPO / 'notebooks' / 'nope.ipynb'}"
        in message
    )
    # parameters that do not fit the notebook fail when the file is read, not at run time
    assert (
        "job 'nightly': field 'parameters': strategy_research.ipynb: unknown parameter 'foldz'"
        " (did you mean 'folds'?)" in message
    )


def test_a_missing_file_and_a_missing_job_say_what_exists(tmp_path):
    with pytest.raises(NotFoundError):
        load_jobs(tmp_path / "nope.yaml")
    jobs = load_jobs(
        _jobs_file(
            tmp_path,
            (
                f"  - name: daily-report\n    kind: report\n    notebook: {TINY}\n    when: every().day\n"
            ),
        )
    )
    with pytest.raises(NotFoundError) as missing:
        find_job(jobs, "daily-reprot")
    assert "did you mean 'daily-report'?" in missing.value.message


def test_an_ingest_job_names_a_bar_size_as_wb_ingest_does(tmp_path):
    path = _jobs_file(
        tmp_path,
        "  - name: minutes\n    kind: ingest\n    source: alpaca\n    bar_size: 5min\n"
        "    extended_hours: true\n    feed: sip\n    symbols: [AAPL]\n    when: every(5).minutes\n",
    )
    with pytest.raises(InputError) as alias:
        load_jobs(path)
    assert "unknown bar size '5min'" in alias.value.message and "did you mean 5m?" in alias.value.message

    path.write_text(path.read_text().replace("5min", "5m"))
    (minutes,) = load_jobs(path)
    assert (minutes.bar_size, minutes.extended_hours, minutes.feed) == ("5m", True, "sip")
    assert minutes.what() == "ingest alpaca 5m bars AAPL"


@pytest.mark.parametrize(
    "fields, says",
    [
        ("    extended_hours: true\n", "extended_hours needs an intraday bar_size"),
        ("    feed: iex\n", "feed is an Alpaca option"),
    ],
)
def test_ingest_options_that_do_not_fit_are_refused(tmp_path, fields, says):
    path = _jobs_file(
        tmp_path, f"  - name: daily\n    kind: ingest\n    source: yahoo\n{fields}    when: every().day\n"
    )
    with pytest.raises(InputError, match=says):
        load_jobs(path)
