"""Risk: each limit beside its use, value at risk, correlations, drawdown and stress tests."""

import streamlit as st

from app import facade, session, views

store = session.store()
views.page_title(
    "Risk",
    "Limits in force against their use now; VaR and CVaR are one-day losses of "
    "the current book, replayed over about two years of daily returns.",
)


@st.cache_data(ttl=30, show_spinner=False)
def picture(path: str, book: str | None, marker) -> facade.RiskPicture:
    # Cached per data dir, book and newest mark: VaR and correlations need bars, so they are
    # not recomputed on every refresh while nothing has changed.
    return facade.risk(session.store(), book)


@st.cache_data(ttl=30, show_spinner=False)
def stress_report(path: str, book: str | None, marker):
    # The stress test reads each crash's bars: recomputed only when the book changes.
    return facade.stress(session.store(), book)


@st.fragment(run_every="5s")
def body() -> None:
    """Every part of the page, refreshed as often as the other pages (cheap while the book's
    marker is unchanged: the heavy parts are cached on it)."""
    book = session.book()
    marker = facade.book_marker(store, book)
    data = picture(str(session.data_dir()), book, marker)
    st.caption(f"Limits: {data.trading.limits_note}. Book {data.book.source}.")
    if data.trading.limits_problem:
        st.error(f"No limits to measure against: {data.trading.limits_problem}")
    usage = data.usage
    views.table(
        views.coloured(usage, "state"),
        key="limits_table",
        column_config={
            "limit": st.column_config.TextColumn("Limit", width="medium"),
            "in_force": st.column_config.TextColumn("In force"),
            "in_use": st.column_config.TextColumn("In use now"),
            "used": st.column_config.ProgressColumn(
                "Used", format="percent", min_value=0, max_value=1, color="blue"
            ),
            "state": st.column_config.TextColumn("State", width="small"),
            "note": st.column_config.TextColumn("Note", width="large"),
        },
    )
    breached = usage[usage["used"] >= 1]["limit"].tolist()
    if breached:
        st.error(f"At or past the limit: {', '.join(breached)}.")

    var_col, corr_col = st.columns([1, 1.3])
    with var_col:
        st.markdown("###### Value at risk (1 day)")
        if data.var.empty:
            views.empty_state(" ".join(data.notes) or "No value at risk to show.")
        else:
            shown = data.var.assign(confidence=data.var["confidence"].map("{:.0%}".format))
            views.table(
                shown,
                key="var_table",
                column_config={
                    "method": "Method",
                    "confidence": "Confidence",
                    "var": st.column_config.NumberColumn("VaR", format="dollar"),
                    "cvar": st.column_config.NumberColumn("CVaR", format="dollar"),
                    "var_pct": st.column_config.NumberColumn("VaR % equity", format="percent"),
                    "bars": st.column_config.NumberColumn("Days", format="%d"),
                },
            )
            for note in data.notes:
                st.caption(note)
        st.markdown("###### Drawdown")
        if data.drawdown.empty:
            views.empty_state("No equity marks yet.")
        else:
            st.plotly_chart(
                views.drawdown_chart(data.drawdown),
                key="drawdown_chart",
                config={"displayModeBar": False},
            )
    with corr_col:
        st.markdown("###### Correlation of daily returns")
        if data.correlation.empty:
            views.empty_state("Needs two or more held (or approved) symbols with stored bars.")
        else:
            which = "held" if len(data.book.positions) else "approved configs'"
            st.plotly_chart(
                views.heatmap(
                    data.correlation, f"{which} symbols, last {facade.RISK_LOOKBACK_BARS} days"
                ),
                key="correlation_chart",
                config={"displayModeBar": False},
            )
        if len(data.book.positions):
            exposure = data.book.positions[["symbol", "weight"]]
            st.plotly_chart(
                views.bars(
                    exposure, "symbol", "weight", "Exposure by symbol (% equity)", percent=True
                ),
                key="exposure_chart",
                config={"displayModeBar": False},
            )

    stress_panel(stress_report(str(session.data_dir()), book, marker))


def stress_panel(report) -> None:
    """The book under historical and hypothetical shocks: a chart of P&L, then the details."""
    st.markdown("###### Stress tests")
    if isinstance(report, str):
        views.empty_state(f"No stress test: {report}.")
        return
    if not report.results:
        views.empty_state(" ".join(report.notes) or "Nothing to stress.")
        return
    held = report.book
    st.caption(
        f"{held.source}: equity {views.money(held.equity)}, cash {views.money(held.cash)}. "
        "A stop the price gaps through fills at the gapped price (the open), not at the "
        "stop. Buying power after is the cash after (a cash account); fees left out. "
        + " ".join(report.notes)
    )
    frame = report.frame()
    st.plotly_chart(
        views.stress_chart(frame, held.equity, report.limits),
        key="stress_chart",
        config={"displayModeBar": False},
    )
    views.table(
        frame.style.map(_halt_colour, subset=["halt"]),
        key="stress_table",
        column_order=["scenario", "what", "pnl", "pnl_pct", "stops_hit", "stops_gapped",
                      "cash_after", "buying_power_after", "halt", "halts"],  # fmt: skip
        column_config={
            "scenario": st.column_config.TextColumn("Scenario", width="medium"),
            "what": st.column_config.TextColumn("What moves", width="large"),
            "pnl": st.column_config.NumberColumn("P&L", format="dollar"),
            "pnl_pct": st.column_config.NumberColumn("% equity", format="percent"),
            "stops_hit": st.column_config.NumberColumn("Stops hit", format="%d"),
            "stops_gapped": st.column_config.TextColumn("Gapped through", width="large"),
            "cash_after": st.column_config.NumberColumn("Cash after", format="dollar"),
            "buying_power_after": st.column_config.NumberColumn("Buying power", format="dollar"),
            "halt": st.column_config.TextColumn("Halt", width="small"),
            "halts": st.column_config.TextColumn("Why", width="large"),
        },
    )
    with st.expander("What each scenario assumed"):
        for result in report.results:
            notes = "; ".join(result.notes) or "nothing assumed"
            st.markdown(f"**{result.name}** ({result.description}): {notes}")


def _halt_colour(halt: str) -> str:
    """A scenario's halts coloured as the limits table colours a limit's state."""
    colour = {"none": views.UP, "HALTED": views.DOWN}.get(halt, "#d29922")
    return f"color: {colour}; font-weight: 600"


body()
