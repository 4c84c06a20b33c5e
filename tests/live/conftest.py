"""Fixtures for the live loop's tests: stores with sample bars and approved configs."""

from __future__ import annotations

import shutil

import pytest

from engine.backtest.settings import BacktestSettings
from engine.config.models import StrategyConfig
from engine.live.commands import SetRiskLimits, submit_command
from engine.live.setup import open_loop
from engine.research.config_registry import act, save_proposal
from engine.research.validation import Verdict
from engine.risk import RiskLimits
from engine.store import Store
from engine.store.db import DB_FILE
from tests.conftest import synthetic_store_file
from tests.standins.alpaca import alpaca_standin  # noqa: F401

#: Risk limits a replay of the sample bars can trade under: the sample's prices and volumes
#: are those of 2000-2013. (Orders go out after the close for the next open: the session
#: rule judges them against that session, with no switch.)
REPLAY_LIMITS = RiskLimits(
    min_avg_dollar_volume=0,
    max_order_notional=1_000_000,
    max_position_pct=1.0,
    max_orders_per_minute=1000,
    day_trade_policy="off",
    weekly_soft_loss=0.5,
    weekly_hard_loss=0.9,
    daily_loss_limit=0.5,
)


def approve(
    store, strategy: str, params: dict, universe: list[str], *, bar_size: str = "1d", **settings
) -> StrategyConfig:
    """``strategy`` as an approved config in ``store``'s registry (on ``bar_size`` bars)."""
    config = StrategyConfig(
        strategy=strategy,
        params=params,
        universe=universe,
        bar_size=bar_size,
        settings=BacktestSettings(**settings),
        created_by="ana",
    )
    save_proposal(store, config, Verdict(status="validated"), actor="ana")
    act(store, config.config_id, "approve", "bob", "for the loop's tests")
    return config


def approve_donchian(
    store, entry_window=5, exit_window=3, atr_window=5, **settings
) -> StrategyConfig:
    """A Donchian breakout on AAPL, BA, CAT and GE, approved: risk-sized, at most 3 positions,
    ATR stops that trail (short windows trade often)."""
    return approve(
        store,
        "donchian_breakout",
        {"entry_window": entry_window, "exit_window": exit_window, "atr_window": atr_window},
        ["AAPL", "BA", "CAT", "GE"],
        **{"stop": "strategy", "size": "risk", "max_positions": 3, "trailing_stop": True,
           **settings},
    )  # fmt: skip


def allow_replay(store) -> None:
    """Queue the replay's risk limits (the loop applies them as it starts)."""
    submit_command(store, SetRiskLimits(limits=REPLAY_LIMITS.to_mapping()), actor="bob")


@pytest.fixture
def replay_store(sample_store):
    """The sample bars, a Donchian config approved (frequent trades, ATR stops), limits set."""
    config = approve_donchian(sample_store, 10, 5, 10, risk_per_trade=0.01)
    allow_replay(sample_store)
    sample_store.config = config
    return sample_store


def open_replay(store, start="2012-01-03", end="2012-06-29", **options):
    """``store``'s approved config replayed (first half of 2012 by default), not yet started."""
    return open_loop(
        store, mode="replay", config_ids=[store.config.config_id], start=start, end=end, **options
    )


#: The SYNTHETIC 15-minute bars of the intraday sample's symbols, from five weeks before
#: Thanksgiving 2013 to the early close after it (the ML classifier's model learns from
#: the first weeks).
INTRADAY_15M = {"symbols": ["AAPL", "F", "GE"], "start": "2013-10-21", "end": "2013-11-29",
                "bar_size": "15m"}  # fmt: skip


@pytest.fixture(scope="session")
def _intraday_15m_file(tmp_path_factory):
    return synthetic_store_file(tmp_path_factory, INTRADAY_15M, "intraday-15m")


@pytest.fixture
def intraday_15m_store(data_dir, _intraday_15m_file) -> Store:
    """A store holding the bars of INTRADAY_15M (a copy of the test's own)."""
    shutil.copy(_intraday_15m_file, data_dir / DB_FILE)
    return Store.open(data_dir)
