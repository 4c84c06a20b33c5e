"""The compiled kernels' cache follows their sources: an edited rule is never run stale.

numba keys its on-disk cache to the file of the cached function only, so a kernel cached
before a rule it calls (in rules.py) was edited would be loaded with the old rule compiled
into it. These tests edit sources in copies, in fresh processes, as a developer would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(code: str, cwd: Path, cache: Path) -> dict:
    """What ``code`` prints as JSON on its last line, run in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(cwd), "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new))


KERNEL = """
    import json
    import sys
    sys.path.insert(0, {engine!r})
    from engine.backtest._compile import compiled
    from kernel import total

    total_nb = compiled(total)
    value = total_nb(10.0)
    print(json.dumps({{"value": value, "loaded": sum(total_nb.stats.cache_hits.values())}}))
"""


def test_a_kernel_is_recompiled_when_a_function_it_calls_in_another_file_changes(tmp_path):
    (tmp_path / "rules_mod.py").write_text(
        "RATE = 0.5\n\n\ndef fee(amount):\n    return amount * RATE\n"
    )
    (tmp_path / "kernel.py").write_text(
        "from rules_mod import fee\n\n\ndef total(amount):\n    return amount + fee(amount)\n"
    )
    cache = tmp_path / "cache"
    code = KERNEL.format(engine=str(ROOT))

    first = run(code, tmp_path, cache)
    assert first == {"value": 15.0, "loaded": 0}  # compiled, and cached
    assert run(code, tmp_path, cache) == {"value": 15.0, "loaded": 1}  # the cache serves

    # The callee's body changes, in its own file: kernel.py is untouched.
    edit(tmp_path / "rules_mod.py", "amount * RATE", "amount * RATE * 2")
    assert run(code, tmp_path, cache) == {"value": 20.0, "loaded": 0}
    # A constant it reads changes.
    edit(tmp_path / "rules_mod.py", "RATE = 0.5", "RATE = 0.25")
    assert run(code, tmp_path, cache) == {"value": 15.0, "loaded": 0}
    assert run(code, tmp_path, cache) == {"value": 15.0, "loaded": 1}


FINGERPRINTS = """
    import json
    from engine.backtest._compile import fingerprint
    from engine.backtest._simulate import compiled
    from engine.backtest.fast._kernel import screen_kernel
    from engine.strategies import get

    print(json.dumps({
        "order loop": fingerprint(compiled()),
        "sma screen": fingerprint(screen_kernel(get("sma_crossover").fast)),
        "rsi screen": fingerprint(screen_kernel(get("rsi_reversion").fast)),
    }))
"""


@pytest.fixture
def engine_copy(tmp_path) -> Path:
    """A copy of the engine package to edit (no compiled caches in it)."""
    shutil.copytree(
        ROOT / "engine", tmp_path / "engine", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


@pytest.mark.slow
def test_the_engines_kernels_are_keyed_to_the_rules_and_the_strategies_steps(engine_copy):
    cache = engine_copy / "cache"
    before = run(FINGERPRINTS, engine_copy, cache)
    assert len(set(before.values())) == 3

    # A prose edit of the rules' module compiles nothing afresh.
    rules = engine_copy / "engine" / "backtest" / "rules.py"
    edit(rules, "One source of truth.", "The one source of truth.")
    assert run(FINGERPRINTS, engine_copy, cache) == before

    # A rule both kernels run (through plan_close and plan_one), and a constant it reads.
    edit(rules, "return slots > 0 and", "return slots >= 1 and")
    after_rule = run(FINGERPRINTS, engine_copy, cache)
    assert all(after_rule[k] != before[k] for k in before)
    edit(rules, "BUDGET_RESIDUE = 1e-9", "BUDGET_RESIDUE = 1e-8")
    after_constant = run(FINGERPRINTS, engine_copy, cache)
    assert all(after_constant[k] != after_rule[k] for k in before)

    # A strategy's signal step: its own screen only.
    sma = engine_copy / "engine" / "strategies" / "builtins" / "signals" / "sma_crossover.py"
    edit(sma, "entries[0] = exits[0] = False", "entries[0] = False\n    exits[0] = False")
    after_step = run(FINGERPRINTS, engine_copy, cache)
    assert after_step["sma screen"] != after_constant["sma screen"]
    assert after_step["rsi screen"] == after_constant["rsi screen"]
    assert after_step["order loop"] == after_constant["order loop"]



BOUND = """
    import json
    import sys
    sys.path.insert(0, {engine!r})
    from engine.backtest._compile import compiled
    import kernel

    made = {{}}
    for name in {names!r}:
        make = compiled(kernel.make, fill=getattr(kernel, name))
        made[name] = [str(make(3).dtype), make(3).tolist()]
    print(json.dumps(made))
"""


def test_one_kernel_with_two_steps_bound_in_two_processes_loads_side_by_side(tmp_path):
    # The fast sweep binds each strategy's step into one kernel source. Compiled in two
    # processes (the same count of functions before each: numba numbers them per process),
    # then loaded together from the cache, each must keep its own environment: here the
    # dtype of the array it gives back.
    (tmp_path / "kernel.py").write_text(
        "import numpy as np\n\n\n"
        "def fill(n):\n    raise NotImplementedError\n\n\n"
        "def floats(n):\n    return np.full(n, 0.5)\n\n\n"
        "def whole(n):\n    return np.full(n, 7, dtype=np.int32)\n\n\n"
        "def make(n):\n    return fill(n)\n"
    )
    cache = tmp_path / "cache"
    alone = {}
    for name in ("floats", "whole"):
        alone.update(run(BOUND.format(engine=str(ROOT), names=[name]), tmp_path, cache))
    assert alone == {"floats": ["float64", [0.5] * 3], "whole": ["int32", [7] * 3]}
    both = run(BOUND.format(engine=str(ROOT), names=["floats", "whole"]), tmp_path, cache)
    assert both == alone

