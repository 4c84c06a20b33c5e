"""The trial ledger: every combination a family tried is counted once, and a validation is
judged by the family's count, not its own run's."""

from __future__ import annotations

import json

import pytest

from engine.backtest.settings import BacktestSettings
from engine.backtest.sweep import sweep
from engine.cli import cli
from engine.cli._common import run_cli
from engine.data.repository import load_bars
from engine.errors import StoreBusyError
from engine.research import trials
from engine.research.propose import propose
from engine.research.trials import Family, family_count, record_sweep, record_trials
from engine.research.validation import ValidationPolicy
from engine.store import Store

SYMBOLS = ["AAPL", "GE"]
GRID = {"fast": [10, 20], "slow": [50, 100, 150]}


def _propose(store, bars):
    return propose(
        store,
        bars,
        "sma_crossover",
        GRID,
        BacktestSettings(),
        ValidationPolicy(),
        folds=3,
        objective="sharpe",
        actor="ana",
    )


@pytest.mark.slow
def test_a_config_validated_after_ten_sweeps_is_deflated_by_all_it_tried(sample_store, tmp_path):
    bars = load_bars(sample_store, SYMBOLS, "2003-01-01", "2013-12-31")
    for k in range(10):  # ten sweeps, each over windows no other tried
        swept = sweep(bars, "sma_crossover", {"fast": [2 + k, 30 + k], "slow": [200 + k]},
                      per="portfolio", progress=False)  # fmt: skip
        record_sweep(sample_store, swept, bars, BacktestSettings(), actor="ana")

    config, _ = _propose(sample_store, bars)
    alone, _ = _propose(_copy_bars(sample_store, tmp_path / "alone"), bars)

    evidence = config.evidence
    assert evidence.n_trials == 6
    assert (evidence.trials.this_run, evidence.trials.in_ledger) == (6, 26)
    assert "6 tried in this run, 26 in the ledger since" in evidence.trials.describe()
    # The same walk-forward, judged by its own 6 trials only, looks better than it is.
    assert alone.evidence.trials.in_ledger == 6
    assert evidence.deflated_sharpe < alone.evidence.deflated_sharpe


def _copy_bars(store, path) -> Store:
    """A fresh store holding the same bars and nothing else."""
    other = Store.open(path)
    rows = store.query("SELECT * FROM bars")

    def copy(con):
        con.register("stored", rows)
        con.execute("INSERT INTO bars SELECT * FROM stored")

    other.transaction(copy)
    return other


def test_a_combination_counts_once_however_often_it_is_run(store):
    family = Family.of("sma_crossover", ["GE", "aapl"])
    settings = BacktestSettings().model_dump(mode="json")
    grid = [{"fast": f, "slow": s} for f in (5, 10) for s in (50, 100)]

    first = record_trials(store, family, grid, settings, kind="sweep", actor="ana")
    again = record_trials(store, family, grid, settings, kind="walk_forward", actor="ana")
    wider = record_trials(store, family, [*grid, {"fast": 20, "slow": 50}], settings,
                          kind="validation", actor="ana")  # fmt: skip
    other_stop = record_trials(store, family, grid, {**settings, "stop": "atr"},
                               kind="sweep", actor="ana")  # fmt: skip

    assert [first.in_ledger, again.in_ledger, wider.in_ledger, other_stop.in_ledger] == [4, 4, 5, 9]
    assert wider.this_run == 5
    # The universe is a set: the same symbols in another order are the same family.
    assert Family.of("sma_crossover", ["AAPL", "GE"]).family_id == family.family_id
    assert family_count(store, Family.of("sma_crossover", ["AAPL"])) is None


def test_a_busy_store_never_fails_a_sweep(store, monkeypatch):
    bars = _tiny_bars()
    swept = sweep(bars, "sma_crossover", {"fast": [5], "slow": [20]}, progress=False)

    def busy(*args, **kwargs):
        raise StoreBusyError("the store stayed locked for 60s")

    monkeypatch.setattr(trials, "record_trials", busy)
    with pytest.warns(UserWarning, match="not recorded in the trial ledger"):
        assert record_sweep(store, swept, bars, BacktestSettings(), actor="ana") is None


def test_a_store_locked_by_another_process_only_delays_the_record(store):
    import subprocess
    import sys

    bars = _tiny_bars()
    swept = sweep(bars, "sma_crossover", {"fast": [5, 10], "slow": [20]}, progress=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]);"
         " print('locked', flush=True); time.sleep(1.5); c.close()", str(store.path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "locked"

    count = record_sweep(store, swept, bars, BacktestSettings(), actor="ana")

    holder.wait(timeout=30)
    assert count is not None and count.this_run == 2
    assert store.retries > 0  # it did wait for the other process


def _tiny_bars():
    from engine.data.sample import sample_bars

    return sample_bars(["AAPL"], start="2010-01-01", end="2010-12-31")


def test_wb_trials_lists_a_familys_runs(sample_store, data_dir, capsys):
    def wb(*args: str) -> str:
        assert run_cli(cli, ["--data-dir", str(data_dir), *args]) == 0
        return capsys.readouterr().out

    for fast in ("5,10", "10,20"):
        wb("sweep", "--strategy", "sma_crossover", "--symbols", "AAPL,GE", "--start",
           "2010-01-01", "--grid", f"fast={fast}", "--grid", "slow=50", "--json")  # fmt: skip

    wb("backtest", "--strategy", "sma_crossover", "--symbols", "GE,AAPL", "--start",
       "2010-01-01", "--param", "fast=30", "--param", "slow=50", "--json")  # fmt: skip

    text = wb("trials", "--strategy", "sma_crossover")
    listed = json.loads(wb("trials", "--strategy", "sma_crossover", "--json"))

    # A backtest by hand is a trial too; its universe in another order is the same family.
    assert "sma_crossover on AAPL,GE (1d): 4 combinations in the ledger since" in text
    assert [
        (r["kind"], r["combinations"], r["new_combinations"], r["in_ledger"]) for r in listed
    ] == [("sweep", 2, 2, 2), ("sweep", 2, 1, 3), ("backtest", 1, 1, 4)]
