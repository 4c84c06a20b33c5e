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

import json
import math
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np

from engine.backtest import rules
from engine.backtest.stops import stop_distances, target_distances
from engine.config.models import StrategyConfig
from engine.data.bars import Bars
from engine.strategies import arrays, compute_signals, get


@dataclass(frozen=True)
class Leg:
    """One leg of a position a scale-in ladder builds: its number (1: the signal's), its
    shares still held, its fill price and its own stop (level ``stop_anchor * (1 -
    stop_fraction)``; NaN fraction: none)."""

    number: int
    qty: float
    price: float
    stop_fraction: float = math.nan
    stop_anchor: float = math.nan

    @property
    def rule_stop(self) -> float | None:
        if math.isnan(self.stop_fraction):
            return None
        return rules.stop_level(self.stop_anchor, self.stop_fraction)


@dataclass(frozen=True)
class Ladder:
    """A laddered position's legs: those still open, how many were bought, the first's shares."""

    legs: tuple[Leg, ...] = ()
    taken: int = 0
    first_qty: float = 0.0

    def to_json(self) -> str:
        return json.dumps(
            {"taken": self.taken, "first_qty": self.first_qty,
             "legs": [[g.number, g.qty, g.price, _number(g.stop_fraction),
                       _number(g.stop_anchor)] for g in self.legs]}
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> Ladder:
        data = json.loads(text)
        legs = tuple(
            Leg(int(n), float(q), float(p), _nan(f), _nan(a)) for n, q, p, f, a in data["legs"]
        )
        return cls(legs, int(data["taken"]), float(data["first_qty"]))

    def bought(self, number: int, qty: float, price: float, stop_fraction: float,
               stop_anchor: float) -> Ladder:  # fmt: skip
        """The ladder after leg ``number`` filled ``qty`` more shares at ``price``."""
        legs = {g.number: g for g in self.legs}
        leg = legs.get(number)
        if leg is not None:  # a later part of the same leg's fill: one leg, averaged
            total = leg.qty + qty
            leg = replace(leg, qty=total, price=(leg.qty * leg.price + qty * price) / total)
        else:
            leg = Leg(number, qty, price, stop_fraction, stop_anchor)
        legs[number] = leg
        first = self.first_qty + qty if number == 1 else self.first_qty
        return Ladder(tuple(legs[n] for n in sorted(legs)), max(self.taken, number), first)

    def sold(self, qty: float, number: int | None = None) -> Ladder:
        """The ladder after ``qty`` shares were sold: of leg ``number`` first (its stop),
        the rest (an exit, a trader's sale) from the last leg back."""
        legs = list(self.legs)
        order = sorted(range(len(legs)), key=lambda k: (legs[k].number != number, -k))
        for k in order:
            take = min(qty, legs[k].qty)
            legs[k] = replace(legs[k], qty=legs[k].qty - take)
            qty -= take
            if qty <= 1e-9:
                break
        return replace(self, legs=tuple(g for g in legs if g.qty > 1e-9))


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _nan(value) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class Holding:
    """An open position of a config: its shares and its stop.

    The stop's level is ``stop_anchor * (1 - stop_fraction)`` (NaN fraction: no stop),
    raised to ``manual_stop`` when a trader tightened it; ``target_price`` is the profit
    target resting with it (None: none). A position a ladder builds has no stop of its
    own: ``ladder`` holds its legs, each with its stop.
    """

    symbol: str
    qty: float
    stop_fraction: float = math.nan
    stop_anchor: float = math.nan
    manual_stop: float | None = None
    target_price: float | None = None
    ladder: Ladder | None = None

    def leg_stop(self, leg: Leg) -> float | None:
        """Where a leg's stop belongs: the tighter of its rule and the trader's."""
        levels = [x for x in (leg.rule_stop, self.manual_stop) if x is not None]
        return max(levels) if levels else None

    @property
    def rule_stop(self) -> float | None:
        """The level the config's own rule puts the stop at (None: no stop)."""
        if math.isnan(self.stop_fraction):
            return None
        return rules.stop_level(self.stop_anchor, self.stop_fraction)

    @property
    def stop_price(self) -> float | None:
        """Where the position's protective stop belongs: the tighter of rule and trader.

        For a laddered position, the lowest of its legs' stops: the level by which every
        leg is sold (what its risk to the stop and a stress test count).
        """
        if self.ladder is not None:
            legs = [x for x in map(self.leg_stop, self.ladder.legs) if x is not None]
            return min(legs) if legs else None
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
    leg: int = 1  # a scale-in ladder's leg (1: the signal's entry)


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
    leg: int = 1  # the ladder's leg it protects (1: the first, or a position without legs)


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
    if len(bars) < warmup_bars(config):
        return None
    window = _universe(bars, config.universe)
    signals = compute_signals(config.strategy, window, config.params)
    distance = np.asarray(stop_distances(window, signals, config.settings), dtype=float)
    target = target_distances(window, config.settings, distance)[-1]
    distance = distance[-1]
    close = window.close.to_numpy(dtype=float)[-1]
    prices = window if traded is None else _universe(traded, config.universe)
    traded_closes = prices.close.to_numpy(dtype=float)
    traded_close = traded_closes[-1]
    return BarSignals(
        bar=window.index[-1].date(),
        symbols=list(config.universe),
        entries=signals.entries.to_numpy(dtype=bool)[-1],
        exits=signals.exits.to_numpy(dtype=bool)[-1],
        # The same fraction of the price in either basis: a stop as far below the traded
        # close, a target as far above it.
        stop_distance=distance * (traded_close / close),
        close=traded_close,
        marks=arrays.last_valid(traded_closes),
        high=prices.high.to_numpy(dtype=float)[-1],
        target_distance=target * (traded_close / close),
    )


def _universe(bars: Bars, universe: list[str]) -> Bars:
    """``bars`` of the ``universe``'s symbols, in its order: ``bars`` themselves when they
    are already those (nothing here writes to them: no copies a step)."""
    if bars.close.columns.tolist() == list(universe):
        return bars
    return bars.select(universe)


def plan_config(
    config: StrategyConfig,
    signals: BarSignals,
    cash: float,
    holdings: dict[str, Holding],
    *,
    unavailable: frozenset[str] = frozenset(),
    config_id: str | None = None,
) -> Plan:
    """The config's decisions at ``signals.bar``'s close (see :mod:`engine.backtest.rules`).

    ``cash`` is the config's sub-book cash and ``holdings`` its open positions after this
    bar (their trailing stops already moved up by it); ``unavailable`` symbols (held by
    another config) are not entered. ``config_id``: the config's id when the caller knows it
    (a hash of its trading content, else worked out again: 0.2 ms).
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
    budget = rules.plan_close(
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
    leg_qty = _plan_legs(settings, signals, held, exiting, budget) if settings.ladder else qty * 0
    plan = Plan(config_id or config.config_id, signals.bar)
    for k, symbol in enumerate(signals.symbols):
        holding = held[k]
        if exiting[k]:
            reason = "signal" if signals.exits[k] else "stop"
            plan.exits.append(PlannedExit(symbol, holding.qty, reason))
        elif holding is not None:
            plan.stops.extend(planned_stops(holding))
        if qty[k] > 0:
            plan.entries.append(_entry(settings, signals, k, float(qty[k]), 1))
    for k, _ in enumerate(signals.symbols):  # a new position's first leg before a held one's next
        if leg_qty[k] > 0:
            leg = held[k].ladder.taken + 1
            plan.entries.append(_entry(settings, signals, k, float(leg_qty[k]), leg))
    return plan


def planned_stops(holding: Holding) -> list[PlannedStop]:
    """The stops a held position should rest: its own, or each open leg's."""
    if holding.ladder is None:
        if holding.stop_price is None:
            return []
        return [PlannedStop(holding.symbol, holding.qty, holding.stop_price, holding.target_price)]
    return [
        PlannedStop(holding.symbol, leg.qty, level, None, leg.number)
        for leg in holding.ladder.legs
        if (level := holding.leg_stop(leg)) is not None
    ]


def _entry(settings, signals: BarSignals, k: int, qty: float, leg: int) -> PlannedEntry:
    """The entry (or a ladder's ``leg``) of ``qty`` shares of column ``k``, with its stop and target."""
    price = float(signals.close[k])
    distance = float(signals.stop_distance[k])
    own = settings.ladder[leg - 2].stop if leg > 1 else None
    if own is not None:
        distance = own * price
    fraction = rules.stop_fraction(price, distance)
    level = None if math.isnan(fraction) else rules.stop_level(price, fraction)
    target = math.nan
    if signals.target_distance is not None:
        target = rules.target_level(price, float(signals.target_distance[k]))
    return PlannedEntry(signals.symbols[k], qty, price, fraction, level,
                        None if math.isnan(target) else target, leg)  # fmt: skip


def _plan_legs(settings, signals: BarSignals, held, exiting, budget: float) -> np.ndarray:
    """Each column's next ladder leg's shares (0.0: none) from the ``budget`` the entries left
    (:func:`engine.backtest.rules.plan_ladder`, the backtest's rule)."""
    n, n_legs = len(signals.symbols), 1 + len(settings.ladder)
    leg_qty, leg_price = np.zeros((n, n_legs)), np.zeros((n, n_legs))
    taken, first_qty = np.zeros(n, dtype=np.int64), np.zeros(n)
    for k, holding in enumerate(held):
        if holding is None or holding.ladder is None:
            continue
        ladder = holding.ladder
        taken[k], first_qty[k] = ladder.taken, ladder.first_qty
        for leg in ladder.legs:
            leg_qty[k, leg.number - 1], leg_price[k, leg.number - 1] = leg.qty, leg.price
    at, size, _ = rules.ladder_terms(settings)
    wanted = np.zeros(n)
    rules.plan_ladder(
        signals.exits, signals.close, np.arange(n), exiting, leg_qty, leg_price, taken,
        first_qty, budget, at, size, settings.fees, settings.slippage, wanted,
    )  # fmt: skip
    return wanted
