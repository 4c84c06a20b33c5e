"""`wb backtest` and `wb sweep` on a temp data dir filled with the bundled sample bars."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from engine.cli import cli
from engine.cli._common import run_cli
from engine.data.sample import sample_bars
from tests.sample_store import store_sample_bars


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A data dir whose store holds AAPL and GE for 2008-2011, inserted directly."""
    path = tmp_path_factory.mktemp("wb-data")
    return store_sample_bars(path, ["AAPL", "GE"], "2008-01-01", "2011-12-31")


def wb(data_dir: Path, command: str, *paths: str):
    """The result of ``wb --data-dir DATA_DIR COMMAND PATHS...``, as typed; fails on a non-zero exit."""
    args = ["--data-dir", str(data_dir), *command.split(), *paths]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_a_frictionless_all_in_backtest_is_checkable_by_hand(data_dir):
    out = wb(
        data_dir,
        "backtest --strategy sma_crossover --symbols AAPL --param fast=10 --param slow=30 "
        "--fees 0 --slippage 0 --size all --json",
    )
    summary = json.loads(out.output)
    trades = pd.DataFrame(summary["trade_list"])
    assert summary["trades"] == len(trades) > 5
    # All cash budgeted at each decision, no costs (engine/backtest/rules.py): an entry buys
    # the cash over the signal bar's close in shares, cut to what the cash pays at the
    # fill's open; equity then compounds trade by trade (an open last trade is marked at
    # the last close).
    close = sample_bars(["AAPL"], "2008-01-01", "2011-12-31").close["AAPL"]
    cash = 100_000.0
    for trade in trades.itertuples():
        signal_close = close.iloc[close.index.get_loc(pd.Timestamp(trade.entry_date)) - 1]
        shares = min(cash / signal_close, cash / trade.entry_price)
        assert trade.size == pytest.approx(shares, rel=1e-9)
        cash += shares * (trade.exit_price - trade.entry_price)
    assert summary["final_equity"] == pytest.approx(cash, rel=1e-9)
    assert summary["total_return"] == pytest.approx(cash / 100_000 - 1, rel=1e-9)
    assert summary["params"] == {"fast": 10, "slow": 30}
    assert summary["settings"]["execution"] == "next_open"


def test_backtest_prints_metrics_and_writes_a_report(data_dir, tmp_path):
    report = tmp_path / "out" / "report.html"
    out = wb(
        data_dir,
        "backtest --strategy sma_crossover --symbols AAPL,GE --stop atr --trailing-stop --report",
        str(report),
    )
    assert "total return" in out.output and "Sharpe" in out.output and "trades" in out.output
    html = report.read_text()
    assert "plotly" in html and "Drawdown" in html and "Trades on price" in html


def test_sweep_as_json_counts_the_skipped_combinations(data_dir, tmp_path):
    report = tmp_path / "heatmap.html"
    out = wb(
        data_dir,
        "sweep --strategy sma_crossover --symbols AAPL,GE --grid fast=10:40:10 --grid slow=20,40 "
        "--json --report",
        str(report),
    )
    summary = json.loads(out.output)
    # fast 10, 20, 30 x slow 20, 40: (20, 20) and (30, 20) fail fast < slow.
    assert summary["n_combinations"] == 4 and summary["skipped"] == 2
    table = pd.DataFrame(summary["table"])
    assert len(table) == 4 * 2 and set(table["symbol"]) == {"AAPL", "GE"}
    assert {"fast", "slow", "total_return", "sharpe", "trades"} <= set(table.columns)
    assert table["sharpe"].is_monotonic_decreasing  # best first
    assert "heatmap" in report.read_text().lower()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("backtest --strategy sma_crosover --symbols AAPL", "did you mean 'sma_crossover'"),
        (
            "backtest --strategy sma_crossover --symbols AAPL --param fast=30 --param slow=10",
            "fast (30) must be less than slow (10)",
        ),
        ("backtest --strategy sma_crossover --symbols ZZZZ", "no stored bars for ZZZZ"),
        ("backtest --strategy sma_crossover --symbols AAPL --param fast", "expected NAME=VALUE"),
        (
            "sweep --strategy sma_crossover --symbols AAPL --grid fast=50:60:5 --grid slow=10,20",
            "none of the grid's 4 combinations",
        ),
        ("backtest --strategy sma_crossover --symbols AAPL --size risk", "needs a stop"),
        (
            "backtest --strategy sma_crossover --symbols AAPL --setting fracton=0.1",
            "unknown field 'fracton': did you mean 'fraction'?",
        ),
        (
            "sweep --strategy sma_crossover --symbols AAPL --grid fast=5 --setting atr_window=0",
            "field 'atr_window': Input should be greater than or equal to 1",
        ),
        (
            "backtest --strategy sma_crossover --symbols AAPL "
            "--setting take_profit=fraction --setting take_profit_at=0.05",
            "so it needs a stop: set stop='strategy' or stop='atr'",
        ),
        (
            "backtest --strategy sma_crossover --symbols AAPL --stop atr "
            "--setting take_profit=fraction --setting take_profit_at=5",
            "a fraction is written 0.05 for 5%",
        ),
        (
            "backtest --strategy sma_crossover --symbols AAPL --stop atr "
            "--setting ladder=0.01:0.5,0.005:0.5",
            "each leg's `at` must be higher than the one before",
        ),
        (
            "backtest --strategy sma_crossover --symbols AAPL --stop atr --setting ladder=0.01",
            "write each leg AT:SIZE or AT:SIZE:STOP",
        ),
        (
            "backtest --strategy sma_crossover --symbols AAPL --execution close",
            "sma_crossover computes a bar's signal from that bar's close",
        ),
        (
            "sweep --strategy donchian_breakout --symbols AAPL --grid entry_window=20 "
            "--setting execution=close",
            "cannot also fill at that close",
        ),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(data_dir, capsys, command, message):
    code = run_cli(cli, ["--data-dir", str(data_dir), *command.split()])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err


def test_every_backtest_setting_reaches_backtest_and_sweep(data_dir):
    # Risk sizing with the engine's ATR stop: risk per trade, ATR multiple and window are
    # settings without a flag of their own.
    settings = ("--size risk --stop atr --setting risk_per_trade=0.005 --setting atr_multiple=3 "
                "--setting atr_window=20 --setting cash_sharing=false")  # fmt: skip
    on_both = "--strategy sma_crossover --symbols AAPL,GE --json"
    backtest = json.loads(wb(data_dir, f"backtest {on_both} {settings}").output)
    wanted = {
        "size": "risk", "stop": "atr", "risk_per_trade": 0.005, "atr_multiple": 3.0,
        "atr_window": 20, "cash_sharing": False,
    }  # fmt: skip
    assert {key: backtest["settings"][key] for key in wanted} == wanted
    default = json.loads(wb(data_dir, f"backtest {on_both} --size risk --stop atr").output)
    assert backtest["total_return"] != default["total_return"]

    swept = json.loads(wb(data_dir, f"sweep {on_both} --grid fast=10 --grid slow=30 {settings}").output)
    by_symbol = {row["symbol"]: row for row in swept["table"]}
    # Without cash sharing a symbol's slice is its own book: the sweep's row per symbol is
    # that symbol traded alone with the same settings.
    alone = json.loads(
        wb(data_dir, f"backtest --strategy sma_crossover --symbols GE --json {settings}").output
    )
    assert by_symbol["GE"]["total_return"] == pytest.approx(alone["total_return"])


def test_a_flag_wins_over_the_same_setting(data_dir):
    out = json.loads(
        wb(data_dir, "backtest --strategy sma_crossover --symbols AAPL --json "
           "--setting fraction=0.1 --setting fees=0.01 --fees 0").output
    )  # fmt: skip
    assert out["settings"]["fraction"] == 0.1 and out["settings"]["fees"] == 0.0


#: A backtest with the engine's ATR stop: what a profit target or a ladder is added to.
ATR_STOPPED = (
    "backtest --strategy sma_crossover --symbols AAPL,GE --json --stop atr "
    "--param fast=5 --param slow=20"
)


def test_a_profit_target_reaches_the_backtest_and_its_trades_say_so(data_dir):
    plain = json.loads(wb(data_dir, ATR_STOPPED).output)
    targeted = json.loads(
        wb(data_dir, f"{ATR_STOPPED} --setting take_profit=reward_risk --setting take_profit_at=1").output
    )
    assert targeted["settings"]["take_profit"] == "reward_risk"
    assert targeted["total_return"] != plain["total_return"]


def test_a_ladder_reaches_the_backtest_and_its_trades_name_their_legs(data_dir):
    plain = json.loads(wb(data_dir, ATR_STOPPED).output)
    laddered = json.loads(wb(data_dir, f"{ATR_STOPPED} --setting ladder=0.01:0.5,0.03:0.25:0.02").output)
    assert [leg["at"] for leg in laddered["settings"]["ladder"]] == [0.01, 0.03]
    assert laddered["trades"] > plain["trades"]  # each leg is a trade
