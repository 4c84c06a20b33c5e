"""The `wb` command line: help everywhere, one-line errors, JSON for scripts."""

import json
import os
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from engine.cli import cli


def all_commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize("path", list(all_commands(cli)), ids=" ".join)
def test_every_command_has_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


def wb(*args, data_dir):
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, timeout=300,
    )


def test_an_error_is_one_clear_line_and_a_nonzero_exit(tmp_path):
    result = wb("bars", "ZZZZ", data_dir=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: no stored bars for ZZZZ")
    assert "what to do: ingest them first" in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = wb("--debug", "bars", "ZZZZ", data_dir=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_ingest_then_bars_as_json(tmp_path):
    first = wb("ingest", "--symbols", "AAPL,MSFT", "--json", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["symbols"] == ["AAPL", "MSFT"] and summary["rows_added"] > 6000
    again = json.loads(wb("ingest", "--symbols", "AAPL,MSFT", "--json", data_dir=tmp_path).stdout)
    assert again["rows_added"] == 0 and again["rows_already_stored"] == summary["rows_added"]

    shown = wb("bars", "aapl", "--start", "2013-12-30", "--json", data_dir=tmp_path)
    bars = json.loads(shown.stdout)
    assert [b["date"][:10] for b in bars["bars"]] == ["2013-12-30", "2013-12-31"]
    assert bars["bars"][-1]["close"] == pytest.approx(561.02)  # as traded, unadjusted

    check = json.loads(wb("data", "check", "--json", data_dir=tmp_path).stdout)
    by_symbol = {s["symbol"]: s for s in check["symbols"]}
    # MSFT's 2003 2:1 split has no split record, but adj_close accounts for it
    assert by_symbol["MSFT"]["checks"] == {"price_jump": 1}
    # AAPL's recorded splits (2000, 2005) are no finding; its real -52% day in 2000 is a jump
    jumps = [f for f in check["findings"] if f["symbol"] == "AAPL"]
    assert [(f["date"][:10], f["check"]) for f in jumps] == [("2000-09-29", "price_jump")]
    assert "a real jump" in jumps[0]["reason"] and "split" not in jumps[0]["reason"].split(":")[-1]


def test_a_bad_date_argument_is_reported_by_click(tmp_path):
    result = wb("bars", "AAPL", "--start", "last tuesday", data_dir=tmp_path)
    assert result.returncode == 2 and "Invalid value for '--start'" in result.stderr



def test_wb_help_loads_neither_numba_nor_vectorbt():
    # `wb --help` and command help answer quickly: the command modules load numba,
    # vectorbt, the store and the like inside the commands, where they are used.
    code = (
        "import sys; from engine.cli._common import run_cli; from engine.cli import cli\n"
        "run_cli(cli, ['--help'])\n"
        "heavy = ('numba', 'vectorbt', 'duckdb', 'plotly', 'nbformat', 'scipy', 'pandas',\n"
        "         'yfinance', 'alpaca')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip().splitlines()[-1] == "[]"
    assert "backtest" in done.stdout and "strategies" in done.stdout


def test_wb_strategies_lists_every_strategy_and_its_origin_without_pandas(tmp_path):
    # `wb strategies` reads each strategy's declaration: the built-ins' signal code (and
    # pandas, numpy with it) is imported only when signals are computed.
    (tmp_path / "mine.py").write_text(
        "from engine.strategies import StrategyParams, register\n"
        "class Plain(StrategyParams):\n    level: float = 1.0\n"
        "@register('my_level', Plain, 'Long above a level.')\n"
        "def my_level(bars, params):\n    raise AssertionError('listing computes nothing')\n"
    )
    code = (
        "import sys; from engine.cli._common import run_cli; from engine.cli import cli\n"
        "code = run_cli(cli, ['strategies'])\n"
        "heavy = ('pandas', 'numpy', 'numba', 'vectorbt', 'duckdb', 'sklearn')\n"
        "print(code, sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    env = {**os.environ, "WB_STRATEGY_PATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert done.stderr.strip().splitlines()[-1] == "0 []"
    listed = dict(re.findall(r"^(\w+): .*\n    from (.+)$", done.stdout, re.MULTILINE))
    assert listed["sma_crossover"] == listed["ml_classifier"] == "built-in"
    assert listed["my_level"] == str(tmp_path / "mine.py")
    assert "fast             int    default 10" in done.stdout
