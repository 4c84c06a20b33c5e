"""The package users' strategy modules are imported under: ``engine.strategies.user.<file name>``.

Its path is the folders of ``WB_STRATEGY_PATH`` (see :mod:`engine.strategies.plugins`), so
a module name resolves in any process that has the same setting: a Ray worker given a
strategy by reference imports the same file.
"""

from engine.strategies.plugins import strategy_folders

__path__ = [str(folder) for folder in strategy_folders()]
