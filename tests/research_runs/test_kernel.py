"""Any install runs notebooks: the kernel the notebooks name is registered on the first run."""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
import venv
from pathlib import Path

import nbformat
import pytest

from engine.research.runs import KERNEL_NAME

ROOT = Path(__file__).resolve().parents[2]


def plain_environment(folder: Path) -> Path:
    """A new environment that sees the workbench's packages but has no Jupyter kernel registered.

    What `pip install -e .` leaves: the packages, and nothing under share/jupyter/kernels.
    (It borrows the test environment's packages instead of installing them again.)
    """
    venv.create(folder, with_pip=False)
    python = folder / "bin" / "python"
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    ours = sysconfig.get_paths()["purelib"]
    # A .pth line that starts with "import" runs: addsitedir also reads the .pth files there.
    (Path(site_packages) / "workbench.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n{ROOT}\n"
    )
    return python


@pytest.mark.slow
def test_a_plain_install_registers_the_kernel_on_its_first_run(tmp_path):
    python = plain_environment(tmp_path / "env")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import sys; print(sys.prefix)")]
    notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "language": "python", "display_name": "x"}
    path = tmp_path / "hello.ipynb"
    nbformat.write(notebook, str(path))
    # A Jupyter user folder without the kernel, and nothing else on Jupyter's path.
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env |= {"JUPYTER_DATA_DIR": str(tmp_path / "jupyter-user"), "PYTHONWARNINGS": "ignore"}
    lacks = subprocess.run(
        [python, "-m", "jupyter_client.kernelspecapp", "list", "--json"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if lacks.returncode == 0:
        assert KERNEL_NAME not in json.loads(lacks.stdout)["kernelspecs"]

    run = subprocess.run(
        [python, "-m", "engine.cli", "--data-dir", str(tmp_path / "data"), "research", "run",
         str(path), "--json"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    record = json.loads(run.stdout)
    assert record["status"] == "succeeded", record

    spec = tmp_path / "env" / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    assert json.loads(spec.read_text())["argv"][0] == str(python)
    executed = nbformat.read(record["output_path"], as_version=4)
    assert executed.cells[-1].outputs[0]["text"].strip() == str(tmp_path / "env")
