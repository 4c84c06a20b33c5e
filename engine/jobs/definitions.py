"""Job definitions: what runs, when, and only on trading days or not, read from jobs/jobs.yaml.

::

    timezone: America/New_York      # default for every job
    root: ..                        # notebook paths are relative to this (from this file)
    jobs:
      - name: daily-report
        kind: report                # ingest | notebook | report | live_step | command
        when: every().day.at('17:00')    # or: {every: day, at: "17:00"}
        trading_days_only: true

``when`` speaks the ``schedule`` library's vocabulary, as an expression
(``every(10).minutes``, ``every().monday.at('08:00')``) or as a mapping (``every: 10
minutes``, ``every: monday``, ``at: "08:00"``); it is parsed, never evaluated. Quote
times in mappings: YAML reads a bare 16:30 as a number.
"""

from __future__ import annotations

import ast
import difflib
import re
import shlex
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic
import schedule
from pydantic import Field

from engine.config.loading import describe_error, parse_yaml_mapping, read_text
from engine.data.bar_sizes import check_bar_size, is_intraday
from engine.errors import InputError
from engine.research.notebook_params import check_parameters, notebook_parameters

DEFAULT_TIMEZONE = "America/New_York"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_PERIODS = ("seconds", "minutes", "hours", "days", "weeks")
UNITS = _PERIODS + WEEKDAYS
_EXAMPLES = "write e.g. every().day.at('16:30') or {every: day, at: '16:30'}"


class When(pydantic.BaseModel):
    """When a job is due: every ``interval`` ``unit`` (a period or a weekday), at ``at``."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    interval: int = Field(1, ge=1)
    unit: Literal[UNITS]  # type: ignore[valid-type]
    at: str | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _parse_expression(value)
        if isinstance(value, dict) and "every" in value:
            return _parse_mapping(value)
        if isinstance(value, dict) and "unit" in value:
            return value
        raise ValueError(f"{value!r} is not a schedule; {_EXAMPLES}")

    @pydantic.model_validator(mode="after")
    def _check_with_schedule(self) -> When:
        if self.unit in WEEKDAYS and self.interval != 1:
            raise ValueError(
                f"a weekday schedule runs every week; drop the interval {self.interval}"
            )
        try:
            self.attach(schedule.Scheduler(), DEFAULT_TIMEZONE)
        except (schedule.ScheduleValueError, schedule.IntervalError) as exc:
            raise ValueError(f"{self.text}: {exc}") from None
        return self

    @property
    def text(self) -> str:
        """The schedule as the ``schedule`` library writes it: ``every().day.at('16:30')``."""
        interval = "" if self.interval == 1 else str(self.interval)
        unit = self.unit[:-1] if self.interval == 1 and self.unit in _PERIODS else self.unit
        at = f".at('{self.at}')" if self.at else ""
        return f"every({interval}).{unit}{at}"

    def attach(self, scheduler: schedule.Scheduler, timezone: str) -> schedule.Job:
        """An unfinished ``schedule`` job on ``scheduler`` for this time; finish it with ``.do(fn)``."""
        job = getattr(scheduler.every(self.interval), self.unit)
        return job.at(self.at, timezone) if self.at else job


class _Job(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
    description: str = ""
    when: When
    timezone: str = DEFAULT_TIMEZONE
    trading_days_only: bool = True
    #: A run still going after this long is stopped and recorded as failed.
    timeout_minutes: float = Field(120, gt=0)
    enabled: bool = True

    @pydantic.field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use e.g. America/New_York") from None
        return value

    def what(self) -> str:
        """What the job runs, in a few words."""
        return self.kind


class IngestJob(_Job):
    """Load bars with `wb ingest` (only the dates the store lacks)."""

    kind: Literal["ingest"]
    source: Literal["sample", "yahoo", "csv", "alpaca"] = "yahoo"
    #: Tickers to refresh; none means every symbol the store already holds at this bar size.
    symbols: list[str] | None = None
    path: str | None = None  # the file, for source csv
    on_error: Literal["reject", "drop", "flag"] = "reject"
    #: 1m, 5m, 15m, 30m, 1h or 1d, as `wb ingest --bar-size`.
    bar_size: str = "1d"
    extended_hours: bool = False  # intraday only: keep pre- and post-market bars too
    feed: Literal["iex", "sip"] | None = None  # alpaca only; none: WB_ALPACA_FEED, else iex

    @pydantic.field_validator("bar_size")
    @classmethod
    def _known_bar_size(cls, value: str) -> str:
        try:
            return check_bar_size(value)
        except InputError as error:  # said as the field's problem, with what to write instead
            raise ValueError(f"{error.message}; {error.hint}") from None

    @pydantic.model_validator(mode="after")
    def _options_fit_the_source(self) -> IngestJob:
        if self.source == "csv" and not self.path:
            raise ValueError("source csv needs path: the CSV file to load")
        if self.extended_hours and not is_intraday(self.bar_size):
            raise ValueError("extended_hours needs an intraday bar_size (1m to 1h)")
        if self.feed and self.source != "alpaca":
            raise ValueError("feed is an Alpaca option: drop it or use source alpaca")
        return self

    def what(self) -> str:
        symbols = ",".join(self.symbols) if self.symbols else "(stored symbols)"
        size = "" if self.bar_size == "1d" else f" {self.bar_size} bars"
        return f"ingest {self.source}{size} {symbols}"


class NotebookJob(_Job):
    """Run a notebook with papermill, as `wb research run` does."""

    kind: Literal["notebook"]
    notebook: str
    parameters: dict[str, Any] = {}

    def what(self) -> str:
        return f"notebook {Path(self.notebook).name}"


class ReportJob(_Job):
    """Run the daily report notebook for the run's New York date (its `date` parameter)."""

    kind: Literal["report"]
    notebook: str = "notebooks/daily_report.ipynb"
    parameters: dict[str, Any] = {}

    def what(self) -> str:
        return f"report {Path(self.notebook).name}"


class LiveStepJob(_Job):
    """One step of the live loop (see engine.jobs.running for how the loop plugs in)."""

    kind: Literal["live_step"]
    options: dict[str, Any] = {}


class CommandJob(_Job):
    """Any `wb` command line, e.g. ``data check --json``."""

    kind: Literal["command"]
    command: str

    @pydantic.field_validator("command")
    @classmethod
    def _a_wb_command(cls, value: str) -> str:
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split {value!r} into words: {exc}") from None
        if words[:1] == ["wb"]:
            words = words[1:]
        if not words:
            raise ValueError("name a wb command, e.g. 'data check'")
        return shlex.join(words)

    def what(self) -> str:
        return f"wb {self.command}"


Job = IngestJob | NotebookJob | ReportJob | LiveStepJob | CommandJob
JOB_KINDS: dict[str, type[_Job]] = {
    "ingest": IngestJob,
    "notebook": NotebookJob,
    "report": ReportJob,
    "live_step": LiveStepJob,
    "command": CommandJob,
}
_FILE_KEYS = ("timezone", "root", "jobs")
JOBS_FILE_NEEDS = (
    "a jobs file needs `jobs:` followed by a list of jobs, each with name, kind and when "
    "(e.g. `- {name: refresh, kind: ingest, when: \"every().day.at('16:30')\"}`); the "
    "project's jobs/jobs.yaml is a complete example"
)


def load_jobs(path: str | Path) -> list[Job]:
    """The jobs defined in the YAML file at ``path``, notebook paths made absolute.

    Every problem in the file (a bad field of any job, a duplicate name, a missing
    notebook) is reported at once in one InputError naming the job and the field.
    """
    path = Path(path)
    data = parse_yaml_mapping(read_text(path, what="jobs"), source=str(path), needs=JOBS_FILE_NEEDS)
    problems = [_unknown_key(key) for key in data if key not in _FILE_KEYS]
    timezone = data.get("timezone", DEFAULT_TIMEZONE)
    root = (path.parent / str(data.get("root", ".."))).resolve()
    raw_jobs = data.get("jobs") or []
    if not isinstance(raw_jobs, list):
        problems.append("'jobs' must be a list of jobs (each starting with '- name: ...')")
        raw_jobs = []

    jobs: list[Job] = []
    seen: set[Any] = set()
    for number, raw in enumerate(raw_jobs, start=1):
        label = (
            f"job {raw.get('name')!r}"
            if isinstance(raw, dict) and raw.get("name")
            else f"job #{number}"
        )
        if not isinstance(raw, dict):
            problems.append(f"{label}: must be a mapping of fields (name, kind, when, ...)")
            continue
        job, job_problems = _parse_job({"timezone": timezone, **raw}, root)
        problems += [f"{label}: {p}" for p in job_problems]
        if raw.get("name") in seen:
            problems.append(f"{label}: the name is used by an earlier job; names must be unique")
        seen.add(raw.get("name"))
        if job is not None:
            jobs.append(job)
    if problems:
        raise InputError(
            f"{path} has {len(problems)} problem{'s' if len(problems) > 1 else ''}: "
            + "; ".join(problems),
            hint="fix the jobs and fields named above (wb jobs list checks the file)",
        )
    return jobs


def find_job(jobs: list[Job], name: str) -> Job:
    """The job called ``name``; an InputError with the closest names if there is none."""
    for job in jobs:
        if job.name == name:
            return job
    names = [job.name for job in jobs]
    guess = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    from engine.errors import NotFoundError

    raise NotFoundError(
        f"no job {name!r}" + (f"; did you mean {guess[0]!r}?" if guess else ""),
        hint=f"jobs: {', '.join(names) or 'none defined'}",
    )


def _parse_job(raw: dict[str, Any], root: Path) -> tuple[Job | None, list[str]]:
    kind = raw.get("kind")
    model = JOB_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        guess = difflib.get_close_matches(str(kind), list(JOB_KINDS), n=1, cutoff=0.5)
        advice = f"did you mean {guess[0]!r}? " if guess else ""
        missing = "missing field 'kind'" if kind is None else f"field 'kind': unknown kind {kind!r}"
        return None, [f"{missing}: {advice}kinds are {', '.join(JOB_KINDS)}"]
    try:
        job = model.model_validate(raw)
    except pydantic.ValidationError as exc:
        return None, [describe_error(model, err) for err in exc.errors()]
    if isinstance(job, NotebookJob | ReportJob):
        notebook = Path(job.notebook).expanduser()
        notebook = notebook if notebook.is_absolute() else root / notebook
        if not notebook.is_file():
            return None, [f"field 'notebook': no notebook at {notebook}"]
        job = job.model_copy(update={"notebook": str(notebook.resolve())})
        try:  # a parameter that does not fit should fail now, not at the scheduled hour
            check_parameters(job.parameters, notebook_parameters(notebook), notebook=notebook.name)
        except InputError as exc:
            return None, [f"field 'parameters': {exc.message}"]
    return job, []


def _unknown_key(key: str) -> str:
    guess = difflib.get_close_matches(str(key), _FILE_KEYS, n=1, cutoff=0.6)
    advice = f"did you mean {guess[0]!r}?" if guess else f"the file takes {', '.join(_FILE_KEYS)}"
    return f"unknown top-level field {key!r}: {advice}"


# -- the `when` vocabulary -------------------------------------------------------------


def _unit(word: str, interval: int) -> str:
    word = str(word).strip().lower()
    if word in UNITS:
        return word
    if f"{word}s" in _PERIODS:
        return f"{word}s"
    guess = difflib.get_close_matches(word, [u[:-1] for u in _PERIODS] + list(WEEKDAYS), n=1)
    advice = f"did you mean {guess[0]!r}? " if guess else ""
    raise ValueError(f"{word!r} is not a schedule unit; {advice}{_EXAMPLES}")


def _parse_expression(text: str) -> dict[str, Any]:
    """``"every(2).hours.at(':15')"`` -> {interval: 2, unit: hours, at: ':15'}, without eval."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise ValueError(f"{text!r} is not a schedule expression; {_EXAMPLES}") from None
    steps: list[tuple[str, list[ast.expr] | None]] = []
    while True:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            steps.append((name, node.args))
            node = node.func.value if isinstance(node.func, ast.Attribute) else None
        elif isinstance(node, ast.Attribute):
            steps.append((node.attr, None))
            node = node.value
        elif isinstance(node, ast.Name):
            if node.id != "schedule":  # `schedule.every()...` is fine; anything else is the root
                steps.append((node.id, None))
            break
        elif node is None:
            break
        else:
            raise ValueError(f"{text!r} is not a schedule expression; {_EXAMPLES}")
    steps.reverse()
    if not steps or steps[0][0] != "every" or steps[0][1] is None:
        raise ValueError(f"{text!r} must start with every(); {_EXAMPLES}")
    interval = _literal(steps[0][1], int, text) if steps[0][1] else 1
    if len(steps) < 2 or steps[1][1] is not None:
        raise ValueError(f"{text!r} names no unit after every(); {_EXAMPLES}")
    parsed: dict[str, Any] = {"interval": interval, "unit": _unit(steps[1][0], interval)}
    for name, args in steps[2:]:
        if name != "at" or not args or len(args) != 1:
            raise ValueError(f"{text!r}: only .at('HH:MM') may follow the unit; {_EXAMPLES}")
        parsed["at"] = _literal(args, str, text)
    return parsed


def _literal(args: list[ast.expr], kind: type, text: str):
    if len(args) != 1 or not isinstance(args[0], ast.Constant) or type(args[0].value) is not kind:
        raise ValueError(f"{text!r}: expected one {kind.__name__} literal in the brackets")
    return args[0].value


def _parse_mapping(value: dict[str, Any]) -> dict[str, Any]:
    """``{every: "10 minutes"}`` / ``{every: day, at: "16:30"}`` -> {interval, unit, at}."""
    unknown = set(value) - {"every", "at"}
    if unknown:
        raise ValueError(f"a schedule mapping takes every and at, not {', '.join(sorted(unknown))}")
    every = str(value["every"]).strip()
    match = re.fullmatch(r"(?:(\d+)\s+)?([A-Za-z]+)", every)
    if not match:
        raise ValueError(f"every: {every!r} is not a period; write e.g. day, 10 minutes, monday")
    interval = int(match.group(1) or 1)
    parsed: dict[str, Any] = {"interval": interval, "unit": _unit(match.group(2), interval)}
    at = value.get("at")
    if isinstance(at, int) and not isinstance(at, bool) and 0 <= at < 24 * 60:
        at = f"{at // 60:02d}:{at % 60:02d}"  # YAML 1.1 read an unquoted 16:30 as 990
    if at is not None:
        if not isinstance(at, str):
            raise ValueError(f'at: {at!r} is not a time; quote it, e.g. at: "16:30"')
        parsed["at"] = at
    return parsed
