"""The trader's risk limits: one frozen model, safe defaults, loadable from YAML.

The defaults are the seeds' rules (README, "Risk rules and their defaults"): 1% risk per trade,
at most 5 positions, a 2% cash buffer, no new entries after a 2% daily loss, half size
after a 5% weekly loss and a halt after 8%, the pattern-day-trader rule, wash sales
flagged, orders sent while the market is shut judged against the session they wait for
(a trader's market buy then refused). Losses are written as positive fractions
(``0.02`` means "down 2%").

The control room's Settings page and a limits file go through the same validation
(:func:`limits_from_mapping`), so a value the page accepts is a value the file accepts.

>>> RiskLimits().max_positions
5
>>> RiskLimits(max_positions=8).max_positions
8
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import Field, field_validator, model_validator

from engine.errors import InputError

DayTradePolicy = Literal["pdt", "intraday_margin", "off"]
WashSalePolicy = Literal["flag", "block"]
ApprovalMode = Literal["off", "all", "above"]

#: The seeds' range for risk per trade; leaving it takes ``allow_wide_risk_per_trade``.
SEED_RISK_PER_TRADE = (0.005, 0.01)
#: FINRA's pattern-day-trader window and the IRS wash-sale window are law, not settings.
PDT_WINDOW_SESSIONS = 5
WASH_SALE_WINDOW_DAYS = 30
_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class LimitsError(InputError):
    """Risk limits failed validation; ``problems`` maps each field to what is wrong with it."""

    def __init__(self, message: str, *, problems: dict[str, str], hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = problems


def _loss(description: str, default: float) -> Any:
    return Field(default, gt=0, lt=1, description=description)


class RiskLimits(pydantic.BaseModel):
    """Every limit the risk gate enforces; frozen, and unknown names are an error.

    Every number is finite: an infinite limit (``max_order_notional: .inf``) would switch
    its guard off without saying so, so it is refused wherever limits come from.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    # -- sizing ------------------------------------------------------------------------
    risk_per_trade: float = Field(
        0.01,
        gt=0,
        le=0.05,
        description="Fraction of equity lost if a new position's stop is hit (seeds: 0.005-0.01).",
    )
    allow_wide_risk_per_trade: bool = Field(
        False,
        description="Allow risk_per_trade outside 0.005-0.01 (never above 0.05).",
    )
    fractional_shares: bool = Field(
        False, description="Trade fractional quantities (only when the broker allows them)."
    )

    # -- exposure ----------------------------------------------------------------------
    max_positions: int = Field(
        5, ge=1, le=500, description="Most symbols held (or being bought) at once."
    )
    max_position_pct: float = Field(
        0.20, gt=0, le=1, description="Largest position as a fraction of equity."
    )
    cash_buffer: float = Field(
        0.02,
        ge=0.02,
        le=0.5,
        description="Fraction of equity always kept in cash after a buy (seeds: 0.02-0.05).",
    )
    max_order_notional: float = Field(
        25_000.0, gt=0, description="Largest buy order in dollars (a fat-finger guard)."
    )
    max_orders_per_minute: int = Field(
        20, ge=1, le=1000, description="Most orders that add exposure within any 60 seconds."
    )
    duplicate_window_seconds: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="A manual order repeating one sent this many seconds ago is a duplicate.",
    )

    # -- drawdown (positive fractions: 0.02 means down 2%) ------------------------------
    daily_loss_limit: float = _loss(
        "Loss since the prior close that stops new entries today.", 0.02
    )
    weekly_soft_loss: float = _loss("Loss since the prior week's close that cuts new sizes.", 0.05)
    weekly_soft_size_factor: float = Field(
        0.5, gt=0, lt=1, description="New sizes are multiplied by this past the weekly soft loss."
    )
    weekly_hard_loss: float = _loss("Loss since the prior week's close that HALTS trading.", 0.08)

    # -- day trading -------------------------------------------------------------------
    day_trade_policy: DayTradePolicy = Field(
        "pdt",
        description=(
            "pdt: FINRA's pattern-day-trader rule (under the equity threshold, at most "
            "pdt_max_day_trades in 5 business days); intraday_margin: the 2026 Rule 4210 "
            "intraday margin standard (no order may take buying power below zero); off."
        ),
    )
    pdt_equity_threshold: float = Field(
        25_000.0, ge=0, description="Equity at or above which the PDT count does not apply."
    )
    pdt_max_day_trades: int = Field(
        3, ge=0, le=3, description="Day trades allowed in 5 business days under the threshold."
    )
    allow_protective_stop_as_4th_day_trade: bool = Field(
        True,
        description="Let a protective stop close a position even when it is one day trade too many.",
    )

    # -- compliance and universe -------------------------------------------------------
    wash_sale_policy: WashSalePolicy = Field(
        "flag", description="flag: approve and mark wash-sale buys; block: deny them."
    )
    allow_outside_session: bool = Field(
        False,
        description="Let a trader's market buys sent while the NYSE is shut queue for the next "
        "open (they fill at an opening price not known when sent). Every other order sent "
        "then queues regardless: a strategy's, exits, stops, limit orders.",
    )
    min_price: float = Field(5.0, ge=0, description="Cheapest share price a buy may pay.")
    max_price: float | None = Field(None, gt=0, description="Dearest share price a buy may pay.")
    min_avg_dollar_volume: float = Field(
        1_000_000.0,
        ge=0,
        description="Least average daily dollar volume a bought symbol must trade.",
    )
    restricted_symbols: frozenset[str] = Field(
        frozenset(), description="Symbols nobody may buy (a compliance restricted list)."
    )
    earnings_blackout_sessions: int = Field(
        0,
        ge=0,
        le=20,
        description=(
            "No new entries in a symbol within this many sessions before its earnings date, "
            "nor on it (0: off; dates from `wb earnings refresh` or `wb earnings import`)."
        ),
    )

    # -- entries a trader approves -----------------------------------------------------
    approve_entries: ApprovalMode = Field(
        "off",
        description="Entries a trader approves before they go (exits and stops never wait): "
        "'off', 'all' (every entry), or 'above' (entries worth more than "
        "approve_entries_above dollars).",
    )
    approve_entries_above: float | None = Field(
        None,
        gt=0,
        description="With approve_entries 'above': the value in dollars (shares x the "
        "decision price) above which an entry waits for a trader.",
    )
    approval_expires: str = Field(
        "next_bar",
        description="When an entry no trader approved expires, never to be sent: 'next_bar' "
        "(the close of the bar it was meant to fill in) or a New York time HH:MM on that "
        "bar's session (09:25: approve before the open), if sooner.",
    )

    # -- validation --------------------------------------------------------------------
    @field_validator("daily_loss_limit", "weekly_soft_loss", "weekly_hard_loss", mode="before")
    @classmethod
    def _loss_is_positive(cls, value: Any) -> Any:
        if isinstance(value, int | float) and value < 0:
            raise ValueError(
                f"write a loss as a positive fraction: {abs(value)} for a {value:.0%} loss"
            )
        return value

    @field_validator("restricted_symbols", mode="before")
    @classmethod
    def _upper_symbols(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [s for s in value.replace(",", " ").split() if s]
        if isinstance(value, list | tuple | set | frozenset):
            return frozenset(str(s).strip().upper() for s in value if str(s).strip())
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RiskLimits:
        low, high = SEED_RISK_PER_TRADE
        if not self.allow_wide_risk_per_trade and not low <= self.risk_per_trade <= high:
            raise ValueError(
                f"risk_per_trade {self.risk_per_trade} is outside the seeds' range {low}-{high}; "
                "set allow_wide_risk_per_trade: true to use it (never above 0.05)"
            )
        if self.weekly_soft_loss >= self.weekly_hard_loss:
            raise ValueError(
                f"weekly_soft_loss {self.weekly_soft_loss} must be smaller than "
                f"weekly_hard_loss {self.weekly_hard_loss}: the size cut comes before the halt"
            )
        if self.max_price is not None and self.max_price <= self.min_price:
            raise ValueError(f"max_price {self.max_price} must be above min_price {self.min_price}")
        approval_problem(self.approve_entries, self.approve_entries_above)
        return self

    @field_validator("approval_expires")
    @classmethod
    def _expiry(cls, value: str) -> str:
        if value == "next_bar" or _CLOCK_TIME.match(value):
            return value
        raise ValueError(
            f"{value!r} is not 'next_bar' nor a New York time HH:MM (e.g. '09:25')"
        )

    # -- conversion --------------------------------------------------------------------
    def to_mapping(self) -> dict[str, Any]:
        """The limits as plain YAML/JSON-ready values (restricted symbols sorted)."""
        data = self.model_dump(mode="json")
        data["restricted_symbols"] = sorted(self.restricted_symbols)
        return data

    def to_yaml(self) -> str:
        """The limits as a YAML document that :func:`load_limits` reads back unchanged."""
        return yaml.safe_dump(self.to_mapping(), sort_keys=False)


def approval_problem(mode: str, above: float | None) -> None:
    """Raises ValueError when an approval mode and its notional do not fit together."""
    if mode == "above" and above is None:
        raise ValueError(
            "approve_entries 'above' needs approve_entries_above, the entry value in dollars "
            "above which a trader approves (e.g. 10000)"
        )
    if mode != "above" and above is not None:
        raise ValueError(
            f"approve_entries_above is set but approve_entries is {mode!r}: set "
            "approve_entries to 'above', or drop approve_entries_above"
        )


def limits_from_mapping(data: Any, *, source: str = "risk limits") -> RiskLimits:
    """Validated :class:`RiskLimits` from a mapping; missing names take their defaults.

    Raises :class:`LimitsError` naming every bad field, with a "did you mean" for typos.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise LimitsError(
            f"{source} must be a mapping of limit names to values, not {type(data).__name__}",
            problems={"value": "not a mapping"},
            hint="write one `name: value` per line, e.g. `max_positions: 5`",
        )
    try:
        return RiskLimits.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = _problems(exc, data)
        listed = "; ".join(f"{name}: {msg}" for name, msg in problems.items())
        raise LimitsError(
            f"{source} are invalid: {listed}",
            problems=problems,
            hint="fix the named limits (`wb limits show` lists every limit and its value)",
        ) from None


def load_limits(path: str | Path) -> RiskLimits:
    """The :class:`RiskLimits` in a YAML file (names not in the file keep their defaults)."""
    path = Path(path)
    if not path.exists():
        raise InputError(
            f"no risk limits file at {path}",
            hint="write one with RiskLimits().to_yaml(), or leave it out to use the defaults",
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(
            f"{path} is not valid YAML: {exc}", hint="fix the line the parser names"
        ) from None
    return limits_from_mapping(data, source=f"the risk limits in {path}")


def limits_diff(old: RiskLimits, new: RiskLimits) -> dict[str, tuple[Any, Any]]:
    """The limits that differ between ``old`` and ``new``: name -> (old, new), for the audit trail."""
    before, after = old.to_mapping(), new.to_mapping()
    return {name: (before[name], after[name]) for name in before if before[name] != after[name]}


#: What an infinite (or NaN) value of these limits would do, said when one is refused.
UNBOUNDED = {
    "max_order_notional": "an unbounded largest buy order switches off the fat-finger guard; "
    "give the largest buy in dollars, e.g. 25000",
    "max_price": "for no cap on the share price leave max_price empty (null), not infinite",
}


def _problems(exc: pydantic.ValidationError, data: dict) -> dict[str, str]:
    known = list(RiskLimits.model_fields)
    problems: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "limits"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(name, known, n=1)
            message = f"unknown limit (did you mean {close[0]!r}?)" if close else "unknown limit"
        elif err["type"] == "finite_number":
            message = UNBOUNDED.get(name, f"{err['input']} is not a finite number; give a number")
        problems[name] = message
    return problems
