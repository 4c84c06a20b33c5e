"""Building a loop from what a person asks for: mode, configs, broker, dates.

``wb live``, the ``live_step`` job and the tests all come through :func:`open_loop`, so
the safety checks live in one place: only approved configs trade; real money needs the
Alpaca broker, ``live`` mode, an explicit acknowledgement and approved configs; a replay
runs on the paper broker over stored bars, in an account of its own.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from engine.brokers import broker_class, open_broker
from engine.config.models import StrategyConfig
from engine.data.bar_sizes import DAILY
from engine.data.repository import load_bars_both
from engine.errors import InputError
from engine.live.alerts import Notifiers, notifier_from
from engine.live.clock import BarClose, MarketClock, ReplayClock
from engine.live.decisions import warmup_bars
from engine.live.feed import FrameFeed, StoreFeed, sessions_back
from engine.live.ids import session_of
from engine.live.loop import MODES, LiveLoop, LoopOptions

#: The flag a person must pass to trade real money.
REAL_MONEY_FLAG = "--i-understand-this-is-real-money"
#: Bars of history a paper or live step sees (a year, plus room for the longest warmup).
DEFAULT_LOOKBACK = 300
#: Where a paper or live loop's bars come from (``--feed``; WB_LIVE_FEED).
FEEDS = {
    "store": "the store, filled by the data refresh job after the close (Yahoo's daily bars)",
    "alpaca": "Alpaca's REST bars endpoint, asked right after each bar's close",
    "alpaca-stream": "Alpaca's minute-bar stream built into the bar size (REST for history)",
}
FEED_ENV = "WB_LIVE_FEED"


@dataclass
class Opened:
    """A loop ready to run, and what to run it over."""

    loop: LiveLoop
    days: list[date] | list[BarClose]  # a replay's bars (empty for paper and live)
    clock: Any


def load_configs(store, config_ids: list[str]) -> list[StrategyConfig]:
    """The approved configs named (ids or unique prefixes); an InputError for any other."""
    from engine.research.config_registry import get_config

    if not config_ids:
        raise InputError("name the configs to trade", hint="--config ID[,ID...] (wb configs list)")
    configs = []
    for config_id in config_ids:
        record = get_config(store, config_id)
        if record.status != "approved":
            raise InputError(
                f"config {record.config_id} is {record.status}, not approved: the loop trades "
                "approved configs only",
                hint=f"approve it first (wb configs approve {record.config_id} --reason ...)",
            )
        configs.append(record.config)
    return configs


def require_daily_bars(config: StrategyConfig, what: str) -> None:
    """Nothing for a config on daily bars; an InputError for an intraday one (``what``,
    wb drift, runs on daily bars only for now; a replay steps every bar close)."""
    if config.bar_size != DAILY:
        raise InputError(
            f"config {config.config_id} trades {config.bar_size} bars; {what} runs on "
            "daily bars only for now (a replay steps every bar close)",
            hint=f"replay it (wb live --mode replay --config {config.config_id} --start ...), "
            "or trade a 1d config",
        )


def choose_feed(name: str | None, bar_size: str) -> str:
    """The feed a paper or live loop on ``bar_size`` bars reads: ``name`` (or WB_LIVE_FEED;
    by default the store for daily bars, Alpaca's REST API for intraday ones); an
    InputError for one it cannot use."""
    chosen = (name or os.environ.get(FEED_ENV) or "").strip().lower()
    chosen = chosen or ("store" if bar_size == DAILY else "alpaca")
    if chosen not in FEEDS:
        raise InputError(
            f"unknown data feed {chosen!r}",
            hint=f"use one of: {', '.join(FEEDS)} (--feed, or {FEED_ENV})",
        )
    if chosen == "store" and bar_size != DAILY:
        raise InputError(
            f"the store feed reads the bars the data refresh job stores after the close; "
            f"nothing stores {bar_size} bars during the session",
            hint="trade intraday bars on --feed alpaca (or alpaca-stream)",
        )
    return chosen


def require_flat_on_time(configs: list[StrategyConfig], mode: str) -> None:
    """Nothing when every flat-by-close config can sell out before the close in ``mode``
    (paper or live); else an InputError.

    The loop sends its orders a few seconds after a bar's close, so the closing orders of
    a book flat at the session's last close would fill at the next open: overnight.
    """
    late = [c for c in configs
            if c.settings.flat_by_close and (c.bar_size == DAILY
                                             or not c.settings.flat_minutes_before_close)]  # fmt: skip
    if late:
        size = late[0].bar_size
        raise InputError(
            f"config {', '.join(c.config_id for c in late)} is flat by the close at the close "
            f"itself; {mode} trading sends orders after a bar's close, so the closing sales "
            "would fill at the next open",
            hint="validate it with flat_minutes_before_close of at least one bar (e.g. 15 on "
            "15m bars)" if size != DAILY else "trade such a config on intraday bars, with "
            "flat_minutes_before_close of at least one bar",
        )


def market_feed(store, name: str, symbols: list[str], bar_size: str, lookback: int, clock,
                data_source=None, stream_options: dict | None = None):  # fmt: skip
    """The feed named ``name`` (:data:`FEEDS`) for a paper or live loop; its waits for a late
    bar run on ``clock``. ``data_source`` replaces Alpaca's data client, ``stream_options``
    go to the stream (tests point both at loopback stand-ins)."""
    if name == "store":
        return StoreFeed(store, symbols, lookback=lookback, bar_size=bar_size)
    from engine.data.sources.alpaca import AlpacaSource
    from engine.live.alpaca_feed import AlpacaFeed

    source = data_source or AlpacaSource()
    rest = AlpacaFeed(source, symbols, bar_size=bar_size, lookback=lookback, sleep=clock.sleep,
                      now=clock.now)  # fmt: skip
    if name == "alpaca":
        return rest
    from engine.live.bar_stream import StreamFeed

    return StreamFeed(rest, **(stream_options or {}))


def require_brackets(configs: list[StrategyConfig], broker: str, capabilities) -> None:
    """Nothing when ``broker`` can rest every config's stop and target as one bracket; else
    an InputError: a target the broker cannot bracket would trade without it, or beside a
    stop that a fill of the target leaves working."""
    targeted = [c.config_id for c in configs if c.settings.take_profit != "none"]
    if targeted and not capabilities.brackets:
        raise InputError(
            f"config {', '.join(targeted)} sets a profit target, and the workbench does not "
            f"send {broker} its stop and target as one bracket yet",
            hint="trade it on --broker paper, or trade a config without take_profit",
        )


def require_leg_stops(configs: list[StrategyConfig], broker: str, capabilities) -> None:
    """Nothing when ``broker`` names each ladder leg's attached stop after its leg's buy (the
    paper broker, ``<buy id>-stop``); else an InputError: a broker that names an attached
    stop itself (Alpaca) leaves the loop unable to tell the legs' stops apart."""
    laddered = [c.config_id for c in configs if c.settings.ladder]
    if laddered and not capabilities.simulated:
        raise InputError(
            f"config {', '.join(laddered)} builds positions in legs (a ladder), each with its "
            f"own stop, and the workbench cannot tell {broker}'s attached stops apart by leg yet",
            hint="trade it on --broker paper, or trade a config without a ladder",
        )


def replay_account(configs: list[StrategyConfig], start, end) -> str:
    """The paper account a replay of these configs over these dates uses (the same on a restart)."""
    key = ",".join(sorted(c.config_id for c in configs)) + f"|{start}|{end}"
    return f"replay-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def open_loop(
    store,
    *,
    mode: str,
    config_ids: list[str],
    broker: str = "paper",
    start=None,
    end=None,
    account: str | None = None,
    real_money: bool = False,
    adopt_broker_state: bool = False,
    webhook: str | None = None,
    lookback: int | None = None,
    notifier: Notifiers | None = None,
    alpaca_options: dict | None = None,
    market=None,
    actor: str = "loop",
    clock=None,
    feed: str | None = None,
    data_source=None,
    stream_options: dict | None = None,
) -> Opened:
    """A :class:`LiveLoop` for ``mode`` (replay, paper or live), checked for safety.

    ``feed`` names where paper and live bars come from (:data:`FEEDS`). ``clock`` replaces
    the NYSE wall clock of paper and live trading, ``data_source`` and ``stream_options``
    Alpaca's market data (tests).
    """
    if mode not in MODES:
        raise InputError(f"mode {mode!r} is not one of: {', '.join(MODES)}")
    capabilities = broker_class(broker).capabilities
    configs = load_configs(store, config_ids)
    bar_size = configs[0].bar_size  # one per loop (LiveLoop says so otherwise)
    if mode == "replay":
        if feed is not None:
            raise InputError("a replay reads the stored bars", hint="leave out --feed")
    else:
        feed = choose_feed(feed, bar_size)
        require_flat_on_time(configs, mode)
    require_brackets(configs, broker, capabilities)
    require_leg_stops(configs, broker, capabilities)
    if mode == "live":
        if not capabilities.live_trading:
            raise InputError("live trading goes through Alpaca", hint="pass --broker alpaca")
        if not real_money:
            raise InputError(
                "live mode trades REAL MONEY and needs an explicit acknowledgement",
                hint=f"add {REAL_MONEY_FLAG} if that is what you mean; otherwise use --mode paper",
            )
    elif real_money:
        raise InputError(f"{REAL_MONEY_FLAG} only goes with --mode live")
    if mode == "replay" and not capabilities.simulated and market is None:
        raise InputError(
            "a replay runs on the paper broker over stored bars",
            hint=f"use --broker paper ({broker} cannot replay history)",
        )
    notifier = notifier or notifier_from(webhook)
    symbols = list(dict.fromkeys(s for c in configs for s in c.universe))
    if mode == "replay":
        clock = ReplayClock()
        feed, days = _replay_feed(store, configs, symbols, start, end, lookback)
        account = account or replay_account(configs, session_of(days[0]), session_of(days[-1]))
    else:
        clock = clock or MarketClock(bar_size=bar_size)
        if clock.bar_size != bar_size:
            raise ValueError(f"a {clock.bar_size} clock cannot time a loop on {bar_size} bars")
        lookback = lookback or DEFAULT_LOOKBACK
        feed = market_feed(store, feed, symbols, bar_size, lookback, clock, data_source,
                           stream_options)  # fmt: skip
        days = []
    the_broker = open_broker(
        broker,
        store=store,
        live=mode == "live",
        account=account,
        actor=actor,
        now=clock.now,
        opening_cash=float(sum(c.settings.init_cash for c in configs)),
        **_costs(configs),
        **(alpaca_options or {}),
    )
    options = LoopOptions(mode=mode, adopt_broker_state=adopt_broker_state, actor=actor)
    loop = LiveLoop(
        store, the_broker, configs, feed, clock, options=options, notifier=notifier, market=market
    )
    return Opened(loop, days, clock)


def _costs(configs: list[StrategyConfig]) -> dict[str, float]:
    """A simulated account's costs: the configs' own (the dearest, when they differ)."""
    return {
        "fees": max(c.settings.fees for c in configs),
        "slippage": max(c.settings.slippage for c in configs),
    }


def _replay_feed(store, configs, symbols, start, end, lookback: int | None = None):
    if start is None:
        raise InputError("a replay needs a first date", hint="pass --start YYYY-MM-DD")
    start = pd.Timestamp(start)
    history = max(warmup_bars(c) for c in configs)
    bar_size = configs[0].bar_size  # one per loop (LiveLoop says so otherwise)
    # Enough bars before the first replayed session for the strategies to signal on it.
    if bar_size == DAILY:
        first = start - pd.Timedelta(days=int(history * 1.6) + 10)
    else:
        first = pd.Timestamp(sessions_back(start.date(), history, bar_size))
    # The strategies decide on adjusted history; the paper broker fills, marks and stops
    # at the prices as traded (parity, which matches the backtest, trades the adjusted).
    bars, traded = load_bars_both(store, symbols, first, end, bar_size=bar_size)
    # Each step sees the window a paper step would (not every bar since the first: a step's
    # signals then cost the same in the replay's last week as in its first).
    window = max(lookback or DEFAULT_LOOKBACK, history)
    feed = FrameFeed(bars, traded=traded, lookback=window)
    if bar_size == DAILY:
        days = feed.sessions(start, end)
    else:  # every bar close of the calendar: a bar missing from the store is a stale step
        days = feed.bar_closes(start, end or bars.session_dates[-1]) if len(bars) else []
    if not days:
        raise InputError(
            f"no stored bars between {start.date()} and {end or 'the end'}",
            hint="ingest bars for these dates (wb ingest) or choose dates that have them",
        )
    return feed, days
