"""Comments, docstrings and docs name files and modules that exist.

A path such as ``engine/live/router.py`` or ``docs/data.md``, and a dotted name such as
``engine.live.router.OrderRouter``, in any tracked source or doc must still point at
something: a moved module otherwise leaves readers looking for a file that is gone.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = "engine|app|docs|jobs|notebooks|tests|benchmarks|data"
PATH = re.compile(rf"(?<![\w/.-])((?:{TOP})/[\w./-]*\w\.(?:py|md|sql|yaml|ipynb|txt))\b")
DOC = re.compile(r"(?<![\w/.-])([A-Z][A-Z_]+\.md)\b")  # README.md, SOURCE.md, ...
DOTTED = re.compile(r"(?<![\w./])((?:engine|app)(?:\.[A-Za-z_]\w*)+)")
#: Names that only look like references: runtime files a docstring shows as an example.
EXAMPLES = {"notebooks/x.ipynb", "notebooks/nope.ipynb"}
#: Files that name modules they make themselves (in a scratch copy of the tree).
MAKERS = {"tests/test_layers.py"}


def _tracked() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py", "*.md", "*.sql", "*.yaml", "*.ipynb"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return [ROOT / name for name in listed if (ROOT / name).is_file() and name not in MAKERS]


def _module_file(parts: list[str]) -> tuple[Path, int] | None:
    """The file of the longest importable prefix of ``parts``, and that prefix's length."""
    for size in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:size])
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate, size
    return None


def _dotted_exists(name: str) -> bool:
    parts = name.split(".")
    found = _module_file(parts)
    if found is None:
        return False
    module, size = found
    # The next name must be defined or imported in that module (attributes of it, such as
    # a method, are not followed).
    if size == len(parts) or parts[size].startswith("__"):
        return True
    return re.search(rf"\b{parts[size]}\b", module.read_text()) is not None


def test_every_path_and_module_named_in_the_code_and_docs_exists():
    missing = []
    tracked = _tracked()
    docs = {file.name for file in tracked}
    for file in tracked:
        for number, line in enumerate(file.read_text(errors="replace").splitlines(), start=1):
            where = f"{file.relative_to(ROOT)}:{number}"
            for match in PATH.finditer(line):
                path = match.group(1)
                runtime = path.startswith("data/") and not path.startswith("data/sample/")
                if path not in EXAMPLES and not runtime and not (ROOT / path).exists():
                    missing.append(f"{where}: {path}")
            missing += [f"{where}: {m.group(1)}" for m in DOC.finditer(line) if m.group(1) not in docs]
            for match in DOTTED.finditer(line):
                name = match.group(1)
                if name.startswith("app.") and name.split(".")[1] in {"log", "command"}:
                    continue  # a log file's name, a click group's decorator
                if not _dotted_exists(name):
                    missing.append(f"{where}: {name}")
    assert not missing, "names of things that do not exist:\n" + "\n".join(missing)
