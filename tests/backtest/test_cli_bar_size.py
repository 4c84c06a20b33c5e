"""`wb backtest`, `wb sweep` and `wb validate --bar-size`: intraday bars from the shell."""

from __future__ import annotations

import json
import re

import pytest

from engine.cli import cli
from engine.cli._common import run_cli
from engine.research.config_registry import get_config

SYMBOLS = ["--symbols", "AAPL,F,GE"]


@pytest.fixture
def wb(intraday_store, capsys):
    """Run `wb --data-dir <a copy of the intraday sample store> ARGS...`: (code, out, err)."""
    capsys.readouterr()

    def run(*args: str) -> tuple[int, str, str]:
        code = run_cli(cli, ["--data-dir", str(intraday_store.data_dir), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_a_backtest_on_five_minute_bars_says_what_its_figures_are(wb):
    code, out, _ = wb("backtest", "--strategy", "rsi_reversion", *SYMBOLS, "--bar-size", "5m",
                      "--json")  # fmt: skip
    assert code == 0
    summary = json.loads(out)
    assert (summary["bar_size"], summary["freq"], summary["synthetic_bars"]) == ("5m", "5min", True)
    assert summary["start"] == "2013-10-01 09:30" and summary["end"] == "2013-11-29 12:55"
    assert summary["annualisation"]["bars_per_year"] == pytest.approx(19_548)
    assert summary["trades"] > 0

    code, out, _ = wb("backtest", "--strategy", "rsi_reversion", *SYMBOLS, "--bar-size", "5m")
    assert code == 0
    assert "5m bars (SYNTHETIC" in out
    assert "annualised at 5m bars: 78 per session, 42 on an early close" in out


def test_a_sweep_on_intraday_bars(wb):
    code, out, _ = wb("sweep", "--strategy", "rsi_reversion", *SYMBOLS, "--bar-size", "5m",
                      "--grid", "window=7,14", "--per", "portfolio", "--json")  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert (result["bar_size"], result["synthetic_bars"]) == ("5m", True)
    assert len(result["table"]) == 2
    assert "78 per session" in result["annualisation"]["statement"]


def test_validate_on_intraday_bars_registers_an_intraday_config(wb, intraday_store):
    code, out, err = wb("validate", "--strategy", "rsi_reversion", *SYMBOLS, "--bar-size", "5m",
                        "--grid", "window=7,14", "--folds", "3", "--user", "ana")  # fmt: skip
    assert code == 0, err
    config_id = re.search(r"config (\w{16})", out).group(1)
    config = get_config(intraday_store, config_id).config
    assert (config.bar_size, config.settings.freq) == ("5m", "5min")
    assert ", 5m bars: " in out and "bars: SYNTHETIC" in out
    assert config.evidence.annualisation in out
    # A loss reads as a loss (it used to be printed without its sign).
    total = config.evidence.out_of_sample["total_return"]
    assert f"total return {total:+.1%}" in out


def test_an_unknown_bar_size_is_refused_with_the_sizes_there_are(wb):
    code, _, err = wb("backtest", "--strategy", "rsi_reversion", *SYMBOLS, "--bar-size", "5min")
    assert code == 2
    assert "'5min' is not one of '1m', '5m', '15m', '30m', '1h', '1d'" in err


def test_bars_of_a_size_the_store_lacks_are_a_clear_error(wb):
    code, _, err = wb("backtest", "--strategy", "rsi_reversion", *SYMBOLS, "--bar-size", "15m")
    assert code != 0
    assert "15m" in err and "wb ingest" in err
