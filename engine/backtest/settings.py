"""How a backtest trades: cash, costs, when orders fill, how positions are sized and stopped.

The same settings travel inside a :class:`~engine.config.models.StrategyConfig`, so the
live loop follows the rules its evidence was produced under. This module imports nothing
heavy: configs and the control room load it without vectorbt.
"""

from __future__ import annotations

from typing import Literal

import pydantic
from pydantic import Field

from engine.errors import InputError

#: Bars per year for each bar size, nominally. Daily bars are trading days (252), not
#: calendar days: vectorbt's default year of 365 days would inflate a daily Sharpe by
#: sqrt(365/252). A backtest on intraday bars annualises by the NYSE calendar of the years
#: it covers instead (early closes counted, see engine.backtest.annualisation); the
#: intraday entries here are what a year of 252 full sessions would hold.
BARS_PER_YEAR: dict[str, int] = {
    "1D": 252,
    "1W": 52,
    "1h": 252 * 7,  # 6.5 regular hours make 7 hourly bars when the last one is partial
    "30min": 252 * 13,
    "15min": 252 * 26,
    "5min": 252 * 78,
    "1min": 252 * 390,
}


#: Most legs after the first a ladder may add.
MAX_LADDER_LEGS = 9


class LadderLeg(pydantic.BaseModel):
    """One leg a scale-in ladder adds to a held position (frozen; unknown fields rejected).

    >>> LadderLeg(at=0.0025, size=0.5).stop is None
    True
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    at: float = Field(
        gt=0,
        lt=1,
        description="The open legs' average gain, as a fraction of their average entry price "
        "(0.0025: up 0.25%), at or above which a close adds this leg.",
    )
    size: float = Field(
        gt=0, le=10, description="The leg's shares as a fraction of the first leg's (0.5: half)."
    )
    stop: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="The leg's own stop, this fraction below the close that added it (0.02: "
        "2% below); None: the settings' stop rule at that close, as for an entry.",
    )


class BacktestSettings(pydantic.BaseModel):
    """Execution, cost, sizing and stop rules of a backtest (frozen; unknown fields rejected).

    >>> BacktestSettings(size="all", fees=0, slippage=0).execution
    'next_open'
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    init_cash: float = Field(100_000.0, gt=0, description="Starting cash of the book.")
    fees: float = Field(
        0.0005, ge=0, lt=0.1, description="Commission per fill, as a fraction of its value."
    )
    slippage: float = Field(
        0.0005,
        ge=0,
        lt=0.1,
        description="Adverse price move per fill, as a fraction of the price (buys pay more, "
        "sells get less), stop exits included.",
    )
    execution: Literal["next_open", "close"] = Field(
        "next_open",
        description="When a signal is acted on: 'next_open' fills a signal of bar t at bar "
        "t+1's open; 'close' fills it at bar t's own close (only when a strategy's signals "
        "are known before the close, e.g. computed from the prior bars).",
    )
    size: Literal["fraction", "risk", "all"] = Field(
        "fraction",
        description="'fraction': each entry buys `fraction` of equity; 'risk': each entry "
        "risks `risk_per_trade` of equity down to its stop (shares = equity x risk / stop "
        "distance; needs a stop); 'all': each entry buys with all available cash "
        "(fractional shares), for hand-checkable runs.",
    )
    fraction: float = Field(
        0.2, gt=0, le=1, description="Share of equity per position when size='fraction'."
    )
    risk_per_trade: float = Field(
        0.01, gt=0, le=0.1, description="Share of equity lost at the stop when size='risk'."
    )
    stop: Literal["none", "strategy", "atr"] = Field(
        "none",
        description="Protective stop below each entry: 'strategy' uses the strategy's own "
        "stop_distance, 'atr' uses atr_multiple x the ATR over atr_window bars.",
    )
    atr_multiple: float = Field(2.0, gt=0, description="Stop distance in ATRs when stop='atr'.")
    atr_window: int = Field(14, ge=1, description="Bars in the ATR when stop='atr'.")
    trailing_stop: bool = Field(
        False,
        description="Trail the stop up behind the highest high since entry, keeping the "
        "entry's distance as a fraction of price.",
    )
    take_profit: Literal["none", "fraction", "atr", "reward_risk"] = Field(
        "none",
        description="Profit target above each entry, resting beside its stop (one cancels "
        "the other): 'fraction' take_profit_at x the entry's decision price (0.05: 5% "
        "above), 'atr' take_profit_at x the ATR over atr_window bars, 'reward_risk' "
        "take_profit_at x the stop distance (2: a 2:1 reward to risk). Needs a stop. Set "
        "once from the decision's close; it does not trail; it fills without slippage "
        "(a limit).",
    )
    take_profit_at: float | None = Field(
        None,
        gt=0,
        le=100,
        description="The target's size in take_profit's unit (a fraction, ATRs or stop "
        "distances).",
    )
    ladder: tuple[LadderLeg, ...] = Field(
        (),
        description="Scale-in ladder: the legs added to a held position after its first, in "
        "order, each when the open legs' average gain at a close reaches its `at`, each with "
        "its own size and stop. The strategy's exit sells every leg; a leg's stop sells that "
        "leg. Empty: one entry per position.",
    )
    max_positions: int = Field(5, ge=1, description="Most positions open at once in the book.")
    freq: str = Field(
        "1D", description="Bar size; every annualised metric uses it (never guessed)."
    )
    flat_by_close: bool = Field(
        False,
        description="Be flat by each session's close: positions still held are sold at the "
        "close of the session's last bar (or of the last bar that ends "
        "flat_minutes_before_close before it), and no entry fills after that bar in the "
        "session. Nothing is held overnight.",
    )
    flat_minutes_before_close: int = Field(
        0,
        ge=0,
        lt=390,
        description="With flat_by_close on intraday bars: minutes before the scheduled close "
        "(16:00, or 13:00 on an early close) by which the book is flat (0: at the close).",
    )
    cash_sharing: bool = Field(
        True,
        description="One book: all symbols draw on one cash pool and share max_positions. "
        "False gives each symbol an equal, separate slice of init_cash.",
    )
    last_bar_entries: Literal["refuse", "next_open"] = Field(
        "refuse",
        description="Intraday bars: an entry signalled on a session's last bar is refused "
        "('refuse'), or sent to fill at the next session's open, through the overnight gap "
        "('next_open'). Daily bars decide after the close and always fill at the next open.",
    )
    approve_entries: Literal["off", "all", "above"] = Field(
        "off",
        description="Live trading only (the backtest trades every entry): the config's "
        "entries a trader approves before they go, 'off', 'all', or 'above' "
        "approve_entries_above dollars. The account's limits may ask for it too; the "
        "stricter wins. Exits and stops never wait.",
    )
    approve_entries_above: float | None = Field(
        None, gt=0, description="With approve_entries 'above': the entry value in dollars."
    )

    @pydantic.field_validator("freq")
    @classmethod
    def _known_freq(cls, freq: str) -> str:
        if freq not in BARS_PER_YEAR:
            raise ValueError(f"unknown bar size {freq!r}; use one of {', '.join(BARS_PER_YEAR)}")
        return freq

    @pydantic.field_validator("ladder", mode="before")
    @classmethod
    def _ladder_from_text(cls, ladder):
        # The command line's form: "AT:SIZE[:STOP],..." (0.0025:0.5,0.01:0.25:0.02).
        if not isinstance(ladder, str):
            return ladder
        legs = []
        for text in filter(None, (part.strip() for part in ladder.split(","))):
            parts = text.split(":")
            if len(parts) not in (2, 3):
                raise ValueError(
                    f"cannot read ladder leg {text!r}: write each leg AT:SIZE or AT:SIZE:STOP, "
                    "e.g. ladder=0.0025:0.5,0.01:0.25"
                )
            legs.append(dict(zip(("at", "size", "stop"), parts, strict=False)))
        return legs

    @pydantic.model_validator(mode="after")
    def _stop_when_needed(self) -> BacktestSettings:
        if self.size == "risk" and self.stop == "none":
            raise ValueError(
                "size='risk' sizes each entry by its stop distance, so it needs a stop: "
                "set stop='strategy' or stop='atr'"
            )
        if self.trailing_stop and self.stop == "none":
            raise ValueError("trailing_stop needs a stop to trail: set stop='strategy' or 'atr'")
        if self.take_profit != "none" and self.take_profit_at is None:
            raise ValueError(
                f"take_profit={self.take_profit!r} needs take_profit_at, its size: e.g. "
                "take_profit_at=0.05 for 5% above the entry"
            )
        if self.take_profit == "none" and self.take_profit_at is not None:
            raise ValueError(
                "take_profit_at is set but take_profit is 'none': set take_profit to "
                "'fraction', 'atr' or 'reward_risk', or drop take_profit_at"
            )
        if self.take_profit == "fraction" and self.take_profit_at is not None and self.take_profit_at >= 1:
            raise ValueError(
                f"take_profit_at={self.take_profit_at:g} is {self.take_profit_at:.0%} above the "
                "entry: a fraction is written 0.05 for 5%"
            )
        if self.take_profit != "none" and self.stop == "none":
            raise ValueError(
                "a profit target rests beside the stop as one bracket (one cancels the "
                "other), so it needs a stop: set stop='strategy' or stop='atr'"
            )
        self._ladder_fits()
        if (self.approve_entries == "above") != (self.approve_entries_above is not None):
            raise ValueError(
                "approve_entries 'above' goes with approve_entries_above, the entry value in "
                "dollars (e.g. 10000), and approve_entries_above only with 'above'"
            )
        if self.flat_minutes_before_close and not self.flat_by_close:
            raise ValueError(
                "flat_minutes_before_close needs flat_by_close: set flat_by_close=true too"
            )
        return self

    def _ladder_fits(self) -> None:
        if not self.ladder:
            return
        if len(self.ladder) > MAX_LADDER_LEGS:
            raise ValueError(
                f"a ladder adds at most {MAX_LADDER_LEGS} legs after the first, not "
                f"{len(self.ladder)}: drop the last ones"
            )
        for n, (before, leg) in enumerate(zip(self.ladder, self.ladder[1:], strict=False), 2):
            if leg.at <= before.at:
                raise ValueError(
                    f"ladder leg {n + 1} adds at a gain of {leg.at:.2%}, not above leg {n}'s "
                    f"{before.at:.2%}: each leg's `at` must be higher than the one before"
                )
        if self.size == "all":
            raise ValueError(
                "size='all' spends all the cash on the first leg, leaving none for the ladder: "
                "use size='fraction' or size='risk'"
            )
        if self.take_profit != "none":
            raise ValueError(
                "a ladder does not take a profit target yet (each leg rests its own stop): "
                "set take_profit='none', or drop the ladder"
            )
        if self.trailing_stop:
            raise ValueError(
                "a ladder's legs keep fixed stops; trailing_stop is not supported with a "
                "ladder yet: set trailing_stop=false, or drop the ladder"
            )

    def for_freq(self, freq: str) -> BacktestSettings:
        """These settings for bars of ``freq`` ("5min"): a freq left at its default follows the bars.

        A freq that was set and differs from the bars' is refused: every annualised figure
        would be stated for the wrong bar size.
        """
        if freq == self.freq:
            return self
        if "freq" in self.model_fields_set:
            raise InputError(
                f"the settings say {self.freq} bars but the bars are {freq}",
                hint="leave freq out of the settings (it follows the bars), or load bars of that size",
            )
        return self.model_validate({**self.model_dump(exclude_unset=True), "freq": freq})

    @property
    def bars_per_year(self) -> int:
        """Bars in a year at this bar size: the annualisation factor of every metric."""
        return BARS_PER_YEAR[self.freq]
