"""Small view helpers shared by the pages: numbers as a trader reads them, charts, the status bar."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.figures import LoopStatus, TradingStatus, event_bar, event_changes, pending_label
from engine.backtest.time_axis import bar_time_breaks
from engine.risk import TradingState, states

UP, DOWN, MUTED = "#26a69a", "#ef5350", "#8b949e"
CHART_MARGIN = {"l": 8, "r": 8, "t": 28, "b": 8}
STATE_COLOURS = {"ACTIVE": "green", "REDUCING": "orange", "HALTED": "red"}


def money(value, signed: bool = False) -> str:
    """``12345.6`` -> ``$12,346``; None or NaN -> an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{'+' if signed and value > 0 else ''}{'-' if value < 0 else ''}${abs(value):,.0f}"


def pct(value, signed: bool = False, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:{'+' if signed else ''}.{digits}%}"


def open_risk_metric(book) -> None:
    """Open risk to the stops as a metric: unbounded (in red) when a position has no stop."""
    label, equity = "Open risk (to stops)", book.equity
    if book.unprotected:
        st.metric(label, "Unbounded", delta=f"no stop on {', '.join(book.unprotected)}",
                  delta_color="red", delta_arrow="off", border=True)  # fmt: skip
    elif math.isnan(book.open_risk):
        st.metric(label, "Unknown", delta="the broker's book carries no stops",
                  delta_color="gray", delta_arrow="off", border=True)  # fmt: skip
    else:
        st.metric(label, money(book.open_risk),
                  delta=pct(book.open_risk / equity) + " of equity" if equity else None,
                  delta_color="off", delta_arrow="off", border=True)  # fmt: skip


WARN_CELL = "background-color: rgba(239, 83, 80, 0.18); color: #ef5350; font-weight: 600"
POSITION_LABELS = {
    "symbol": "Symbol", "qty": "Qty", "avg_price": "Avg price", "price": "Last",
    "market_value": "Market value", "weight": "Weight", "unrealised_pnl": "Unrealised P&L",
    "unrealised_pct": "P&L %", "stop_price": "Stop", "risk_to_stop": "Risk to stop",
    "risk_pct": "Risk % equity", "config_id": "Strategy",
}  # fmt: skip


def table(data, *, key: str, **options):
    """``data`` shown as every control-room table is: full width, without the index.

    ``options`` go to ``st.dataframe`` (column_config, height, on_select...); gives what it
    gives (the selection, for a table that selects rows).
    """
    return st.dataframe(data, hide_index=True, width="stretch", key=key, **options)


def positions_table(positions: pd.DataFrame, book, names: dict[str, str], cap: float | None,
                    key: str) -> None:  # fmt: skip
    """Positions as a trader reads them: $ and %, a missing stop as unbounded risk and a weight
    above the position cap, each highlighted; the strategy by name and short id."""
    frame = named_configs(positions, names)
    no_stop = book.stops_known
    over = (lambda w: cap is not None and w == w and w > cap)  # noqa: E731

    def weight(w):
        return "—" if w != w else f"{w:.1%}" + (f" ▲ over the {cap:.0%} cap" if over(w) else "")

    styler = frame.style.format(
        {"qty": "{:,.0f}", "avg_price": "${:,.2f}", "price": "${:,.2f}", "market_value": money,
         "weight": weight, "unrealised_pnl": lambda v: money(v, signed=True),
         "unrealised_pct": lambda v: pct(v, signed=True),
         "stop_price": lambda v: ("none" if no_stop else "unknown") if v != v else f"${v:,.2f}",
         "risk_to_stop": lambda v: ("unbounded" if no_stop else "unknown") if v != v else money(v),
         "risk_pct": lambda v: ("unbounded" if no_stop else "unknown") if v != v else pct(v)},
    )  # fmt: skip
    if no_stop:
        styler = styler.map(lambda v: WARN_CELL if v != v else "",
                            subset=["stop_price", "risk_to_stop", "risk_pct"])  # fmt: skip
    styler = styler.map(lambda w: WARN_CELL if over(w) else "", subset=["weight"])
    table(styler, key=key,
          column_config={c: st.column_config.Column(label) for c, label in POSITION_LABELS.items()})  # fmt: skip


#: An audit event as every page lists it: when, who, what, and what changed in words.
EVENT_COLUMNS = {
    "id": st.column_config.NumberColumn("#", format="%d"),
    "ts": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "bar": st.column_config.TextColumn(
        "Bar", help="The bar the event was about: a replay's bars are older than its wall clock"
    ),
    "actor": "Who",
    "kind": "What",
    "subject": "Subject",
    "payload": st.column_config.TextColumn("What changed", width="large"),
}


def events_in_words(events: pd.DataFrame) -> pd.DataFrame:
    """The events with each payload as what changed, in words, and the bar it was about."""
    return events.assign(
        bar=events["payload"].map(event_bar),
        payload=events["payload"].map(lambda p: " · ".join(event_changes(p))),
    )


def named_configs(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The frame with its ``config_id`` column as strategy name and short id (manual: none)."""
    if "config_id" not in frame or frame.empty:
        return frame
    return frame.assign(config_id=frame["config_id"].map(
        lambda c: names.get(c, str(c)[:8]) if isinstance(c, str) and c else "—"))  # fmt: skip


def page_title(title: str, caption: str | None = None) -> None:
    st.markdown(f"#### {title}")
    if caption:
        st.caption(caption)


def empty_state(text: str) -> None:
    """A friendly note where a table or chart would be, when there is nothing to show yet."""
    st.info(text, icon=":material/inbox:")


def loop_banner(loop: LoopStatus, trading: TradingStatus, waiting: pd.DataFrame | None = None) -> None:
    """The strip at the top of every page: loop alive or not (loudly), state, kill switch,
    and the commands still waiting for the loop (``waiting``: id, kind, payload)."""
    waiting = waiting if waiting is not None else pd.DataFrame(columns=["id", "kind", "payload"])
    asked = [pending_label(r.kind, r.payload) for r in waiting.itertuples()]
    if not loop.ever_ran:
        st.warning(
            "**No live loop is running** on this data dir (none has ever run). Commands are "
            "queued until one starts with `wb live`.",
            icon=":material/power_off:",
        )
    elif not loop.running:
        st.error(
            f"**LIVE LOOP NOT RUNNING** — {loop.why}. Commands are queued until a loop starts; "
            "**Flatten all** goes straight to the broker.",
            icon=":material/heart_broken:",
        )
    if trading.state == "HALTED":
        why = f" ({trading.reason})" if trading.reason else ""
        st.error(
            f"**TRADING HALTED**{why} — {states.MEANING[TradingState.HALTED]}.",
            icon=":material/pan_tool:",
        )
    if trading.kill_switch:
        st.error(
            f"**KILL SWITCH ON** — {states.MEANING[states.KILL_SWITCH_STATE]}.",
            icon=":material/block:",
        )
    if trading.limits_problem:
        st.error(
            f"**RISK LIMITS INVALID** — the loop will not trade on them: {trading.limits_problem}",
            icon=":material/rule:",
        )
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        if not loop.ever_ran:
            st.badge("Loop: none yet", icon=":material/power_off:", color="gray")
        elif loop.running:
            st.badge(
                f"Loop: {loop.mode} · {loop.broker} · {loop.why}",
                icon=":material/favorite:",
                color="green",
            )
        else:
            st.badge(
                f"Loop: NOT RUNNING ({loop.mode})", icon=":material/heart_broken:", color="red"
            )
        if loop.bar_date:
            st.badge(f"Loop bar {loop.bar_date}" + (f" · {loop.book}" if loop.book else ""), color="gray")
        st.badge(f"State: {trading.state}", color=STATE_COLOURS.get(trading.state, "gray"))
        switch = [a for a in asked if a.startswith("kill switch")]
        st.badge(
            ("Kill switch: ON" if trading.kill_switch else "Kill switch: off")
            + (f" · pending {switch[-1].removeprefix('kill switch ').upper()}" if switch else ""),
            color="red" if trading.kill_switch else ("orange" if switch else "gray"),
        )
        if trading.paused_configs:
            st.badge(f"{len(trading.paused_configs)} paused", color="orange")
        if asked:
            st.badge(f"Pending: {', '.join(asked)}", icon=":material/hourglass_top:", color="orange")


def equity_chart(curve: pd.DataFrame, height: int = 340) -> go.Figure:
    """Equity over time, and beneath it the fall from its peak."""
    from plotly.subplots import make_subplots

    dates = pd.to_datetime(curve["bar_date"])
    fall = curve["equity"] / curve["equity"].cummax() - 1
    figure = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.74, 0.26], vertical_spacing=0.04
    )
    figure.add_scatter(
        x=dates, y=curve["equity"], name="Equity", row=1, col=1, line={"color": UP, "width": 1.6}
    )
    figure.add_scatter(
        x=dates,
        y=fall,
        name="Drawdown",
        row=2,
        col=1,
        fill="tozeroy",
        line={"color": DOWN, "width": 0.8},
    )
    figure.update_yaxes(tickprefix="$", tickformat=",.0f", row=1, col=1)
    figure.update_yaxes(tickformat=".0%", row=2, col=1)
    # Intraday bars: their times in exchange time, session after session (no nights).
    figure.update_xaxes(rangebreaks=bar_time_breaks(dates))
    figure.update_layout(
        height=height, margin=CHART_MARGIN, hovermode="x unified", showlegend=False
    )
    return figure


def drawdown_chart(fall: pd.Series) -> go.Figure:
    """The fall from peak over time (a positive fraction), drawn below zero."""
    figure = go.Figure()
    figure.add_scatter(x=fall.index, y=-fall.to_numpy(), fill="tozeroy", name="Drawdown",
                       line={"color": DOWN, "width": 0.8})  # fmt: skip
    figure.update_layout(height=220, margin=CHART_MARGIN, yaxis={"tickformat": ".0%"})
    return figure


def heatmap(matrix: pd.DataFrame, title: str) -> go.Figure:
    """Correlations, red for moving together, blue for against, read top-left to bottom-right."""
    figure = go.Figure(
        go.Heatmap(z=matrix.to_numpy(), x=list(matrix.columns), y=list(matrix.index), zmin=-1,
                   zmax=1, colorscale="RdBu_r", text=matrix.round(2).to_numpy(),
                   texttemplate="%{text}", showscale=False)
    )  # fmt: skip
    figure.update_layout(height=340, margin=CHART_MARGIN, title={"text": title, "font": {"size": 13}},
                         yaxis={"autorange": "reversed"})  # fmt: skip
    return figure


def bars(frame: pd.DataFrame, x: str, y: str, title: str, percent: bool = False) -> go.Figure:
    colours = [UP if v >= 0 else DOWN for v in frame[y]]
    figure = go.Figure(go.Bar(x=frame[x], y=frame[y], marker_color=colours))
    figure.update_layout(
        height=220,
        margin=CHART_MARGIN,
        title={"text": title, "font": {"size": 13}},
        yaxis={"tickformat": ".1%" if percent else ",.2f"},
    )
    return figure


def stress_chart(frame: pd.DataFrame, equity: float, limits) -> go.Figure:
    """Each stress scenario's P&L in dollars, with the daily and weekly-hard loss limits marked."""
    colours = [DOWN if kind == "historical" else "#f0883e" for kind in frame["kind"]]
    labels = [f"{money(p)} ({pct(q, signed=True, digits=1)})" for p, q in zip(frame["pnl"], frame["pnl_pct"], strict=True)]
    figure = go.Figure(go.Bar(x=frame["pnl"], y=frame["scenario"], orientation="h", marker_color=colours,
                              text=labels, textposition="auto", hovertext=frame["what"]))  # fmt: skip
    worst = -float(frame["pnl"].min()) if len(frame) else 0.0
    for limit, name in ((limits.daily_loss_limit, "daily loss limit"),
                        (limits.weekly_hard_loss, "weekly halt")):  # fmt: skip
        if limit * equity > 1.25 * worst:
            continue  # far beyond every scenario: a line there would squash the bars
        figure.add_vline(x=-limit * equity, line={"color": MUTED, "dash": "dash", "width": 1},
                         annotation_text=f"{name} {limit:.0%}", annotation_font_size=11,
                         annotation_position="bottom left")  # fmt: skip
    figure.update_layout(
        height=60 + 34 * len(frame),
        margin={**CHART_MARGIN, "t": 36},
        title={"text": "P&L by scenario (red: historical, orange: hypothetical)", "font": {"size": 13}},
        xaxis={"tickprefix": "$", "tickformat": ",.0f"},
        yaxis={"autorange": "reversed"},
    )
    return figure


STATUS_COLOURS = {
    "pending": "#d29922", "running": "#d29922", "applied": UP, "succeeded": UP, "filled": UP,
    "denied": DOWN, "failed": DOWN, "rejected": DOWN, "abandoned": DOWN, "canceled": MUTED,
    "expired": MUTED, "ok": UP, "near": "#d29922", "at limit": DOWN,
}  # fmt: skip


def coloured(frame: pd.DataFrame, column: str | None = None, *, dollars=(), shares=(), bps=(),
             days=(), times=()):  # fmt: skip
    """The frame as read: its status column coloured (amber waiting, green done, red refused),
    ``dollars`` as $1,234.56, ``shares`` as 1,200, ``bps`` as +3.2, ``days`` as 2013-06-28,
    ``times`` to the minute, and a missing value as a dash, never "None"."""

    def number(spec: str):
        return lambda v: "—" if v is None or v != v else spec.format(v)

    def moment(spec: str):
        return lambda v: "—" if v is None or v != v else pd.Timestamp(v).strftime(spec)

    formats = {c: number("${:,.2f}") for c in dollars if c in frame}
    formats |= {c: number("{:,.0f}") for c in shares if c in frame}
    formats |= {c: number("{:+,.1f}") for c in bps if c in frame}
    formats |= {c: moment("%Y-%m-%d") for c in days if c in frame}
    formats |= {c: moment("%Y-%m-%d %H:%M") for c in times if c in frame}
    styler = frame.style.format(formats, na_rep="—")
    if column is None:
        return styler
    return styler.map(
        lambda value: (
            f"color: {STATUS_COLOURS[value]}; font-weight: 600" if value in STATUS_COLOURS else ""
        ),
        subset=[column],
    )


def commands_table(commands: pd.DataFrame, key: str) -> None:
    """Commands with where they stand: pending, then applied or denied with the reason."""
    if commands.empty:
        empty_state("No commands yet.")
        return
    shown = commands.assign(
        kind=[pending_label(k, p) for k, p in zip(commands["kind"], commands["payload"], strict=True)],
        result=commands["result"].fillna("—"), decided_by=commands["decided_by"].fillna("—"),
        # Text, so that a command not decided yet reads "—" rather than "None".
        decided_at=pd.to_datetime(commands["decided_at"]).dt.strftime("%Y-%m-%d %H:%M:%S").fillna("—"),
    )[["id", "created_at", "actor", "kind", "status", "result", "decided_by", "decided_at"]]  # fmt: skip
    table(
        coloured(shown, "status"),
        key=key,
        column_config={
            "id": st.column_config.NumberColumn("#", width="small"),
            "created_at": st.column_config.DatetimeColumn(
                "Asked (UTC)", format="YYYY-MM-DD HH:mm:ss"
            ),
            "decided_at": st.column_config.TextColumn("Decided (UTC)"),
            "result": st.column_config.TextColumn("Result / reason", width="large"),
            "actor": "Asked by",
            "kind": "Command",
            "status": "Status",
            "decided_by": "Decided by",
        },
    )


def drift_chart(equity: pd.DataFrame, height: int = 320) -> go.Figure:
    """Live equity over the backtest's for the same sessions and cash, and the gap beneath."""
    from plotly.subplots import make_subplots

    dates = pd.to_datetime(pd.Index(equity.index))
    figure = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.04
    )
    figure.add_scatter(x=dates, y=equity["backtest"], name="Backtest", row=1, col=1,
                       line={"color": MUTED, "width": 1.4, "dash": "dot"})  # fmt: skip
    figure.add_scatter(x=dates, y=equity["live"], name="Live", row=1, col=1,
                       line={"color": UP, "width": 1.8})  # fmt: skip
    gap = equity["live"] - equity["backtest"]
    figure.add_bar(x=dates, y=gap, name="Live - backtest", row=2, col=1,
                   marker_color=[UP if v >= 0 else DOWN for v in gap])  # fmt: skip
    figure.update_yaxes(tickprefix="$", tickformat=",.0f")
    figure.update_layout(height=height, margin=CHART_MARGIN, hovermode="x unified",
                         legend={"orientation": "h", "y": 1.08})  # fmt: skip
    return figure
