#!/usr/bin/env python3
"""Set up the workbench and run it: `python3 dev.py demo` or `python3 dev.py test`.

Needs only Python 3.11+ on the machine. Creates (or reuses) a virtual environment in
.venv, installs the workbench with its dependencies when pyproject.toml has changed since
the last install, registers the project's Jupyter kernel, then runs the command.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".installed-from"
KERNEL = "trading-workbench"


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(*args, **kwargs) -> None:
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kwargs)


def setup() -> None:
    """Make .venv current: create it, install the project when its dependencies changed."""
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}. "
                 "Run this file with python3.11 (or newer).")
    if not PYTHON.exists():
        say("creating the virtual environment in .venv")
        run(sys.executable, "-m", "venv", VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    say("installing the workbench and its dependencies (first run takes a few minutes)")
    quiet = [] if os.environ.get("WB_VERBOSE_INSTALL") else ["--quiet"]
    run(PYTHON, "-m", "pip", "install", *quiet, "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", *quiet, "-e", ".[dev,ray]")
    # The kernel papermill and JupyterLab use: this environment's interpreter.
    run(PYTHON, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL,
        "--display-name", "Trading Workbench")
    STAMP.write_text(wanted)


def test_processes(extra: list[str]) -> list[str]:
    """pytest-xdist options for the whole suite: most of its time is real processes waiting."""
    named = [a for a in extra if (ROOT / a.split("::")[0]).exists()]
    if named or any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in extra):
        return []  # a few named tests start faster in one process; -n given is the user's
    workers = min(os.cpu_count() or 1, 4)
    # Whole files to a worker: a module's fixtures (a Ray instance, a prepared replay) are
    # built once, not once per worker that happens to run one of its tests.
    return ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []


def test(extra: list[str]) -> int:
    say("lint: ruff check")
    lint = subprocess.run([BIN / "ruff", "check", "."], cwd=ROOT)
    if lint.returncode:
        return lint.returncode
    say("layers: lint-imports (the import contracts in pyproject.toml)")
    layers = subprocess.run([BIN / "lint-imports"], cwd=ROOT)
    if layers.returncode:
        return layers.returncode
    processes = test_processes(extra)
    say(f"tests: pytest{' in ' + processes[1] + ' processes' if processes else ''}")
    return subprocess.run([PYTHON, "-m", "pytest", *processes, *extra], cwd=ROOT).returncode


def demo(extra: list[str]) -> int:
    return subprocess.run([BIN / "wb", "demo", *extra], cwd=ROOT).returncode


COMMANDS = {"test": test, "demo": demo}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit("usage: python3 dev.py demo [--no-ui] | python3 dev.py test [pytest args]")
    setup()
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))


if __name__ == "__main__":
    main()
