"""Reading a small hand-made CSV (earnings dates, corporate actions): all of it or nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.errors import InputError


def read_text_csv(path: str | Path, *, what: str, hint: str) -> pd.DataFrame:
    """The file's cells as text (empty cells ``""``), columns stripped and lower-cased.

    InputError when there is no such file or it is not a readable CSV; ``what`` names the
    kind of file in the message (``"earnings"``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such {what} file: {path}", hint=hint)
    try:
        rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path.name} is not a readable CSV: {first}", hint=hint) from None
    rows.columns = [str(c).strip().lower() for c in rows.columns]
    return rows


def refuse_bad_lines(path: str | Path, problems: list[str], *, hint: str) -> None:
    """InputError listing the first few ``problems`` (``line 3: ...``) when there are any."""
    if not problems:
        return
    shown = "; ".join(problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    raise InputError(
        f"{Path(path).name}: nothing imported, {len(problems)} bad line(s): {shown}{more}",
        hint=hint,
    )
