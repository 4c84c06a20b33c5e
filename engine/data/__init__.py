"""Market data: sources, the bar store, the NYSE calendar and quality checks."""

from engine.data.bars import Bars
from engine.data.repository import load_bars

__all__ = ["Bars", "load_bars"]
