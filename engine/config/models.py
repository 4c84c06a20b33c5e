"""StrategyConfig: what production trades, written down once, with the evidence behind it.

A config names a strategy, its parameters, the universe, the bar size and the execution
and sizing rules (the same :class:`~engine.backtest.settings.BacktestSettings` the
backtest used, so the live loop follows the rules the evidence was produced under). It is
frozen and rejects unknown fields, so a typo can never be silently ignored, and its
parameters are checked against the strategy's own params model when it is built, so a
config can never carry a parameter the strategy does not know.

Its id is content-addressed: the first 16 hex digits of the sha256 of the canonical JSON
(sorted keys, no whitespace) of everything that decides trading -- strategy, params,
universe, bar size, settings. Evidence, notes and author are left out, so the same trading
config found twice (by two analysts, or on fresher data) gets the same id. Settings added
after ids were first given out (``ADDED_SETTINGS``) are left out of the hash while they
keep their defaults, so every config stored before them keeps its id.

>>> config = StrategyConfig(strategy="sma_crossover", params={"fast": 10, "slow": 30},
...                         universe=["aapl", "msft"], created_by="ana")  # doctest: +SKIP
>>> config.config_id                                                      # doctest: +SKIP
'5c0f3e9a1b7d2c44'
>>> StrategyConfig.from_yaml(config.to_yaml()) == config                  # doctest: +SKIP
True
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import date, datetime
from numbers import Number
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BeforeValidator, Field, field_validator, model_validator

from engine.backtest.settings import BacktestSettings
from engine.config.loading import parse_yaml_mapping, read_text, validate_model
from engine.errors import InputError

#: Fields that decide what trades; the config id is the hash of exactly these.
TRADING_FIELDS = ("strategy", "params", "universe", "bar_size", "settings")

ID_LENGTH = 16

BarSize = Literal["1m", "5m", "15m", "30m", "1h", "1d"]

#: The backtest's bar frequency for each bar size a config may name (engine.data.bar_sizes).
BAR_SIZE_FREQ = {"1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min", "1h": "1h",
                 "1d": "1D"}

#: Settings added after config ids were first given out, with their defaults: left out of
#: the hashed content while at the default, so that older configs keep their ids.
ADDED_SETTINGS: dict[str, Any] = {
    "flat_by_close": False,
    "flat_minutes_before_close": 0,
    "last_bar_entries": "refuse",
    "take_profit": "none",
    "take_profit_at": None,
    "ladder": [],
    "approve_entries": "off",
    "approve_entries_above": None,
}

_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,14}$")


def _clean_metrics(value: Any) -> Any:
    """Metrics as plain floats: numpy numbers unwrapped, NaN/inf (no trades, no variance) as None."""
    if not isinstance(value, dict):
        return value
    cleaned: dict[str, float | None] = {}
    for key, figure in value.items():
        if figure is None:
            cleaned[str(key)] = None
        elif hasattr(figure, "total_seconds"):  # a duration (e.g. the longest drawdown)
            cleaned[str(key)] = figure.total_seconds() / 86400.0
        elif isinstance(figure, Number) or hasattr(figure, "item"):
            number = float(figure)
            cleaned[str(key)] = number if math.isfinite(number) else None
        else:
            raise ValueError(f"metric {key!r} is not a number: {figure!r}")
    return cleaned


def _clean_number(value: Any) -> Any:
    """A figure as a plain float, NaN/inf (could not be computed) as None."""
    if value is None or isinstance(value, str):
        return value
    number = float(value)
    return number if math.isfinite(number) else None


#: Figures by name (a backtest's metrics), stored as :func:`_clean_metrics` gives them.
Metrics = Annotated[dict[str, float | None], BeforeValidator(_clean_metrics)]
#: A figure that may not be computable (None), stored as :func:`_clean_number` gives it.
Figure = Annotated[float | None, BeforeValidator(_clean_number)]


class FoldEvidence(pydantic.BaseModel):
    """One walk-forward fold: the windows, the params the in-sample chose, and both results."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    train_start: date
    train_end: date
    test_start: date
    test_end: date
    params: dict[str, Any]
    in_sample: Metrics
    out_of_sample: Metrics

    @model_validator(mode="after")
    def _windows_in_order(self) -> FoldEvidence:
        if not (self.train_start <= self.train_end < self.test_start <= self.test_end):
            raise ValueError(
                f"fold windows out of order: train {self.train_start}..{self.train_end}, "
                f"test {self.test_start}..{self.test_end} (the test window must follow training)"
            )
        return self


class TrialCount(pydantic.BaseModel):
    """The combinations tried for a config: in its own run, and in its family's trial ledger.

    The deflated Sharpe is deflated for ``in_ledger``: every distinct combination the family
    (strategy, universe, bar size) has been evaluated with, by sweeps, validations, notebook
    runs and Ray, since ``since`` -- this run's included.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    this_run: int = Field(ge=1)
    in_ledger: int = Field(ge=1)
    #: When the family's first trial was recorded (UTC).
    since: datetime
    family: str

    def describe(self) -> str:
        """``12 tried in this run, 148 in the ledger since 2024-01-05``."""
        return f"{self.this_run} tried in this run, {self.in_ledger} in the ledger since {self.since:%Y-%m-%d}"


class Provenance(pydantic.BaseModel):
    """Where a config came from: the exact bars, the code, the libraries, the notebook run."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    #: sha256 of the bars validated on (dates, symbols, OHLCV as given to the strategy).
    bars_sha256: str
    engine_version: str
    #: sha256 over ``sources``: the code that computes its signals and applies its rules.
    source_sha256: str
    #: Each of those modules' own hash (of its code, comments and docstrings left out).
    sources: dict[str, str] = Field(default_factory=dict)
    #: Versions of the libraries that shape the results (vectorbt, numba, pandas, ...).
    libraries: dict[str, str | None] = Field(default_factory=dict)
    #: The notebook run that proposed it, its notebook and the executed copy, if any.
    run_id: str | None = None
    notebook: str | None = None
    executed_notebook: str | None = None
    #: Files the config trades besides code, by sha256 (e.g. a pinned model).
    artifacts: dict[str, str] = Field(default_factory=dict)


class Interval(pydantic.BaseModel):
    """A figure's bootstrap distribution: its 5th percentile, median and 95th percentile."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    p05: Figure
    median: Figure
    p95: Figure


class Confidence(pydantic.BaseModel):
    """How sure the out-of-sample figures are: bootstrap intervals, and trade-order luck.

    ``sharpe`` and ``max_drawdown`` resample the out-of-sample bar returns in blocks
    (``method`` says how); ``profit_factor`` resamples the out-of-sample trades;
    ``reshuffled_drawdown`` is the max drawdown of the trades' P&L taken in random orders
    (Monte Carlo), what the same trades could have cost in another sequence.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    method: str
    resamples: int = Field(ge=1)
    seed: int
    sharpe: Interval
    max_drawdown: Interval
    profit_factor: Interval
    reshuffled_drawdown: Interval


class Evidence(pydantic.BaseModel):
    """Why a config can be trusted: out-of-sample results and the overfitting guards.

    ``in_sample``/``out_of_sample`` are the walk-forward's aggregate metrics (the stitched
    out-of-sample equity for the latter). ``deflated_sharpe`` is the probability that the
    true Sharpe is above zero given ``n_trials`` combinations were tried (Bailey & Lopez de
    Prado); ``pbo`` the probability that the in-sample best is below the median out of
    sample. None means the figure could not be computed, which a policy treats as a failure.
    ``n_trials`` counts this run's combinations; ``trials`` the family's ledger as well.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    in_sample: Metrics
    out_of_sample: Metrics
    folds: list[FoldEvidence] = Field(default_factory=list)
    deflated_sharpe: Figure
    pbo: Figure
    lookahead_passed: bool
    lookahead_detail: str = ""
    n_trials: int = Field(ge=1)
    data_start: date
    data_end: date
    run_id: str | None = None
    objective: str
    #: Whether every walk-forward fold trained from the first bar (else a rolling window).
    anchored: bool = False
    #: What could not be computed, and why (a figure left None says so here).
    warnings: list[str] = Field(default_factory=list)
    # Added later: evidence stored before them loads with None (not recorded).
    #: Whether signals from the declared warm-up on stayed put when the history began later.
    warmup_passed: bool | None = None
    warmup_detail: str = ""
    #: This run's and the family's trial counts; the deflated Sharpe uses the latter.
    trials: TrialCount | None = None
    provenance: Provenance | None = None
    confidence: Confidence | None = None
    #: The validation policy's thresholds the config was judged by.
    policy: dict[str, Any] | None = None
    #: What the annualised figures are annualised by ("annualised at 1d bars: 252 a
    #: year (the trading-day convention)"); empty in evidence recorded before it was stated.
    annualisation: str = ""
    #: True when the bars behind the evidence were generated (SYNTHETIC), not traded.
    synthetic_bars: bool = False

    @model_validator(mode="after")
    def _range_in_order(self) -> Evidence:
        if self.data_end < self.data_start:
            raise ValueError(f"data_end {self.data_end} is before data_start {self.data_start}")
        return self


class StrategyConfig(pydantic.BaseModel):
    """A strategy, its params, universe, bar size and execution rules, plus the evidence for it."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    strategy: str
    #: Every parameter of the strategy, defaults filled in, as the params model dumps them.
    params: dict[str, Any] = Field(default_factory=dict)
    #: Symbols traded, upper-case, in the order the backtest used them.
    universe: list[str]
    #: The bars it trades on: 1m, 5m, 15m, 30m, 1h or 1d.
    bar_size: BarSize = "1d"
    #: Execution and sizing rules, shared by the backtest and the live loop.
    settings: BacktestSettings = Field(default_factory=BacktestSettings)
    created_by: str = Field(min_length=1)
    notes: str = ""
    evidence: Evidence | None = None

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, name: str) -> str:
        from engine.strategies.registry import get

        return get(name).name

    @field_validator("params")
    @classmethod
    def _params_fit_strategy(cls, params: dict[str, Any], info) -> dict[str, Any]:
        name = info.data.get("strategy")
        if name is None:
            return params  # the strategy itself is wrong; that error is reported instead
        from engine.strategies.registry import get, make_params

        model = make_params(get(name), dict(params))
        return dict(sorted(model.model_dump(mode="json").items()))

    @field_validator("universe", mode="before")
    @classmethod
    def _clean_universe(cls, symbols: Any) -> Any:
        if isinstance(symbols, str):
            symbols = symbols.split(",")
        if not isinstance(symbols, list | tuple):
            return symbols
        cleaned = [s.strip().upper() if isinstance(s, str) else s for s in symbols]
        if not cleaned:
            raise ValueError("the universe is empty: name at least one symbol")
        bad = [s for s in cleaned if not isinstance(s, str) or not _SYMBOL.match(s)]
        if bad:
            raise ValueError(f"not ticker symbols: {', '.join(map(repr, bad))}")
        repeated = sorted({s for s in cleaned if cleaned.count(s) > 1})
        if repeated:
            raise ValueError(f"symbols listed twice: {', '.join(repeated)}; list each once")
        return cleaned

    @model_validator(mode="before")
    @classmethod
    def _settings_follow_bar_size(cls, data: Any) -> Any:
        # Settings that leave freq out take the config's bar size (written once, not twice).
        if not isinstance(data, dict) or data.get("bar_size") not in BAR_SIZE_FREQ:
            return data
        freq = BAR_SIZE_FREQ[data["bar_size"]]
        settings = data.get("settings")
        if settings is None:
            return {**data, "settings": {"freq": freq}}
        if isinstance(settings, dict) and "freq" not in settings:
            return {**data, "settings": {**settings, "freq": freq}}
        if isinstance(settings, BacktestSettings) and "freq" not in settings.model_fields_set:
            return {**data, "settings": settings.for_freq(freq)}
        return data

    @model_validator(mode="after")
    def _bar_size_matches_settings(self) -> StrategyConfig:
        # The settings annualise by their own freq; a mismatch would misstate every metric.
        expected = BAR_SIZE_FREQ[self.bar_size]
        if self.settings.freq != expected:
            raise ValueError(
                f"bar_size {self.bar_size!r} needs settings.freq {expected!r}, "
                f"not {self.settings.freq!r}"
            )
        if self.bar_size == "1d" and self.settings.flat_minutes_before_close:
            raise ValueError(
                "daily bars have no bar that ends before the close: on 1d bars "
                "flat_by_close sells at the close (flat_minutes_before_close 0)"
            )
        return self

    # -- identity ----------------------------------------------------------------------

    def trading_content(self) -> dict[str, Any]:
        """The fields that decide what trades, as plain JSON values (see ``ADDED_SETTINGS``)."""
        content = self.model_dump(mode="json", include=set(TRADING_FIELDS))
        settings = content["settings"]
        for name, default in ADDED_SETTINGS.items():
            if settings.get(name) == default:
                del settings[name]
        return content

    def canonical_json(self) -> str:
        """The trading content as canonical JSON: sorted keys, no whitespace."""
        return canonical_json(self.trading_content())

    @property
    def config_id(self) -> str:
        """The content address: sha256 of the canonical trading JSON, first 16 hex digits."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:ID_LENGTH]

    def with_evidence(self, evidence: Evidence | None) -> StrategyConfig:
        """The same trading config carrying ``evidence`` (the id does not change)."""
        return self.model_copy(update={"evidence": evidence})

    # -- YAML --------------------------------------------------------------------------

    def to_yaml(self) -> str:
        """A readable YAML document: the id first, then the fields in a stable order."""
        body = {"id": self.config_id, **self.model_dump(mode="json")}
        return yaml.safe_dump(body, sort_keys=False, default_flow_style=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "the config") -> StrategyConfig:
        """The config in YAML ``text``; a clear InputError naming any bad or unknown field.

        An ``id`` line, when present, must match the content: a mismatch means the trading
        fields were edited after export, and such a file must not pass for the config it
        names.
        """
        data = parse_yaml_mapping(text, source=source)
        claimed = data.pop("id", None)
        config = validate_model(cls, data, source=source)
        if claimed is not None and str(claimed) != config.config_id:
            raise InputError(
                f"{source} says id {claimed} but its trading fields hash to {config.config_id}: "
                "it was edited after export",
                hint="delete the `id:` line to load it as a new config, which must be validated again",
            )
        return config

    @classmethod
    def from_yaml_file(cls, path: str | Path) -> StrategyConfig:
        """The config in the YAML file at ``path`` (see :meth:`from_yaml`)."""
        return cls.from_yaml(read_text(path, what="config"), source=f"config file {path}")


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON: keys sorted, no whitespace, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
