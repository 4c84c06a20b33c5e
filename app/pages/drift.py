"""Drift: a config's live equity against its backtest over the same sessions, the gap explained."""

import streamlit as st

from app import facade, session, views
from engine.errors import WorkbenchError

store = session.store()
views.page_title(
    "Live vs backtest",
    "The config's backtest re-run on the stored bars over the sessions it traded, with the "
    "book's starting cash; every live fill beside the backtest's, and the gap in equity put "
    "down to its causes. Prices as traded by the loop, in dollars; + means live is ahead.",
)

traded = facade.traded_configs(store)
if traded.empty:
    views.empty_state(
        "No config has traded yet: the live loop (`wb live`) trades approved configs."
    )
    st.stop()

picks = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
config_id = picks.selectbox("Config", list(dict.fromkeys(traded["config_id"])), key="drift_config",
                            width=260)  # fmt: skip
books = traded.loc[traded["config_id"] == config_id, "book"].tolist()
book = picks.selectbox("Book", books, key="drift_book", width=220)


@st.cache_data(ttl=60, show_spinner="Re-running the backtest over the traded sessions…")
def load(data_dir: str, config_id: str, book: str):
    return facade.drift(session.store(), config_id, book)


try:
    report = load(str(session.data_dir()), config_id, book)
except WorkbenchError as exc:
    st.error(exc.message)
    if exc.hint:
        st.caption(f"What to do: {exc.hint}")
    st.stop()

equity = report.equity
slip = report.mean_slippage_bps
with st.container(horizontal=True, gap="small"):
    st.metric("Live equity", views.money(equity["live"].iloc[-1]), border=True)
    st.metric("Backtest equity", views.money(equity["backtest"].iloc[-1]), border=True)
    st.metric("Gap", views.money(report.gap, signed=True), border=True)
    st.metric("Mean slippage vs model", "—" if slip is None else f"{slip:+.1f} bps", border=True,
              help="Each live fill against the backtest's fill of the same order; + is a cost.")  # fmt: skip
    st.metric("Unexplained", views.money(report.unexplained, signed=True), border=True)
st.caption(" ".join(report.notes))

st.plotly_chart(views.drift_chart(equity), key="drift_chart", config={"displayModeBar": False})

MONEY = st.column_config.NumberColumn(format="$%,.2f")
st.markdown("###### The gap by cause")
causes = report.by_cause()
if causes.empty:
    st.success("Nothing to explain: the book traded as the backtest did.")
else:
    st.dataframe(causes, hide_index=True, key="drift_causes",
                 column_config={"category": "Part", "cause": "Cause", "amount": MONEY,
                                "items": "Items"})  # fmt: skip

parts, fills = st.tabs(["Each part", "Fills, live beside the backtest's"])
with parts:
    views.table(report.attribution, key="drift_parts",
                column_config={"amount": MONEY, "entry_date": st.column_config.DateColumn("Entered"),
                               "detail": st.column_config.TextColumn("Detail", width="large")})  # fmt: skip
with fills:
    views.table(report.fills, key="drift_fills",
                column_config={
                    "bar_date": st.column_config.DateColumn("Session"),
                    "price": st.column_config.NumberColumn("Live price", format="$%.2f"),
                    "model_price": st.column_config.NumberColumn("Model price", format="$%.2f"),
                    "decision_price": st.column_config.NumberColumn("Decision close", format="$%.2f"),
                    "slippage_bps": st.column_config.NumberColumn("Slippage vs model (bps)", format="%+.1f"),
                    "vs_decision_bps": st.column_config.NumberColumn("vs decision close (bps)", format="%+.1f"),
                })  # fmt: skip
