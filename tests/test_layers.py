"""The import layers in pyproject.toml are enforced: an import across them fails the test command.

Each case copies the engine and the control room into a scratch folder, adds one module that
breaks a layer, and runs the check there (import-linter puts the working folder first on
the path, so it reads the copy).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy_with(tmp_path: Path, module: str, source: str) -> Path:
    for package in ("engine", "app"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in ("pyproject.toml", "dev.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / module).write_text(f'"""A module that breaks a layer."""\n\n{source}\n')
    return tmp_path


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        (
            "engine/store/peek.py",
            "from app import facade  # noqa: F401",
            "The engine never imports the control room",
        ),
        (
            "engine/backtest/peek.py",
            "def champion():\n    from engine.research.config_registry import approved_configs\n\n"
            "    return approved_configs",
            "The backtest imports no research, ML or live module",
        ),
        (
            "engine/research/peek.py",
            "from engine.jobs import running  # noqa: F401",
            "Jobs run research; research never imports the jobs",
        ),
        (
            "engine/risk/peek.py",
            "from engine.brokers import paper  # noqa: F401",
            "The engine's layers",
        ),
    ],
)
def test_an_import_across_a_layer_is_refused(tmp_path, module, source, contract):
    tree = _copy_with(tmp_path, module, source)
    result = subprocess.run([LINT_IMPORTS], cwd=tree, capture_output=True, text=True)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken and Path(module).stem in broken


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / ".venv").is_dir(), reason="needs the .venv that dev.py makes")
def test_the_test_command_stops_at_a_broken_layer_before_pytest(tmp_path):
    tree = _copy_with(tmp_path, "engine/data/peek.py", "import engine.live.loop  # noqa: F401")
    (tree / ".venv").symlink_to(ROOT / ".venv")
    # dev.py's test step itself: its set-up step would install the copy into the .venv.
    result = subprocess.run(
        [sys.executable, "-c", "import sys, dev; sys.exit(dev.test([]))"],
        cwd=tree,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "engine.data.peek -> engine.live.loop" in result.stdout
    assert "[dev] tests: pytest" not in result.stdout
