"""What the gate needs to know of the market, taken from bars: last price and liquidity."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from engine.data.bars import Bars
from engine.risk.gate_inputs import SymbolSnapshot


def market_snapshot(
    bars: Bars,
    *,
    at=None,
    window: int = 20,
    sectors: Mapping[str, str] | None = None,
) -> dict[str, SymbolSnapshot]:
    """Each symbol's last close and average daily dollar volume over ``window`` bars up to ``at``.

    Symbols without a close in the window are left out (the gate then refuses to buy them
    for want of a price).
    """
    close, volume = bars.close, bars.volume
    if at is not None:
        close, volume = close.loc[:at], volume.loc[:at]
    close, volume = close.iloc[-window:], volume.iloc[-window:]
    dollar_volume = (close * volume).mean(skipna=True)
    last = close.ffill().iloc[-1] if len(close) else pd.Series(dtype=float)
    sectors = sectors or {}
    return {
        symbol: SymbolSnapshot(
            last_price=float(price),
            avg_dollar_volume=float(dollar_volume[symbol])
            if pd.notna(dollar_volume[symbol])
            else None,
            sector=sectors.get(symbol),
        )
        for symbol, price in last.items()
        if pd.notna(price)
    }
