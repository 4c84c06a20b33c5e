"""Market data: sources, the bar store, the NYSE calendar and quality checks.

``Bars`` and ``load_bars`` load on first use (PEP 562), so a light module of this package
(bar sizes, the names of sources and policies) can be imported without pandas: the
command line's ``--help`` reads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.data.bars import Bars
    from engine.data.repository import load_bars

__all__ = ["Bars", "load_bars"]


def __getattr__(name: str):
    if name == "Bars":
        from engine.data.bars import Bars

        return Bars
    if name == "load_bars":
        from engine.data.repository import load_bars

        return load_bars
    raise AttributeError(f"module 'engine.data' has no attribute {name!r}")
