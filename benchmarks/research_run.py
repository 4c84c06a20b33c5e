"""Wall time of a papermill research run on the sample universe, and how much is kernel start-up.

    .venv/bin/python benchmarks/research_run.py [--repeats 2]

A run of a one-cell notebook measures what every run pays before its work: papermill,
a kernel starting, the run recorded in the store. The research notebook with its
defaults (7 sample symbols, 2003-2013, a 3x3 grid, 3 folds) is then timed whole, and
split by papermill's per-cell durations into the setup cell (imports of vectorbt and
the engine in the kernel, loading bars) and each step of the research.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import save  # noqa: E402
from engine.data.ingest import ingest  # noqa: E402
from engine.data.sample import CORE_SYMBOLS  # noqa: E402
from engine.data.sources import SampleSource  # noqa: E402
from engine.research.runs import run_notebook  # noqa: E402
from engine.store import Store  # noqa: E402

RESEARCH = ROOT / "notebooks" / "strategy_research.ipynb"
#: What each code cell of the research notebook does, in order (the parameters cell first).
STEPS = ["parameters", "setup", "sweep", "walk_forward", "propose", "backtest", "verdict"]


def trivial_notebook(folder: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("1 + 1")]
    notebook.metadata["kernelspec"] = {
        "name": "trading-workbench",
        "language": "python",
        "display_name": "x",
    }
    path = folder / "trivial.ipynb"
    nbformat.write(notebook, str(path))
    return path


def timed_run(store, notebook: Path) -> tuple[float, dict[str, float]]:
    """(wall seconds, seconds per code cell as papermill measured them)."""
    start = time.perf_counter()
    record = run_notebook(store, notebook, {}, actor="benchmark")
    wall = time.perf_counter() - start
    if not record.succeeded:
        raise SystemExit(f"{notebook.name} failed: {record.error.describe()}")
    executed = nbformat.read(str(record.output_path), as_version=4)
    cells = [
        c
        for c in executed.cells
        if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])
    ]
    return wall, {
        f"cell{i}": float(c.metadata["papermill"]["duration"] or 0.0) for i, c in enumerate(cells)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs of each notebook (median kept)"
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp())
    store = Store.open(folder / "data")
    ingest(store, SampleSource(), CORE_SYMBOLS, progress=False, actor="benchmark")
    trivial = trivial_notebook(folder)

    trivial_walls = [timed_run(store, trivial)[0] for _ in range(args.repeats + 1)]
    research = [timed_run(store, RESEARCH) for _ in range(args.repeats)]
    walls = [wall for wall, _ in research]
    cells = research[walls.index(statistics.median_low(walls))][1]
    steps = dict(zip(STEPS, cells.values(), strict=True))
    in_cells = sum(steps.values())
    wall = statistics.median(walls)
    overhead = statistics.median(trivial_walls)

    figures = {
        "research run wall, median (s)": round(wall, 2),
        "research run walls (s)": [round(w, 2) for w in walls],
        "trivial notebook run wall, median (s)": round(overhead, 2),
        "trivial notebook run walls (s)": [round(w, 2) for w in trivial_walls],
        "kernel start-up + papermill + recording (research wall - cell time) (s)": round(
            wall - in_cells, 2
        ),
        "work in cells (s)": round(in_cells, 2),
        **{f"  cell {name} (s)": round(seconds, 2) for name, seconds in steps.items()},
        "share of the wall before any cell runs": f"{(wall - in_cells) / wall:.0%}",
        "share of the wall in the setup cell (imports, bars)": f"{steps['setup'] / wall:.0%}",
        "universe": f"{len(CORE_SYMBOLS)} symbols, 2003-2013, 3x3 grid, 3 folds",
    }
    save("research_run", figures)


if __name__ == "__main__":
    main()
