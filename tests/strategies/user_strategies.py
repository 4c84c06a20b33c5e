"""A user's strategy folder and an installed strategy package, written for a test to load.

Real files: a folder of modules (one good, one with a look-ahead, one misbehaving, one
that fails to import, one with a syntax error) and a distribution whose dist-info declares
a `trading_workbench.strategies` entry point (what `pip install` of a package leaves on
sys.path, which is all importlib.metadata reads); its strategy calls a helper module of
its own.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

MODULES = {
    "my_breakout.py": '''
        """A user's own breakout strategy."""
        from engine.strategies import Signals, StrategyParams, register
        from engine.strategies import indicators as ind


        class BreakoutParams(StrategyParams):
            window: int = 20


        @register("my_breakout", params=BreakoutParams, summary="Long above the prior high.",
                  warmup=lambda p: p.window + 1)
        def my_breakout(bars, p):
            high = ind.prior_high(bars.high, p.window)
            average = ind.sma(bars.close, p.window)
            return Signals(entries=ind.above(bars.close, high), exits=ind.below(bars.close, average))
    ''',
    "peeking.py": '''
        from engine.strategies import Signals, StrategyParams, register


        class NoParams(StrategyParams):
            pass


        @register("peeking", params=NoParams, summary="Long when tomorrow closes higher.")
        def peeking(bars, p):
            rises = (bars.close.shift(-1) > bars.close).fillna(False)
            return Signals(entries=rises, exits=~rises)
    ''',
    "sloppy.py": '''
        from engine.strategies import Signals, StrategyParams, register


        class NoParams(StrategyParams):
            pass


        @register("sloppy", params=NoParams, summary="Long on every other bar.")
        def sloppy(bars, p):
            rises = bars.close.diff() > 0
            return Signals(entries=rises.iloc[1:], exits=~rises)
    ''',
    "broken.py": '''
        from engine.strategies import register


        threshold = undefined_name * 2
    ''',
    "unfinished.py": '''
        def half_written(bars, p)
            return None
    ''',
}
#: Where each module fails to load: (file name, line, error).
PROBLEMS = {
    "broken.py": (4, "NameError: name 'undefined_name' is not defined"),
    "unfinished.py": (1, "SyntaxError: expected ':'"),
}

PACKAGE = {
    "acme_strategies/__init__.py": "",
    "acme_strategies/momentum.py": '''
        from acme_strategies import trend
        from engine.strategies import Signals, StrategyParams, register


        class MomentumParams(StrategyParams):
            lookback: int = 60


        @register("acme_momentum", params=MomentumParams, summary="Long while the trailing return is positive.",
                  warmup=lambda p: p.lookback)
        def acme_momentum(bars, p):
            change = trend.trailing_return(bars.close, p.lookback)
            return Signals(entries=change > 0, exits=change < 0)
    ''',
    "acme_strategies/trend.py": '''
        def trailing_return(close, lookback):
            """The return over the lookback, to each bar's close."""
            return close / close.shift(lookback) - 1
    ''',
    "acme_strategies-1.2.0.dist-info/METADATA": """
        Metadata-Version: 2.1
        Name: acme-strategies
        Version: 1.2.0
    """,
    "acme_strategies-1.2.0.dist-info/entry_points.txt": """
        [trading_workbench.strategies]
        acme = acme_strategies.momentum
    """,
}
PACKAGE_ORIGIN = "package acme-strategies 1.2.0 (entry point acme)"


def write(files: dict[str, str], folder: Path) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return folder


def forget_user_strategies() -> None:
    """The registry and the loader as a fresh process has them: built-ins only."""
    from engine.strategies import plugins, registry

    for name, strategy in list(registry._STRATEGIES.items()):
        if not strategy.signal_fn.__module__.startswith("engine.strategies.builtins"):
            registry._STRATEGIES.pop(name)
    for module in [m for m in sys.modules if m.startswith(plugins.PACKAGE + ".")]:
        del sys.modules[module]
    for module in [m for m in sys.modules if m.split(".")[0] == "acme_strategies"]:
        del sys.modules[module]
    plugins._ORIGINS.clear()
    plugins._PROBLEMS.clear()
    plugins._LOADED_FOLDERS.clear()
    plugins._loaded_entry_points = False
    plugins._loaded_path = None
    importlib.import_module(plugins.PACKAGE).__path__[:] = []
