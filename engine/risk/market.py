"""What the gate needs to know of the market, taken from bars: last price and liquidity."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from engine.data.bars import Bars
from engine.risk.gate_inputs import SymbolSnapshot


def market_snapshot(
    bars: Bars,
    *,
    at=None,
    window: int = 20,
    sectors: Mapping[str, str] | None = None,
) -> Mapping[str, SymbolSnapshot]:
    """Each symbol's last close and average daily dollar volume over ``window`` bars up to ``at``.

    Symbols without a close in the window are left out (the gate then refuses to buy them
    for want of a price).
    """
    close, volume = bars.close, bars.volume
    if at is not None:
        close, volume = close.loc[:at], volume.loc[:at]
    # Whole arrays, not a Series lookup per symbol: a 500-symbol step builds this every time.
    prices = close.to_numpy(dtype=float)[-window:]
    if not len(prices):
        return {}
    traded = prices * volume.to_numpy(dtype=float)[-window:]
    priced = ~np.isnan(prices)
    # The newest close in the window (a symbol that did not trade on the last bar keeps
    # its last price), and the mean dollar volume of the bars that have one.
    newest = len(prices) - 1 - np.argmax(priced[::-1], axis=0)
    last = prices[newest, np.arange(prices.shape[1])]
    counted = ~np.isnan(traded)
    days = counted.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dollar_volume = np.where(counted, traded, 0.0).sum(axis=0) / days
    return MarketSnapshot(close.columns.tolist(), priced.any(axis=0), last, dollar_volume,
                          sectors or {})  # fmt: skip


class MarketSnapshot(Mapping[str, SymbolSnapshot]):
    """Symbol -> :class:`SymbolSnapshot` of the symbols with a price, each made when asked
    for: a step over 500 symbols asks for the few it orders."""

    def __init__(self, symbols: list[str], priced, last, dollar_volume,
                 sectors: Mapping[str, str]):  # fmt: skip
        self._where = {symbol: k for k, (symbol, seen) in enumerate(zip(symbols, priced.tolist(), strict=True))
                       if seen}  # fmt: skip
        self._last, self._dollar_volume = last.tolist(), dollar_volume.tolist()
        self._sectors = sectors

    def __getitem__(self, symbol: str) -> SymbolSnapshot:
        k = self._where[symbol]
        liquidity = self._dollar_volume[k]
        return SymbolSnapshot(self._last[k], None if liquidity != liquidity else liquidity,
                              self._sectors.get(symbol))  # fmt: skip

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)
