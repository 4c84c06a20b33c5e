"""Configs: the frozen pydantic models that production trusts (see :mod:`engine.config.models`).

Names are imported on first use, so that importing another module of this package does
not pull in the backtest settings and the strategy registry.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "StrategyConfig": "engine.config.models",
    "Evidence": "engine.config.models",
    "FoldEvidence": "engine.config.models",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'engine.config' has no attribute {name!r}")
