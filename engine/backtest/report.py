"""Self-contained plotly HTML reports: a backtest's equity, drawdown and trades; a sweep's heatmap.

The HTML embeds plotly.js, so a report opens on a machine without network access.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.backtest.labels import FRACTIONS, LABELS, METRICS, WHOLE_NUMBERS
from engine.backtest.time_axis import bar_time_breaks
from engine.errors import InputError


def write_report(result, path: str | Path, *, metric: str = "sharpe") -> Path:
    """The path of the HTML report written for ``result``.

    A :class:`~engine.backtest.runner.BacktestResult` gets equity, drawdown and its trades
    on price (one symbol at a time, chosen from a menu); a
    :class:`~engine.backtest.sweep.SweepResult` a heatmap of ``metric`` over its first two
    varying parameters (averaged over symbols); a
    :class:`~engine.backtest.walkforward.WalkForwardResult` the stitched out-of-sample
    equity with its folds marked.
    """
    from engine.backtest.runner import BacktestResult
    from engine.backtest.sweep import SweepResult
    from engine.backtest.walkforward import WalkForwardResult

    if isinstance(result, BacktestResult):
        figure = backtest_figure(result)
    elif isinstance(result, SweepResult):
        figure = sweep_figure(result, metric)
    elif isinstance(result, WalkForwardResult):
        figure = walk_forward_figure(result)
    else:
        raise InputError(
            f"cannot report on a {type(result).__name__}",
            hint="pass the result of run_backtest, sweep or walk_forward",
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(path, include_plotlyjs=True, full_html=True)
    return path


def _bars_note(bars, annualisation) -> str:
    """The line under a figure's title: the bars' size (and SYNTHETIC), and the annualisation."""
    synthetic = ", SYNTHETIC bars (generated, not traded)" if bars.synthetic else ""
    return f"{bars.bar_size} bars{synthetic}; figures {annualisation.describe()}"


def _drawdown(equity: pd.Series, start: float) -> pd.Series:
    peak = np.maximum(equity.cummax(), start)
    return equity / peak - 1.0


def _metrics_line(metrics: dict) -> str:
    shown = []
    for name in METRICS:
        value = metrics.get(name)
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            text = "n/a"
        elif name in FRACTIONS:
            text = f"{value:.1%}"
        elif name in WHOLE_NUMBERS:
            text = f"{value:.0f}"
        else:
            text = f"{value:.2f}"
        shown.append(f"{LABELS[name]} {text}")
    return " | ".join(shown)


def _equity_and_drawdown(
    equity: pd.Series, init_cash: float, *, titles, row_heights, vertical_spacing
) -> go.Figure:
    """A figure with one row per title: ``equity`` on the first, its drawdown (from its peak,
    at least ``init_cash``) on the second, the rest left for the caller."""
    figure = make_subplots(
        rows=len(titles),
        cols=1,
        shared_xaxes=True,
        row_heights=row_heights,
        vertical_spacing=vertical_spacing,
        subplot_titles=titles,
    )
    figure.add_trace(go.Scatter(x=equity.index, y=equity, name="equity"), row=1, col=1)
    drawdown = _drawdown(equity, init_cash)
    figure.add_trace(
        go.Scatter(
            x=drawdown.index,
            y=drawdown,
            name="drawdown",
            fill="tozeroy",
            line={"color": "firebrick"},
        ),
        row=2,
        col=1,
    )
    figure.update_yaxes(tickformat=".0%", row=2, col=1)
    return figure


def _titled(
    figure: go.Figure, title: str, metrics: dict, note: str, *, bars: pd.Index, height: int
) -> go.Figure:
    """``figure`` titled, with its metrics and ``note`` beneath, and no gaps where no bar trades."""
    figure.update_layout(
        title={"text": f"{title}<br><sub>{_metrics_line(metrics)}<br>{note}</sub>"},
        height=height,
        showlegend=False,
    )
    figure.update_xaxes(rangebreaks=bar_time_breaks(bars))
    return figure


def backtest_figure(result) -> go.Figure:
    """Equity, drawdown, and trades on price (a menu picks the symbol)."""
    figure = _equity_and_drawdown(
        result.equity,
        result.settings.init_cash,
        titles=("Equity", "Drawdown", "Trades on price"),
        row_heights=[0.4, 0.2, 0.4],
        vertical_spacing=0.04,
    )
    symbols = result.bars.symbols
    fixed = len(figure.data)
    per_symbol = 3
    for position, symbol in enumerate(symbols):
        visible = position == 0
        close = result.bars.close[symbol]
        trades = result.trades[result.trades["symbol"] == symbol]
        closed = trades[trades["status"] == "closed"]
        price = go.Scatter(x=close.index, y=close, name=f"{symbol} close", line={"color": "grey"})
        entries = _markers(trades["entry_date"], trades["entry_price"], "entry", "triangle-up",
                           "green")  # fmt: skip
        exits = _markers(closed["exit_date"], closed["exit_price"], "exit", "triangle-down", "red",
                         text=closed["exit_reason"])  # fmt: skip
        for trace in (price, entries, exits):
            figure.add_trace(trace.update(visible=visible), row=3, col=1)
    if len(symbols) > 1:
        buttons = []
        for position, symbol in enumerate(symbols):
            visible = [True] * fixed + [False] * (per_symbol * len(symbols))
            for k in range(per_symbol):
                visible[fixed + per_symbol * position + k] = True
            buttons.append({"label": symbol, "method": "update", "args": [{"visible": visible}]})
        figure.update_layout(
            updatemenus=[{"buttons": buttons, "x": 1.0, "y": 0.38, "xanchor": "left"}]
        )
    params = ", ".join(f"{k}={v}" for k, v in result.params.model_dump().items())
    return _titled(
        figure,
        f"{result.strategy} ({params}) on {', '.join(symbols)}",
        result.metrics,
        _bars_note(result.bars, result.annualisation),
        bars=result.equity.index,
        height=900,
    )


def sweep_figure(result, metric: str = "sharpe") -> go.Figure:
    """A heatmap of ``metric`` over the first two parameters that vary (mean over symbols)."""
    if metric not in result.table.columns:
        raise InputError(
            f"the sweep has no metric {metric!r}", hint=f"use one of {', '.join(METRICS)}"
        )
    varying = [p for p in result.param_names if result.table[p].nunique() > 1]
    table = result.table
    title = f"{result.strategy}: {metric} " + (
        "(mean over symbols)" if result.per == "symbol" else "(universe as one book)"
    )
    if len(varying) >= 2:
        x_name, y_name = varying[:2]
        grid = table.groupby([y_name, x_name])[metric].mean().unstack(x_name)
        figure = go.Figure(
            go.Heatmap(
                z=grid.to_numpy(),
                x=[str(v) for v in grid.columns],
                y=[str(v) for v in grid.index],
                colorscale="RdYlGn",
                colorbar={"title": metric},
                hovertemplate=f"{x_name}=%{{x}}<br>{y_name}=%{{y}}<br>{metric}=%{{z:.3f}}<extra></extra>",
            )
        )
        figure.update_xaxes(title=x_name, type="category")
        figure.update_yaxes(title=y_name, type="category")
        if len(varying) > 2:
            title += f"; also averaged over {', '.join(varying[2:])}"
    else:
        name = varying[0] if varying else result.param_names[0]
        line = table.groupby(name)[metric].mean()
        figure = go.Figure(go.Bar(x=[str(v) for v in line.index], y=line.to_numpy()))
        figure.update_xaxes(title=name, type="category")
        figure.update_yaxes(title=metric)
    stated = f"<br><sub>figures {result.annualisation.describe()}</sub>" if result.annualisation else ""
    figure.update_layout(
        title=f"{title}; {result.n_combinations} combinations, {result.skipped} skipped{stated}",
        height=650,
    )
    return figure


def walk_forward_figure(result) -> go.Figure:
    """The stitched out-of-sample equity and its drawdown, each fold's test window marked."""
    figure = _equity_and_drawdown(
        result.oos_equity,
        result.settings.init_cash,
        titles=("Out-of-sample equity (stitched)", "Drawdown"),
        row_heights=[0.7, 0.3],
        vertical_spacing=0.06,
    )
    for fold in result.folds:
        params = ", ".join(f"{k}={v}" for k, v in fold.params.items())
        figure.add_vline(x=fold.test_start, line={"dash": "dot", "color": "grey"})
        figure.add_annotation(
            x=fold.test_start,
            y=1.0,
            yref="paper",
            text=params,
            showarrow=False,
            xanchor="left",
            font={"size": 10},
        )
    return _titled(
        figure,
        f"{result.strategy} walk-forward by {result.objective}, "
        f"{len(result.folds)} folds, {result.n_trials} trials",
        result.oos_metrics,
        f"figures {result.annualisation.describe()}",
        bars=result.oos_equity.index,
        height=750,
    )


def confidence_figure(spread) -> go.Figure:
    """Histograms of the bootstrap out-of-sample Sharpe and max drawdown, and of the max
    drawdown with the trades reshuffled, each with its 5th and 95th percentiles marked.

    ``spread`` is an :class:`~engine.backtest.confidence.OutOfSampleConfidence`.
    """
    panels = [
        ("Sharpe (bootstrap)", spread.sharpe, 1.0),
        ("max drawdown % (bootstrap)", spread.max_drawdown, 100.0),
        ("max drawdown % (trades reshuffled)", spread.reshuffled_drawdown, 100.0),
    ]
    figure = make_subplots(rows=1, cols=3, subplot_titles=[title for title, _, _ in panels])
    for column, (title, draws, scale) in enumerate(panels, start=1):
        values = draws[np.isfinite(draws)] * scale
        if not len(values):
            continue
        figure.add_histogram(x=values, nbinsx=40, name=title, showlegend=False, row=1, col=column)
        for quantile in np.percentile(values, [5, 95]):
            figure.add_vline(x=quantile, line_dash="dot", line_color="gray", row=1, col=column)
    figure.update_layout(
        height=300,
        margin={"l": 40, "r": 20, "t": 40, "b": 30},
        title_text=f"Out of sample: {spread.resamples} draws, 5th and 95th percentiles dotted",
    )
    return figure


def _markers(x, y, name: str, shape: str, color: str, **options) -> go.Scatter:
    """Trades drawn on the price as markers of one ``shape`` and ``color``."""
    return go.Scatter(
        x=x, y=y, mode="markers", name=name, marker={"symbol": shape, "size": 9, "color": color},
        **options,
    )
