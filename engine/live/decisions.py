"""What a config decides at one close: its exits, its entries and their stops, its resting stops.

Pure: bars and the config's sub-book in, a :class:`Plan` out. The signals come from the
same function the backtest calls (:func:`engine.strategies.compute_signals`) and every
sizing and stop decision from :mod:`engine.backtest.rules`, the rules the backtest's order
loop follows; that is what makes a replay trade as its backtest did.

A config trades a sub-book of the broker account: its own cash (its ``init_cash`` plus
what its fills brought and cost) and its own positions. A symbol another config holds is
not open to it (two configs never share a position, so each can exit its own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np

from engine.backtest import rules
from engine.backtest.stops import stop_distances, target_distances
from engine.config.models import StrategyConfig
from engine.data.bars import Bars
from engine.strategies import compute_signals, get


@dataclass(frozen=True)
class Holding:
    """An open position of a config: its shares and its stop.

    The stop's level is ``stop_anchor * (1 - stop_fraction)`` (NaN fraction: no stop),
    raised to ``manual_stop`` when a trader tightened it; ``target_price`` is the profit
    target resting with it (None: none).
    """

    symbol: str
    qty: float
    stop_fraction: float = math.nan
    stop_anchor: float = math.nan
    manual_stop: float | None = None
    target_price: float | None = None

    @property
    def rule_stop(self) -> float | None:
        """The level the config's own rule puts the stop at (None: no stop)."""
        if math.isnan(self.stop_fraction):
            return None
        return rules.stop_level(self.stop_anchor, self.stop_fraction)

    @property
    def stop_price(self) -> float | None:
        """Where the position's protective stop belongs: the tighter of rule and trader."""
        levels = [x for x in (self.rule_stop, self.manual_stop) if x is not None]
        return max(levels) if levels else None

    def trailed(self, high: float) -> Holding:
        """This holding after a bar with this ``high``, its trailing stop moved up."""
        if math.isnan(self.stop_fraction) or math.isnan(high):
            return self
        return replace(self, stop_anchor=rules.trailed_anchor(self.stop_anchor, high))


@dataclass(frozen=True)
class BarSignals:
    """A config's strategy at one close, per symbol of its universe (in the universe's order)."""

    bar: date
    symbols: list[str]
    entries: np.ndarray
    exits: np.ndarray
    stop_distance: np.ndarray
    #: Each symbol's close at this bar (NaN: no bar today): the decision price.
    close: np.ndarray
    #: Each symbol's last known close: what a held position is marked to.
    marks: np.ndarray
    #: Each symbol's high at this bar: what a trailing stop follows.
    high: np.ndarray
    #: The profit target's distance above the close (NaN: none).
    target_distance: np.ndarray | None = None


@dataclass(frozen=True)
class PlannedEntry:
    symbol: str
    qty: float
    price: float  # the decision price: the close the entry was sized at
    stop_fraction: float  # NaN: no stop
    stop_price: float | None
    target_price: float | None = None  # the profit target, resting with the stop


@dataclass(frozen=True)
class PlannedExit:
    symbol: str
    qty: float
    #: "signal" (the strategy's exit), "stop" (a trailing stop lifted to the close) or
    #: "flat" (a flat-by-close book selling out).
    reason: str


@dataclass(frozen=True)
class PlannedStop:
    """The protective stop a held position should have resting at the broker."""

    symbol: str
    qty: float
    stop_price: float
    #: The profit target resting with it as one bracket (None: none).
    target_price: float | None = None


@dataclass(frozen=True)
class Plan:
    """Everything one config decided at one close."""

    config_id: str
    bar: date
    exits: list[PlannedExit] = field(default_factory=list)
    entries: list[PlannedEntry] = field(default_factory=list)
    stops: list[PlannedStop] = field(default_factory=list)


def warmup_bars(config: StrategyConfig) -> int:
    """Bars the config's strategy needs before it can signal (its warmup, plus the bar itself)."""
    strategy = get(config.strategy)
    return int(strategy.warmup(strategy.params(**config.params))) + 1


def bar_signals(config: StrategyConfig, bars: Bars, traded: Bars | None = None) -> BarSignals | None:
    """The config's signals at the last of ``bars`` (its universe, oldest first), decided on
    that adjusted history; its prices (close, marks, high, stop distance) in ``traded``'s
    basis, the prices orders go out at (None: ``bars``' own).

    None while the history is shorter than the strategy's warmup: it cannot signal yet,
    as its backtest did not on those bars.
    """
    window = bars.select(config.universe)
    if len(window) < warmup_bars(config):
        return None
    signals = compute_signals(config.strategy, window, config.params)
    distance = np.asarray(stop_distances(window, signals, config.settings), dtype=float)
    target = target_distances(window, config.settings, distance)[-1]
    distance = distance[-1]
    close = window.close.to_numpy(dtype=float)[-1]
    prices = window if traded is None else traded.select(config.universe)
    traded_close = prices.close.to_numpy(dtype=float)[-1]
    return BarSignals(
        bar=window.index[-1].date(),
        symbols=list(config.universe),
        entries=signals.entries.to_numpy(dtype=bool)[-1],
        exits=signals.exits.to_numpy(dtype=bool)[-1],
        # The same fraction of the price in either basis: a stop as far below the traded
        # close, a target as far above it.
        stop_distance=distance * (traded_close / close),
        close=traded_close,
        marks=prices.close.ffill().to_numpy(dtype=float)[-1],
        high=prices.high.to_numpy(dtype=float)[-1],
        target_distance=target * (traded_close / close),
    )


def plan_config(
    config: StrategyConfig,
    signals: BarSignals,
    cash: float,
    holdings: dict[str, Holding],
    *,
    unavailable: frozenset[str] = frozenset(),
) -> Plan:
    """The config's decisions at ``signals.bar``'s close (see :mod:`engine.backtest.rules`).

    ``cash`` is the config's sub-book cash and ``holdings`` its open positions after this
    bar (their trailing stops already moved up by it); ``unavailable`` symbols (held by
    another config) are not entered.
    """
    settings = config.settings
    n = len(signals.symbols)
    held = [holdings.get(symbol) for symbol in signals.symbols]
    position = np.array([h.qty if h else 0.0 for h in held])
    stop_fraction = np.array([h.stop_fraction if h else np.nan for h in held])
    stop_anchor = np.array([h.stop_anchor if h else np.nan for h in held])
    entries = signals.entries & ~np.isin(signals.symbols, list(unavailable))
    exiting = np.zeros(n, dtype=bool)
    qty = np.zeros(n)
    rules.plan_close(
        entries,
        signals.exits,
        signals.stop_distance,
        signals.close,
        np.arange(n),
        position,
        signals.marks,
        stop_fraction,
        stop_anchor,
        cash,
        settings.max_positions,
        rules.SIZE_MODES[settings.size],
        settings.fraction,
        settings.risk_per_trade,
        settings.fees,
        settings.slippage,
        exiting,
        qty,
    )
    plan = Plan(config.config_id, signals.bar)
    for k, symbol in enumerate(signals.symbols):
        holding = held[k]
        if exiting[k]:
            reason = "signal" if signals.exits[k] else "stop"
            plan.exits.append(PlannedExit(symbol, holding.qty, reason))
        elif holding is not None and holding.stop_price is not None:
            plan.stops.append(
                PlannedStop(symbol, holding.qty, holding.stop_price, holding.target_price)
            )
        if qty[k] > 0:
            price = float(signals.close[k])
            fraction = rules.stop_fraction(price, float(signals.stop_distance[k]))
            level = None if math.isnan(fraction) else rules.stop_level(price, fraction)
            target = math.nan
            if signals.target_distance is not None:
                target = rules.target_level(price, float(signals.target_distance[k]))
            plan.entries.append(
                PlannedEntry(symbol, float(qty[k]), price, fraction, level,
                             None if math.isnan(target) else target)
            )  # fmt: skip
    return plan
