"""environment.yml (conda) and pyproject.toml (pip) install the same things."""

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def test_conda_environment_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"])
    for extra in ("dev", "ray"):
        wanted |= set(project["optional-dependencies"][extra])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {line for line in pip_section if not line.startswith("-e")}
    normalise = lambda reqs: {str(Requirement(r)) for r in reqs}  # noqa: E731
    assert normalise(listed) == normalise(wanted), (
        f"only in environment.yml: {sorted(normalise(listed) - normalise(wanted))}; "
        f"only in pyproject.toml: {sorted(normalise(wanted) - normalise(listed))}"
    )
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.replace("python", "") == project["requires-python"]
