"""Overview: is the loop alive, what is the book worth, what changed today, what needs attention."""

import streamlit as st

from app import facade, overrides, session, views
from engine.live.heartbeat import age_text

store, visitor = session.store(), session.visitor()
views.page_title("Overview")
overrides.notices()


@st.cache_data(ttl=2, show_spinner=False)
def load(path: str, book: str | None) -> facade.Overview:
    # The live parts below refresh on their own; they share one read of the store.
    return facade.overview(session.store(), book=book)


@st.fragment(run_every="5s")
def headline() -> None:
    data = load(str(session.data_dir()), session.book())
    loop, book = data.loop, data.book
    equity = book.equity
    with st.container(horizontal=True, gap="small"):
        st.metric("Equity", views.money(equity), border=True)
        st.metric(
            f"P&L of bar {data.pnl_bar}" if data.pnl_bar else "Today's P&L",
            views.money(data.todays_pnl, signed=True),
            delta=views.pct(data.todays_pnl_pct, signed=True)
            if data.todays_pnl_pct is not None
            else None,
            help=f"Equity marked on the bar of {data.pnl_bar} against the bar of {data.pnl_since}"
            if data.pnl_bar
            else "Needs two marks of the book",
            border=True,
        )
        st.metric("Open positions", f"{len(book.positions)}", border=True)
        views.open_risk_metric(book)
        st.metric("Cash", views.money(book.cash), border=True)
        st.metric(
            "Buying power",
            views.money(book.buying_power),
            help="As the broker last reported it to the live loop; — until a loop has.",
            border=True,
        )
        st.metric(
            "Heartbeat",
            "—" if loop.age_s is None else age_text(loop.age_s),
            delta="alive" if loop.running else ("NOT RUNNING" if loop.ever_ran else "no loop"),
            delta_color="green" if loop.running else ("red" if loop.ever_ran else "gray"),
            delta_arrow="off",
            border=True,
        )


@st.fragment(run_every="5s")
def chart() -> None:
    data = load(str(session.data_dir()), session.book())
    st.markdown("###### Equity and drawdown")
    if data.curve.empty:
        views.empty_state("No equity marks yet: the live loop marks equity every step (`wb live`).")
        return
    st.plotly_chart(
        views.equity_chart(data.curve), key="equity_chart", config={"displayModeBar": False}
    )
    st.caption(f"Book {data.book.source}.")


@st.fragment(run_every="5s")
def alerts() -> None:
    data = load(str(session.data_dir()), session.book())
    st.markdown("###### Alerts")
    if not data.alerts:
        st.success("Nothing needs attention.", icon=":material/verified:")
    for alert in data.alerts:
        {"error": st.error, "warning": st.warning, "info": st.info}[alert.level](alert.text)


@st.fragment(run_every="5s")
def commands() -> None:
    data = load(str(session.data_dir()), session.book())
    st.markdown("###### Recent commands")
    views.commands_table(data.commands.head(10), key="recent_commands")


headline()
left, right = st.columns([2.3, 1], gap="medium")
with right:
    if visitor.can_trade:
        st.markdown("###### Controls")
        overrides.trading_controls(store, visitor, *facade.status(store))
    alerts()
with left:
    chart()
commands()
if visitor.can_trade:
    overrides.my_commands(store)
