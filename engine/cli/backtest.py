"""`wb backtest` and `wb sweep`: a strategy on stored bars, once or over a parameter grid.

Engine imports happen inside the commands so that `wb --help` stays quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args, get_origin

import click

from engine.backtest.settings import BacktestSettings
from engine.cli._common import Context, emit_json, json_option, pass_context, split_symbols
from engine.cli.data import SYNTHETIC_NOTE, bar_size_option
from engine.errors import InputError

date_type = click.DateTime(formats=["%Y-%m-%d"])


def _day(value):
    return None if value is None else value.date()


def settings_options(command):
    """The execution, cost and sizing options `wb backtest` and `wb sweep` share."""
    options = [
        click.option("--start", type=date_type, help="First date, YYYY-MM-DD."),
        click.option("--end", type=date_type, help="Last date, YYYY-MM-DD (inclusive)."),
        setting_option("fees", "Commission per fill, a fraction of its value"),
        setting_option("slippage", "Adverse price move per fill, a fraction"),
        setting_option("size", "Sizing: a fraction of equity, risk to the stop, or all cash"),
        setting_option("execution", "Fill a signal at the next bar's open, or at its own close"),
        setting_option("stop", "Protective stop: none, the strategy's own, or an ATR stop"),
        click.option(
            "--trailing-stop",
            is_flag=True,
            default=None,
            help="Trail the stop behind the highest high.",
        ),
        setting_option("max_positions", "Most positions open at once"),
        setting_option("init_cash", "Starting cash"),
        click.option(
            "--setting",
            "setting_args",
            multiple=True,
            help="Any backtest setting, KEY=VALUE (e.g. fraction=0.1, risk_per_trade=0.005, "
            "atr_multiple=3, atr_window=20, cash_sharing=false). Repeat per setting; the "
            "flags above win over it.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def setting_option(name: str, help: str):
    """A ``--name`` option for the backtest setting ``name``, its type, choices and default
    read from BacktestSettings (unset: the setting's default, or ``--setting``'s value)."""
    field = BacktestSettings.model_fields[name]
    choices = get_args(field.annotation) if get_origin(field.annotation) is Literal else None
    default = f"{field.default:g}" if isinstance(field.default, float) else field.default
    return click.option(
        "--" + name.replace("_", "-"),
        type=click.Choice(choices) if choices else field.annotation,
        help=f"{help} [default {default}].",
    )


def executor_options(command):
    """`--executor` and `--ray-address`: where a sweep or walk-forward runs (`wb sweep`, `wb validate`)."""
    command = click.option(
        "--ray-address",
        metavar="ADDR",
        help="A running Ray cluster, e.g. 10.0.0.5:6379 or ray://head:10001 (with --executor "
        "ray) [env RAY_ADDRESS; default: start Ray on this machine].",
    )(command)
    return click.option(
        "--executor",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help="Where the backtests run: this process, or a Ray cluster (pip install "
        "'trading-workbench[ray]').",
    )(command)


def resolve_cli_executor(executor: str, ray_address: str | None, *, as_json: bool = False):
    """The executor the --executor and --ray-address options name."""
    from engine.executors import RayExecutor, resolve_executor

    if executor == "ray" and as_json:  # workers' own output must not land in the JSON
        return RayExecutor(ray_address, log_to_driver=False)
    return resolve_executor(executor, ray_address=ray_address)


def backtest_settings(strategy: str, setting_args: tuple[str, ...], **flags):
    """BacktestSettings from ``--setting KEY=VALUE`` pairs and the flags (the flags win).

    An unknown key gets a "did you mean"; an execution the strategy cannot trade by
    (filling at the close its signal was computed from) is refused.
    """
    from engine.config.loading import validate_model
    from engine.strategies import check_execution

    values: dict = {}
    for arg in setting_args:
        key, sep, value = arg.partition("=")
        if not sep or not key.strip():
            raise InputError(
                f"cannot read --setting {arg!r}: expected KEY=VALUE",
                hint="e.g. --setting size=risk --setting stop=atr",
            )
        values[key.strip()] = value.strip()
    values.update({k: v for k, v in flags.items() if v is not None})
    settings = validate_model(BacktestSettings, values, source="the backtest settings")
    check_execution(strategy, settings.execution)
    return settings


def _params(param_args: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for arg in param_args:
        name, sep, value = arg.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InputError(
                f"cannot read --param {arg!r}: expected NAME=VALUE",
                hint="e.g. --param fast=10 --param slow=30",
            )
        params[name.strip()] = value.strip()
    return params


strategy_option = click.option(
    "--strategy", required=True, help="Strategy name, e.g. sma_crossover (`wb strategies` lists them)."
)
grid_option = click.option(
    "--grid",
    "grid_args",
    multiple=True,
    required=True,
    help="A parameter's values: NAME=start:stop:step (stop excluded) or NAME=a,b,c. "
    "Repeat per parameter.",
)


def parameter_grid(grid_args: tuple[str, ...], symbols: list[str]) -> dict:
    """The grid of the --grid values; a grid too large for ``symbols`` is refused here, before
    vectorbt loads or bars are read."""
    from engine.backtest.grids import check_grid_size, parse_grid_arg

    grid: dict = {}
    for arg in grid_args:
        grid.update(parse_grid_arg(arg))
    check_grid_size(grid, len(symbols))
    return grid


def report_option(what: str):
    """A --report option that writes ``what`` as HTML to the file it names."""
    return click.option(
        "--report",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"Write {what} as HTML to this file.",
    )


def _write_report(result, path: Path, **options) -> None:
    # Imported only when a report is asked for: it loads plotly, and its trades on price
    # load vectorbt.
    from engine.backtest.report import write_report

    write_report(result, path, **options)


@click.command()
@strategy_option
@click.option("--symbols", required=True, help="Comma-separated tickers, traded as one book.")
@click.option(
    "--param",
    "param_args",
    multiple=True,
    help="A parameter, NAME=VALUE (repeat per parameter; the rest keep their defaults).",
)
@bar_size_option
@settings_options
@report_option("a report (equity, drawdown, trades on price)")
@json_option
@pass_context
def backtest(
    ctx: Context, strategy, symbols, param_args, bar_size, start, end, setting_args, report,
    as_json, **settings
):
    """Backtest STRATEGY on stored bars of --symbols and print its metrics.

    `--fees 0 --slippage 0 --size all` on one symbol gives a run you can check by hand.
    """
    from engine.backtest.runner import run_backtest
    from engine.data import load_bars

    run_settings = backtest_settings(strategy, setting_args, **settings)
    bars = load_bars(ctx.store(), split_symbols(symbols), _day(start), _day(end), bar_size=bar_size)
    result = run_backtest(bars, strategy, _params(param_args), run_settings)
    _record_backtest(ctx, result)
    if report:
        _write_report(result, report)
    if as_json:
        emit_json(
            {
                **result.summary(),
                "trade_list": result.trades,
                "report": str(report) if report else None,
            }
        )
        return
    summary = result.summary()
    params = " ".join(f"{k}={v}" for k, v in summary["params"].items())
    click.echo(
        f"{summary['strategy']} ({params}) on {', '.join(summary['symbols'])}, "
        f"{summary['start']} .. {summary['end']}, {bars.bar_size} bars"
        + (f" ({SYNTHETIC_NOTE})" if bars.synthetic else "")
    )
    m = result.metrics
    click.echo(
        f"  total return {m['total_return']:.2%}  CAGR {m['cagr']:.2%}  Sharpe {m['sharpe']:.2f}  "
        f"Sortino {m['sortino']:.2f}  max drawdown {m['max_drawdown']:.2%} "
        f"({m['max_drawdown_duration']} bars)"
    )
    click.echo(
        f"  {m['trades']} trades, win rate {m['win_rate']:.1%}, profit factor "
        f"{m['profit_factor']:.2f}, exposure {m['exposure']:.1%} of equity on average, "
        f"in the market {m['time_in_market']:.1%} of bars, turnover {m['turnover']:.1f}x/yr"
    )
    click.echo(
        f"  {m['day_trades']} day trades (bought and sold in one session), at most "
        f"{m['max_day_trades_5_sessions']} in 5 sessions"
        + (
            f"; flat by the close ({run_settings.flat_minutes_before_close} min before)"
            if run_settings.flat_by_close
            else ""
        )
    )
    click.echo(f"  final equity {summary['final_equity']:,.2f} from {run_settings.init_cash:,.2f}")
    click.echo(f"  {result.annualisation.describe()}")
    if report:
        click.echo(f"  report: {report}")


@click.command()
@strategy_option
@click.option("--symbols", required=True, help="Comma-separated tickers.")
@grid_option
@click.option(
    "--per",
    type=click.Choice(["symbol", "portfolio"]),
    default="symbol",
    show_default=True,
    help="symbol: each symbol alone per combination; portfolio: the universe as one book.",
)
@click.option("--top", type=int, default=10, show_default=True, help="Rows to print, best first.")
@click.option(
    "--sort", "sort_by", default="sharpe", show_default=True, help="Metric to rank the rows by."
)
@bar_size_option
@settings_options
@executor_options
@report_option("a heatmap of --sort over the first two parameters")
@json_option
@pass_context
def sweep(
    ctx: Context,
    strategy,
    symbols,
    grid_args,
    per,
    top,
    sort_by,
    bar_size,
    start,
    end,
    setting_args,
    executor,
    ray_address,
    report,
    as_json,
    **settings,
):
    """Backtest every combination of --grid for STRATEGY; combinations its params reject are skipped."""
    symbol_list = split_symbols(symbols)
    grid = parameter_grid(grid_args, symbol_list)

    from engine.backtest.sweep import sweep as run_sweep
    from engine.data import load_bars

    run_settings = backtest_settings(strategy, setting_args, **settings)
    runner = resolve_cli_executor(executor, ray_address, as_json=as_json)
    bars = load_bars(ctx.store(), symbol_list, _day(start), _day(end), bar_size=bar_size)
    result = run_sweep(
        bars, strategy, grid, run_settings, per=per, progress=not as_json, executor=runner
    )
    ledger = _record_sweep(ctx, result, bars, run_settings, executor)
    best = result.best(sort_by, n=len(result.table))
    if report:
        _write_report(result, report, metric=sort_by)
    if as_json:
        emit_json(
            {
                "strategy": result.strategy,
                "per": per,
                "n_combinations": result.n_combinations,
                "skipped": result.skipped,
                "bar_size": bars.bar_size,
                "freq": bars.freq,
                "synthetic_bars": bars.synthetic,
                "annualisation": result.annualisation.to_dict(),
                "table": best,
                "trials": ledger,
                "report": str(report) if report else None,
            }
        )
        return
    click.echo(
        f"{result.strategy}: {result.n_combinations} combinations x "
        f"{len(bars.symbols) if per == 'symbol' else 1} book(s), {result.skipped} skipped "
        f"(rejected by the params), {bars.bar_size} bars"
        + (f" ({SYNTHETIC_NOTE})" if bars.synthetic else "")
        + f"; best {min(top, len(best))} by {sort_by}:"
    )
    shown = best.head(top)
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    click.echo(result.annualisation.describe())
    if ledger is not None:
        click.echo(f"trial ledger: {ledger.describe()} (wb trials --strategy {result.strategy})")
    if report:
        click.echo(f"report: {report}")


def _record_backtest(ctx: Context, result) -> None:
    """Count the backtest's combination in its family's trial ledger."""
    from engine.cli.configs import _actor
    from engine.research.trials import record_backtest

    record_backtest(ctx.store(), result, actor=_actor(None) or "cli")


def _record_sweep(ctx: Context, result, bars, settings, executor: str):
    """The family's trial count with this sweep recorded (None if the store stayed busy)."""
    from engine.cli.configs import _actor
    from engine.research.trials import record_sweep

    return record_sweep(
        ctx.store(), result, bars, settings, actor=_actor(None) or "cli", executor=executor
    )


COMMANDS = [backtest, sweep]
