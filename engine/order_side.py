"""Which way an order trades: the one :class:`Side` the risk gate and every broker speak.

A module of its own below both (it imports nothing), so a broker can name a side without
loading the risk package and its pandas.
"""

from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"
