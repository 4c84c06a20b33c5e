"""backtesting.py's SMA crossover with the engine's rules, for the benchmarks that race it.

Importable only where backtesting.py is on the path (it is installed outside the project).
A module of its own, so that backtesting.py's optimizer can pickle the class by name to its
worker processes, and so that every benchmark races the same rules.
"""

import sys

from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA


class SmaCross(Strategy):
    """Buys ``entry_size`` of equity when the fast SMA crosses above the slow; sells all on the way back."""

    fast = 10
    slow = 30
    entry_size = 1 - sys.float_info.epsilon  # backtesting.py's own default: all the equity

    def init(self):
        self.fast_ma = self.I(SMA, self.data.Close, self.fast)
        self.slow_ma = self.I(SMA, self.data.Close, self.slow)

    def next(self):
        if crossover(self.fast_ma, self.slow_ma):
            self.buy(size=self.entry_size)
        elif crossover(self.slow_ma, self.fast_ma):
            self.position.close()
