"""Stress tests: what the book would lose, which stops would gap, and which halts would trip.

Pure functions of a book (positions at their marks, with stops), shocks and the limits in
force; :mod:`engine.live.book_stress` reads them from the store.

A :class:`Shock` is a few sessions of price moves: for each symbol, each session's open,
low and close as a multiple of the close before the shock. Applied to the book's marks
(traded prices), each session in turn:

- a **stop fills at the gapped price** when the session opens below it (the open, not the
  stop), at the stop when the session trades down through it; after that the position is
  cash;
- equity at each close is cash plus the positions still held at that close;
- the **daily loss halt** trips when a session's close is ``daily_loss_limit`` or more
  below the close before; the **weekly** losses compound the book's loss so far this week
  with the fall from the book's equity to the shock's lowest close (every shock here fits
  in one Monday-to-Friday week);
- **buying power after** is the cash after: the book is a cash account (the paper
  broker's; a margin account would show more).

Fees and slippage beyond the gap are left out. The shocks:

- **historical** (:data:`EPISODES`): the worst day and week of 2008, the week of
  16-20 March 2020, and 19 October 1987 (the S&P 500 -20.5%), each replayed from the
  symbol's own stored (adjusted) bars when the store holds every session of it; a symbol
  without them moves with the S&P 500 (beta one), each session's move as an overnight
  gap, and the result says so;
- **hypothetical**: every position -10% (an overnight gap), one symbol -30% overnight
  (each held symbol in turn, the worst shown), and correlations to one (every symbol
  falls its own 1-in-100-days move, all at once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from engine.data.bars import Bars
from engine.errors import InputError
from engine.risk.gate_rules import money
from engine.risk.limits import RiskLimits

Kind = Literal["historical", "hypothetical"]
#: Every position's fall in the "every position" shock, and one symbol's overnight gap.
EVERY_POSITION_DROP = 0.10
ONE_SYMBOL_DROP = 0.30
#: The correlated shock: each symbol's own one-day move at this confidence, from this
#: many days of adjusted daily returns at least (fewer: the others' average is assumed).
CORRELATED_CONFIDENCE = 0.99
CORRELATED_MIN_DAYS = 60
_EPSILON = 1e-9


@dataclass(frozen=True)
class Holding:
    """A held position as last marked: shares, the mark (a traded price), its stop."""

    symbol: str
    qty: float
    price: float
    stop_price: float | None = None


@dataclass(frozen=True)
class StressBook:
    """The book a stress test shocks, and the loss it has already taken this week."""

    holdings: tuple[Holding, ...]
    cash: float
    equity: float
    name: str = ""
    as_of: date | None = None
    #: Where the figures come from, in words: which book, marked by whom, when.
    source: str = ""
    #: Loss so far in the week the shock starts in (a positive fraction; 0 on a new week).
    week_loss: float = 0.0

    @property
    def symbols(self) -> list[str]:
        return [h.symbol for h in self.holdings]


@dataclass(frozen=True)
class Shock:
    """Price moves over a few sessions: per symbol, rows of (open, low, close) over the close before.

    A held symbol missing from ``moves`` does not move. ``notes`` say what was assumed.
    """

    name: str
    kind: Kind
    description: str
    moves: Mapping[str, np.ndarray]
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        lengths = {np.shape(m) for m in self.moves.values()}
        if len(lengths) > 1 or any(len(s) != 2 or s[1] != 3 for s in lengths):
            raise InputError(
                f"the shock {self.name!r} needs the same sessions of (open, low, close) per symbol"
            )

    @property
    def sessions(self) -> int:
        return next(iter(self.moves.values())).shape[0] if self.moves else 1


def gap(*closes: float) -> np.ndarray:
    """Sessions that open, trade and close at each of ``closes`` (multiples of the close before)."""
    return np.repeat(np.asarray(closes, dtype=float)[:, None], 3, axis=1)


@dataclass(frozen=True)
class StopFill:
    """A protective stop the shock triggers: where it fills, in which session (1 = the first)."""

    symbol: str
    qty: float
    stop_price: float
    fill_price: float
    session: int

    @property
    def gapped(self) -> bool:
        """True when the session opened below the stop, so it filled at the open."""
        return self.fill_price < self.stop_price - _EPSILON

    @property
    def past_stop(self) -> float:
        """Dollars lost beyond the stop because the price gapped through it."""
        return self.qty * (self.stop_price - self.fill_price)


@dataclass(frozen=True)
class StressResult:
    """One shock's outcome for the book."""

    name: str
    kind: Kind
    description: str
    equity_before: float
    equity_after: float
    cash_after: float
    pnl_by_symbol: dict[str, float]
    stops: tuple[StopFill, ...]
    worst_day_loss: float  # the worst session's close-to-close fall of equity (positive)
    week_loss: float  # the week's loss at the shock's lowest close (positive)
    halts: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def pnl(self) -> float:
        return self.equity_after - self.equity_before

    @property
    def pnl_pct(self) -> float:
        return self.pnl / self.equity_before if self.equity_before > 0 else float("nan")

    @property
    def buying_power_after(self) -> float:
        """Cash after (a cash account; see the module docstring)."""
        return max(self.cash_after, 0.0)

    @property
    def gapped(self) -> tuple[StopFill, ...]:
        return tuple(s for s in self.stops if s.gapped)

    @property
    def halt(self) -> str:
        """The halts in a few words: HALTED; no entries and/or sizes cut; or none."""
        if any("HALTED" in h for h in self.halts):
            return "HALTED"
        found = [
            short
            for short, sign in (("no entries", "no new entries"), ("sizes cut", "sizes cut"))
            if any(sign in h for h in self.halts)
        ]
        return ", ".join(found) or "none"

    def to_dict(self) -> dict:
        """The result as plain values (for ``--json``): its fields and what they give."""
        return {
            **asdict(self),
            "pnl": self.pnl,
            "pnl_pct": self.pnl_pct,
            "buying_power_after": self.buying_power_after,
            "stops": [{**asdict(s), "gapped": s.gapped, "past_stop": s.past_stop}
                      for s in self.stops],
            "halt": self.halt,
            "halts": list(self.halts),
            "notes": list(self.notes),
        }  # fmt: skip


def apply_shock(book: StressBook, shock: Shock, limits: RiskLimits) -> StressResult:
    """The book after ``shock``: P&L, the stops it fills (gapped or not), cash and the halts."""
    sessions = shock.sessions
    unmoved = gap(*[1.0] * sessions)
    # What each position is worth at each close: shares at the close, or the stop's
    # proceeds (cash) from the session it filled in.
    worth = np.zeros(sessions)
    pnl: dict[str, float] = {}
    stops: list[StopFill] = []
    for h in book.holdings:
        prices = h.price * np.asarray(shock.moves.get(h.symbol, unmoved))
        fill = _stop_fill(h, prices)
        value = h.qty * prices[:, 2]
        if fill is not None:
            stops.append(fill)
            value[fill.session - 1 :] = h.qty * fill.fill_price
        worth += value
        pnl[h.symbol] = float(value[-1] - h.qty * h.price)
    closes = np.concatenate([[book.equity], book.cash + worth])
    if book.equity > 0:
        worst_day = max(float((1.0 - closes[1:] / closes[:-1]).max()), 0.0)
        week = max(1.0 - (1.0 - book.week_loss) * float(closes[1:].min()) / book.equity, 0.0)
    else:
        worst_day = week = 0.0
    return StressResult(
        name=shock.name,
        kind=shock.kind,
        description=shock.description,
        equity_before=book.equity,
        equity_after=float(closes[-1]),
        cash_after=book.cash + sum(s.qty * s.fill_price for s in stops),
        pnl_by_symbol=pnl,
        stops=tuple(stops),
        worst_day_loss=worst_day,
        week_loss=week,
        halts=halts(worst_day, week, limits),
        notes=shock.notes,
    )


def _stop_fill(holding: Holding, prices: np.ndarray) -> StopFill | None:
    """Where the holding's stop fills on ``prices`` (sessions of open, low, close), if it does."""
    stop = holding.stop_price
    if stop is None:
        return None
    for k, (opened, low, _) in enumerate(prices):
        if low <= stop + _EPSILON or opened <= stop + _EPSILON:
            # A session that opens below the stop fills at its open: the gapped price.
            return StopFill(holding.symbol, holding.qty, stop, min(float(opened), stop), k + 1)
    return None


def halts(worst_day: float, week: float, limits: RiskLimits) -> tuple[str, ...]:
    """What the gate would do after these losses under ``limits``, in its own words."""
    found = []
    if worst_day >= limits.daily_loss_limit:
        found.append(
            f"daily loss {worst_day:.1%} past the {limits.daily_loss_limit:.0%} limit: "
            "no new entries that day"
        )
    if week >= limits.weekly_hard_loss:
        found.append(
            f"weekly loss {week:.1%} past the {limits.weekly_hard_loss:.0%} hard limit: "
            "HALTED until a trader resumes"
        )
    elif week >= limits.weekly_soft_loss:
        found.append(
            f"weekly loss {week:.1%} past the {limits.weekly_soft_loss:.0%} soft limit: new "
            f"sizes cut to {limits.weekly_soft_size_factor:.0%}"
        )
    return tuple(found)


# -- historical shocks ------------------------------------------------------------------


@dataclass(frozen=True)
class Episode:
    """A market crash to replay: the close before it, its sessions, and the S&P 500's closes."""

    name: str
    before: date
    sessions: tuple[date, ...]
    #: The S&P 500 index's close on ``before`` and on each session: what a symbol without
    #: stored bars of the episode is assumed to do.
    index_closes: tuple[float, ...]

    @property
    def index_move(self) -> float:
        return self.index_closes[-1] / self.index_closes[0] - 1.0

    @property
    def dates(self) -> str:
        first, last = self.sessions[0], self.sessions[-1]
        return f"{first}" if first == last else f"{first} to {last}"


#: The historical shocks. Index closes are the S&P 500's published daily closes.
EPISODES: tuple[Episode, ...] = (
    Episode("2008 worst day", date(2008, 10, 14), (date(2008, 10, 15),), (998.01, 907.84)),
    Episode(
        "2008 worst week",
        date(2008, 10, 3),
        tuple(date(2008, 10, d) for d in (6, 7, 8, 9, 10)),
        (1099.23, 1056.89, 996.23, 984.94, 909.92, 899.22),
    ),
    Episode(
        "March 2020",
        date(2020, 3, 13),
        tuple(date(2020, 3, d) for d in (16, 17, 18, 19, 20)),
        (2711.02, 2386.13, 2529.19, 2398.10, 2409.39, 2304.92),
    ),
    Episode("1987-style day", date(1987, 10, 16), (date(1987, 10, 19),), (282.70, 224.84)),
)


def replay(episode: Episode, book: StressBook, bars: Bars | None) -> Shock:
    """``episode`` as a shock: each held symbol's own (adjusted) bars where ``bars`` hold every
    session of it, else the S&P 500's moves as overnight gaps (said in the notes)."""
    index = np.asarray(episode.index_closes, dtype=float)
    assumed_path = gap(*(index[1:] / index[0]))
    moves: dict[str, np.ndarray] = {}
    lacking = []
    for symbol in book.symbols:
        own = _own_path(bars, symbol, episode)
        if own is None:
            lacking.append(symbol)
            moves[symbol] = assumed_path
        else:
            moves[symbol] = own
    replayed = [s for s in book.symbols if s not in lacking]
    notes = []
    if replayed:
        notes.append(f"replayed from stored bars (adjusted): {', '.join(replayed)}")
    if lacking:
        notes.append(
            f"no stored bars for {episode.before} to {episode.sessions[-1]}: "
            f"{', '.join(lacking)} moved with the S&P 500 ({episode.index_move:+.1%}; beta one), "
            "each session's move as an overnight gap"
        )
    return Shock(
        episode.name,
        "historical",
        f"{episode.dates}: the S&P 500 {episode.index_move:+.1%}",
        moves,
        tuple(notes),
    )


def _own_path(bars: Bars | None, symbol: str, episode: Episode) -> np.ndarray | None:
    """The symbol's sessions of ``episode`` over its close before, or None if a bar is missing."""
    if bars is None or symbol not in bars.symbols:
        return None
    days = pd.DatetimeIndex([pd.Timestamp(d) for d in (episode.before, *episode.sessions)])
    frame = pd.DataFrame({f: getattr(bars, f)[symbol] for f in ("open", "low", "close")}).reindex(
        days
    )
    values = frame.to_numpy(dtype=float)
    if not np.isfinite(values).all() or (values <= 0).any():
        return None
    return values[1:] / values[0, 2]


# -- hypothetical shocks ----------------------------------------------------------------


def every_position(book: StressBook, drop: float = EVERY_POSITION_DROP) -> Shock:
    """Every held symbol opens (and closes) ``drop`` below its mark."""
    return Shock(
        f"Every position -{drop:.0%}",
        "hypothetical",
        f"every held symbol opens and closes {drop:.0%} below its mark (an overnight gap)",
        {s: gap(1 - drop) for s in book.symbols},
    )


def one_symbol(book: StressBook, symbol: str, drop: float = ONE_SYMBOL_DROP) -> Shock:
    """``symbol`` opens (and closes) ``drop`` below its mark overnight; the rest do not move."""
    return Shock(
        f"One symbol -{drop:.0%} overnight",
        "hypothetical",
        f"{symbol} opens and closes {drop:.0%} below its mark, the rest unchanged",
        {symbol: gap(1 - drop)},
    )


def correlations_to_one(
    book: StressBook,
    returns: pd.DataFrame,
    *,
    confidence: float = CORRELATED_CONFIDENCE,
    min_days: int = CORRELATED_MIN_DAYS,
) -> Shock:
    """Every held symbol falls its own 1-in-``1/(1-confidence)``-days move at once (overnight).

    Each move is the ``1 - confidence`` quantile of the symbol's daily returns (adjusted
    history); a symbol with fewer than ``min_days`` returns takes the average of the
    others' moves, and with none known every position falls ``EVERY_POSITION_DROP``.
    """
    moves: dict[str, float] = {}
    for symbol in book.symbols:
        series = returns[symbol].dropna() if symbol in returns.columns else pd.Series()
        if len(series) >= min_days:
            moves[symbol] = min(float(series.quantile(1 - confidence)), 0.0)
    lacking = [s for s in book.symbols if s not in moves]
    notes = []
    if moves:
        notes.append(
            "each symbol's move: "
            + ", ".join(f"{s} {m:+.1%}" for s, m in moves.items())
            + f" (the worst 1% of its daily returns over the last {len(returns)} days)"
        )
    if lacking:
        assumed = float(np.mean(list(moves.values()))) if moves else -EVERY_POSITION_DROP
        why = "the others' average" if moves else "no held symbol has the history"
        notes.append(
            f"fewer than {min_days} days of stored returns: {', '.join(lacking)} assumed "
            f"{assumed:+.1%} ({why})"
        )
        moves.update({s: assumed for s in lacking})
    days = round(1 / (1 - confidence))
    return Shock(
        "Correlations to one",
        "hypothetical",
        f"every held symbol falls its own 1-in-{days}-days move at once (an overnight gap)",
        {s: gap(1 + m) for s, m in moves.items()},
        tuple(notes),
    )


# -- the whole test ---------------------------------------------------------------------


@dataclass(frozen=True)
class StressReport:
    """A book under every shock, with the limits it was judged by."""

    book: StressBook
    limits: RiskLimits
    results: tuple[StressResult, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def worst(self) -> StressResult | None:
        return min(self.results, key=lambda r: r.pnl) if self.results else None

    def frame(self) -> pd.DataFrame:
        """One row per shock: P&L ($ and % of equity), stops hit and gapped, cash, the halt."""
        return pd.DataFrame(
            [
                {
                    "scenario": r.name,
                    "kind": r.kind,
                    "what": r.description,
                    "pnl": r.pnl,
                    "pnl_pct": r.pnl_pct,
                    "stops_hit": len(r.stops),
                    "stops_gapped": ", ".join(
                        f"{s.symbol} (stop {money(s.stop_price)}, filled {money(s.fill_price)})"
                        for s in r.gapped
                    ),
                    "past_stops": sum(s.past_stop for s in r.gapped),
                    "cash_after": r.cash_after,
                    "buying_power_after": r.buying_power_after,
                    "halt": r.halt,
                    "halts": "; ".join(r.halts),
                    "notes": "; ".join(r.notes),
                }
                for r in self.results
            ],
            columns=[
                "scenario", "kind", "what", "pnl", "pnl_pct", "stops_hit", "stops_gapped",
                "past_stops", "cash_after", "buying_power_after", "halt", "halts", "notes",
            ],
        )  # fmt: skip


def stress_test(
    book: StressBook,
    limits: RiskLimits,
    *,
    history: Mapping[str, Bars | None],
    returns: pd.DataFrame,
    episodes: Sequence[Episode] = EPISODES,
) -> StressReport:
    """``book`` under every historical and hypothetical shock.

    ``history`` maps each episode's name to the stored adjusted bars of its window (or
    None); ``returns`` are the held symbols' recent daily returns (adjusted), for the
    correlated shock.
    """
    unprotected = [h.symbol for h in book.holdings if h.stop_price is None]
    notes = (f"no protective stop: {', '.join(unprotected)}",) if unprotected else ()
    if not book.holdings:
        return StressReport(book, limits, (), ("the book is flat: nothing to stress",))
    results = [
        apply_shock(book, replay(episode, book, history.get(episode.name)), limits)
        for episode in episodes
    ]
    results.append(apply_shock(book, every_position(book), limits))
    each = {s: apply_shock(book, one_symbol(book, s), limits) for s in book.symbols}
    worst = min(each.values(), key=lambda r: r.pnl)
    if len(each) > 1:
        listed = ", ".join(f"{s} {money(r.pnl)}" for s, r in each.items())
        worst = replace(worst, notes=(*worst.notes, f"each held symbol in turn: {listed}"))
    results.append(worst)
    results.append(apply_shock(book, correlations_to_one(book, returns), limits))
    return StressReport(book, limits, tuple(results), notes)
