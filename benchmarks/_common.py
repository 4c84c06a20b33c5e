"""What every benchmark shares: where results go and what machine they came from."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    import psutil

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def save(name: str, figures: dict) -> Path:
    """Write ``figures`` with the machine to benchmarks/results/<name>.json and print them."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), "figures": figures}, indent=2))
    for key, value in figures.items():
        print(f"{key:55} {value}")
    print(f"-> {path}")
    return path
