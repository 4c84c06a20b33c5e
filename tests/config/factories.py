"""Builders of configs and evidence for the config and research tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from engine.config.models import Evidence, FoldEvidence, StrategyConfig


def make_evidence(**changes: Any) -> Evidence:
    """Evidence that clears the default policy comfortably; ``changes`` override fields.

    ``oos=``/``ins=`` update single figures of the out-of-sample/in-sample metrics.
    """
    oos = {"sharpe": 1.1, "max_drawdown": -0.12, "trades": 64, "total_return": 0.42}
    ins = {"sharpe": 1.4, "max_drawdown": -0.10, "trades": 150, "total_return": 0.9}
    oos.update(changes.pop("oos", {}))
    ins.update(changes.pop("ins", {}))
    fields: dict[str, Any] = {
        "in_sample": ins,
        "out_of_sample": oos,
        "folds": [
            FoldEvidence(
                train_start=date(2004, 1, 2),
                train_end=date(2007, 12, 31),
                test_start=date(2008, 1, 2),
                test_end=date(2009, 12, 31),
                params={"fast": 10, "slow": 50},
                in_sample={"sharpe": 1.3},
                out_of_sample={"sharpe": 0.9},
            )
        ],
        "deflated_sharpe": 0.98,
        "pbo": 0.1,
        "lookahead_passed": True,
        "lookahead_detail": "12 points checked",
        "warmup_passed": True,
        "n_trials": 40,
        "data_start": date(2004, 1, 2),
        "data_end": date(2013, 12, 31),
        "run_id": None,
        "objective": "sharpe",
    }
    fields.update(changes)
    return Evidence(**fields)


def make_config(**changes: Any) -> StrategyConfig:
    """An SMA-crossover config on two symbols with passing evidence; ``changes`` override fields."""
    fields: dict[str, Any] = {
        "strategy": "sma_crossover",
        "params": {"fast": 10, "slow": 50},
        "universe": ["AAPL", "GE"],
        "created_by": "ana",
        "evidence": make_evidence(),
    }
    fields.update(changes)
    return StrategyConfig(**fields)
