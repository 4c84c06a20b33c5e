"""What every `wb` command shares: the data dir, JSON output and error reporting."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
import orjson
import pydantic

from engine.errors import InputError, WorkbenchError


@dataclass
class Context:
    """Per-invocation state: where the data lives, and how loud to be about errors."""

    data_dir: Path
    debug: bool = False
    _store: Any = field(default=None, repr=False)

    def store(self):
        """The store of the data dir, opened (and migrated) on first use."""
        if self._store is None:
            from engine.store import Store

            self._store = Store.open(self.data_dir)
        return self._store


pass_context = click.make_pass_decorator(Context)

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")

_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _json_default(value: Any) -> Any:
    """What orjson cannot write itself: frames (as records), models, paths, missing dates."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime | date):  # a pandas Timestamp (orjson takes only datetime)
        return value.isoformat()
    # A frame or a missing date means pandas is loaded already: importing it here is free,
    # while importing it at the top would cost `wb --help` a third of a second.
    import pandas as pd

    if value is pd.NaT:
        return None
    if isinstance(value, pd.DataFrame):
        # Column by column into plain lists (C speed), then zipped into rows: a sweep's
        # table of 170,000 rows is written in a fraction of a second.
        names = [str(name) for name in value.columns]
        columns = [value.iloc[:, k].tolist() for k in range(value.shape[1])]
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    if isinstance(value, pd.Series):
        return value.to_dict()
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON (NaN and infinity become null, dates ISO strings).

    Written as the bytes orjson makes: as text, click would decode it and search all of
    it for colour codes, which costs seconds on a sweep's table of 170,000 rows.
    """
    click.echo(orjson.dumps(data, default=_json_default, option=_JSON_OPTIONS))


def listing(rows, as_json: bool, line: Callable[[Any], str], *, empty: str) -> None:
    """Print stored rows (a frame): as JSON, or ``line(row)`` for each row, or ``empty`` if none."""
    if as_json:
        emit_json(rows)
    elif rows.empty:
        click.echo(empty)
    else:
        for row in rows.itertuples():
            click.echo(line(row))


def split_symbols(text: str | None) -> list[str] | None:
    """``"aapl, msft"`` -> ``["AAPL", "MSFT"]``; None stays None."""
    if text is None:
        return None
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not symbols:
        raise InputError("no symbols given", hint="pass them comma-separated, e.g. --symbols AAPL,MSFT")
    return symbols


def format_validation_error(exc: pydantic.ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "value"
        lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """The workbench's own warnings as one line (``warning: ...``); others as Python shows them."""
    if category.__module__.startswith("engine."):
        click.echo(f"warning: {message}", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def run_cli(group: click.Group, argv: list[str] | None) -> int:
    """Run the click group; deliberate errors become one line on stderr and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    warnings.showwarning = _show_warning
    try:
        code = group.main(args=argv, prog_name="wb", standalone_mode=False)
        # A command may return an int as its exit code (e.g. 75 "busy, try later" for cron).
        return code if isinstance(code, int) else 0
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except WorkbenchError as exc:
        if debug:
            raise
        click.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"  what to do: {exc.hint}", err=True)
        return exc.exit_code
    except pydantic.ValidationError as exc:
        if debug:
            raise
        click.echo(f"error: invalid input: {format_validation_error(exc)}", err=True)
        return InputError.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    finally:
        warnings.showwarning = _python_show_warning



def format_table(rows, columns: list[tuple[str, str, Any]]) -> str:
    """``rows`` (a frame) as an aligned text table; ``columns`` are (field, heading, formatter).

    Numbers are right-aligned (their digits line up), everything else left-aligned.
    """
    import pandas as pd

    cells = [[show(value) for value in rows[name]] for name, _, show in columns]
    widths = [max([len(heading), *map(len, column)])
              for (_, heading, _), column in zip(columns, cells, strict=True)]  # fmt: skip
    numeric = [pd.api.types.is_numeric_dtype(rows[name]) for name, _, _ in columns]
    lines = []
    for k in range(-1, len(rows)):
        parts = [
            (heading if k < 0 else cells[j][k]).rjust(width)
            if numeric[j]
            else (heading if k < 0 else cells[j][k]).ljust(width)
            for j, ((_, heading, _), width) in enumerate(zip(columns, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
