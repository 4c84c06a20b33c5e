"""Risk: each limit beside its use, value at risk, correlations and drawdown."""

import streamlit as st

from app import facade, session, views

store = session.store()
views.page_title(
    "Risk",
    "Limits in force against their use now; VaR and CVaR are one-day losses of "
    "the current book, replayed over about two years of daily returns.",
)


@st.cache_data(ttl=30, show_spinner=False)
def picture(path: str, marker) -> facade.RiskPicture:
    # Cached per data dir and newest mark: VaR and correlations need bars, so they are not
    # recomputed on every refresh while nothing has changed.
    return facade.risk(session.store())


@st.fragment(run_every="15s")
def body() -> None:
    data = picture(str(session.data_dir()), facade.book_marker(store))
    st.caption(f"Limits: {data.trading.limits_note}. Book {data.book.source}.")
    usage = data.usage
    st.dataframe(
        views.coloured(usage, "state"),
        hide_index=True,
        width="stretch",
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
            st.dataframe(
                shown,
                hide_index=True,
                width="stretch",
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


body()
