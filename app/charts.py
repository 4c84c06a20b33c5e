"""The Performance page's charts, from plain frames: a period's equity, P&L per period, a price
chart with the book's entries, exits and stops. No store, no Streamlit: tested as figures."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from app.views import CHART_MARGIN, DOWN, MUTED, UP
from engine.backtest.time_axis import bar_time_breaks
from engine.data.bars import exchange_dates
from engine.data.calendar import TZ
from engine.live.performance import PeriodReturn

STOP = "#f0883e"


def period_chart(period: PeriodReturn, height: int = 300) -> go.Figure:
    """Equity over the period, green when it ends above where it started, red when below,
    with the base it is measured from as a dotted line."""
    colour = UP if period.pnl >= 0 else DOWN
    figure = go.Figure()
    figure.add_scatter(
        x=pd.to_datetime(period.curve["bar_date"]), y=period.curve["equity"], name="Equity",
        line={"color": colour, "width": 1.6}, fill="none",
    )  # fmt: skip
    figure.add_hline(
        y=period.base, line={"color": MUTED, "dash": "dot", "width": 1},
        annotation_text=f"{period.base_label}", annotation_font_size=11,
    )  # fmt: skip
    figure.update_layout(
        height=height, margin=CHART_MARGIN, showlegend=False, hovermode="x unified",
        yaxis={"tickprefix": "$", "tickformat": ",.0f"},
    )  # fmt: skip
    return figure


def pnl_bars(frame: pd.DataFrame, bucket: str, height: int = 240) -> go.Figure:
    """Each period's P&L in dollars, green for gains and red for losses, its % in the hover."""
    colours = [UP if v >= 0 else DOWN for v in frame["pnl"]]
    figure = go.Figure(
        go.Bar(
            x=frame["period"], y=frame["pnl"], marker_color=colours,
            customdata=frame["return_pct"], name="P&L",
            hovertemplate="%{x|%Y-%m-%d}: $%{y:,.0f} (%{customdata:+.2%})<extra></extra>",
        )
    )  # fmt: skip
    figure.update_layout(
        height=height, margin={**CHART_MARGIN, "t": 32},
        title={"text": f"P&L by {bucket} (equity marks at traded prices)", "font": {"size": 13}},
        yaxis={"tickprefix": "$", "tickformat": ",.0f"}, bargap=0.15,
    )  # fmt: skip
    return figure


def price_chart(
    bars: pd.DataFrame, fills: pd.DataFrame, stops: pd.Series, symbol: str, height: int = 460
) -> go.Figure:
    """Candlesticks of ``bars`` (open/high/low/close by bar time, as traded) with the book's
    buys (green triangles up), sells (red triangles down) and its stop (orange steps).

    ``fills`` has ``at`` (the bar it filled in, on the bars' axis), side, qty, price and
    purpose; ``stops`` is the stop level in force at each bar (NaN where there was none),
    indexed like ``bars``.
    """
    figure = go.Figure(
        go.Candlestick(
            x=bars.index, open=bars["open"], high=bars["high"], low=bars["low"],
            close=bars["close"], name=symbol, increasing_line_color=UP,
            decreasing_line_color=DOWN, showlegend=False,
        )
    )  # fmt: skip
    # A fill's bar: its date, or on intraday bars its time (New York) to the minute.
    when = "%{x|%Y-%m-%d %H:%M}" if getattr(bars.index, "tz", None) is not None else "%{x|%Y-%m-%d}"
    for side, marker, colour, name in (
        ("buy", "triangle-up", UP, "Buys"),
        ("sell", "triangle-down", DOWN, "Sells"),
    ):
        done = fills[fills["side"] == side]
        if done.empty:
            continue
        figure.add_scatter(
            x=done["at"], y=done["price"], mode="markers", name=name,
            marker={"symbol": marker, "size": 14, "color": colour,
                    "line": {"color": "#0d1117", "width": 1}},
            customdata=done[["qty", "purpose"]].fillna("").to_numpy(),
            hovertemplate=f"{side} %{{customdata[0]:,.0f}} at $%{{y:,.2f}} (%{{customdata[1]}}), "
            f"{when}<extra></extra>",
        )  # fmt: skip
    if stops.notna().any():
        figure.add_scatter(
            x=stops.index, y=stops.to_numpy(), mode="lines", name="Stop", connectgaps=False,
            line={"color": STOP, "dash": "dash", "width": 1.5, "shape": "hv"},
            hovertemplate="stop $%{y:,.2f}<extra></extra>",
        )  # fmt: skip
    # Daily bars: weekends left out too, so the candles stand side by side.
    breaks = bar_time_breaks(bars.index) or [{"bounds": ["sat", "mon"]}]
    figure.update_xaxes(rangebreaks=breaks, rangeslider_visible=False)
    figure.update_layout(
        height=height, margin={**CHART_MARGIN, "t": 36}, hovermode="closest",
        title={"text": f"{symbol}: prices as traded, with the book's fills and stops",
               "font": {"size": 13}},
        yaxis={"tickprefix": "$"}, legend={"orientation": "h", "y": 1.02, "x": 1,
                                          "xanchor": "right", "yanchor": "bottom"},
    )  # fmt: skip
    return figure


def stops_on_bars(marked: pd.DataFrame, index: pd.DatetimeIndex) -> pd.Series:
    """The stop in force at each bar of ``index``: the one marked (bar_date, stop_price) at
    its session's close (NaN where none was)."""
    by_day = pd.Series(
        marked["stop_price"].astype(float).to_numpy(), index=pd.to_datetime(marked["bar_date"])
    )
    by_day = by_day[~by_day.index.duplicated(keep="last")]
    return pd.Series(by_day.reindex(exchange_dates(index)).to_numpy(), index=index, name="stop")


def on_bar_axis(times: pd.Series, index: pd.DatetimeIndex) -> pd.Series:
    """Each UTC wall time (naive) placed on the bars' axis: the bar it falls in, NaT outside.

    Daily bars: the New York session date; intraday bars: the start of the bar holding it
    (NaT before the first bar or after the last bar's session).
    """
    local = pd.to_datetime(times).dt.tz_localize("UTC").dt.tz_convert(TZ)
    if getattr(index, "tz", None) is None:
        return local.dt.tz_localize(None).dt.normalize()
    if not len(index):
        return pd.Series(pd.NaT, index=times.index)
    position = index.searchsorted(local, side="right") - 1
    placed = pd.Series(index[position.clip(0, len(index) - 1)], index=times.index)
    last_session = exchange_dates(index[-1:])[0]
    outside = (position < 0) | (local.dt.tz_localize(None).dt.normalize() > last_session).to_numpy()
    return placed.mask(outside)


def default_window(fill_days: pd.Series, last_bar: pd.Timestamp | None, bar_size: str):
    """(start, end) dates a symbol's chart opens on: around the book's fills, else the newest
    bars; a year of daily bars at most, a week of intraday ones."""
    days = pd.to_datetime(fill_days).dropna()
    newest = pd.Timestamp(last_bar).tz_localize(None).normalize() if last_bar is not None else None
    if bar_size != "1d":
        end = days.max() if len(days) else newest
        end = end if end is not None else pd.Timestamp.today().normalize()
        return (end - pd.Timedelta(days=7)).date(), end.date()
    if len(days):
        start, end = days.min() - pd.Timedelta(days=45), days.max() + pd.Timedelta(days=20)
        start = max(start, end - pd.Timedelta(days=365))
    else:
        end = newest if newest is not None else pd.Timestamp.today().normalize()
        start = end - pd.Timedelta(days=180)
    if newest is not None:
        end = min(end, newest)
    return start.date(), end.date()


def holding_text(held) -> str:
    """A holding time as a trader says it: ``12 days``, ``3 h 20 min``, ``—`` when unknown."""
    if held is None or pd.isna(held):
        return "—"
    held = pd.Timedelta(held)
    if held >= pd.Timedelta(days=1):
        days = held / pd.Timedelta(days=1)
        return f"{days:.0f} day{'s' if round(days) != 1 else ''}"
    hours, minutes = divmod(round(held / pd.Timedelta(minutes=1)), 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
