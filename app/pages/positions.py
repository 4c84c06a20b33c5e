"""Positions: what is held, its unrealised P&L and risk to the stop; close or tighten per row."""

import math

import streamlit as st

from app import facade, forms, overrides, session, views
from engine.errors import InputError
from engine.live.commands import ClosePosition

store, visitor = session.store(), session.visitor()
views.page_title("Positions")
overrides.notices()

COLUMNS = {
    "symbol": st.column_config.TextColumn("Symbol", pinned=True),
    "qty": st.column_config.NumberColumn("Qty", format="%.0f"),
    "avg_price": st.column_config.NumberColumn("Avg price", format="$%.2f"),
    "price": st.column_config.NumberColumn("Last", format="$%.2f"),
    "market_value": st.column_config.NumberColumn("Market value", format="$%,.0f"),
    "weight": st.column_config.NumberColumn("Weight", format="percent"),
    "unrealised_pnl": st.column_config.NumberColumn("Unrealised P&L", format="accounting"),
    "unrealised_pct": st.column_config.NumberColumn("P&L %", format="percent"),
    "stop_price": st.column_config.NumberColumn("Stop", format="$%.2f"),
    "risk_to_stop": st.column_config.NumberColumn("Risk to stop", format="$%,.0f"),
    "risk_pct": st.column_config.NumberColumn("Risk % equity", format="percent"),
    "config_id": st.column_config.TextColumn("Config"),
}


@st.fragment(run_every="5s")
def table() -> None:
    book = facade.book(store)
    positions = book.positions
    with st.container(horizontal=True, gap="small"):
        st.metric("Positions", f"{len(positions)}", border=True)
        st.metric(
            "Market value",
            views.money(positions["market_value"].sum() if len(positions) else 0),
            border=True,
        )
        st.metric(
            "Unrealised P&L",
            views.money(positions["unrealised_pnl"].sum() if len(positions) else 0, signed=True),
            border=True,
        )
        st.metric("Open risk (to stops)", views.money(book.open_risk), border=True)
        st.metric("Equity", views.money(book.equity), border=True)
    if positions.empty:
        views.empty_state(
            "No open positions. "
            + (f"Book {book.source}." if book.as_of else book.source.capitalize() + ".")
        )
        return
    st.dataframe(
        positions, hide_index=True, width="stretch", column_config=COLUMNS, key="positions_table"
    )
    st.caption(f"Book {book.source}.")


table()

if visitor.can_trade:
    book = facade.book(store)
    if len(book.positions):
        st.markdown("###### Per position")
        problem = None
        for row in book.positions.itertuples():
            symbol = row.symbol
            stop = "no stop" if math.isnan(row.stop_price) else f"stop ${row.stop_price:,.2f}"
            label, close, entry, tighten, _ = st.columns(
                [2.2, 0.8, 1.2, 1.1, 3], vertical_alignment="center", gap="small"
            )
            label.markdown(f"**{symbol}** · {row.qty:,.0f} @ ${row.price:,.2f} · {stop}")
            if close.button(
                "Close", key=f"close_{symbol}", icon=":material/close:", width="stretch"
            ):
                overrides.ask("close", symbol=symbol)
            new_stop = entry.number_input(
                f"New stop for {symbol}", min_value=0.0, value=None, step=0.01, format="%.2f",
                key=f"stop_{symbol}", placeholder="new stop", label_visibility="collapsed",
            )  # fmt: skip
            if tighten.button(
                "Tighten stop", key=f"tighten_{symbol}", icon=":material/vertical_align_top:",
                width="stretch",
            ):  # fmt: skip
                try:
                    command = forms.check_tighten_stop(
                        symbol=symbol, new_stop=new_stop, current_stop=row.stop_price,
                        last_price=row.price,
                    )  # fmt: skip
                    st.session_state[overrides.NOTICE_KEY] = overrides.submit(
                        store, visitor, command
                    )
                    st.rerun()
                except InputError as exc:
                    problem = str(exc)
        if problem:
            st.error(problem)
        closing = overrides.asking("close")
        if closing:
            symbol = closing["symbol"]
            held = book.positions[book.positions["symbol"] == symbol]
            size = f"{held['qty'].iloc[0]:,.0f} shares" if len(held) else "the position"
            overrides.confirm(
                f"Close {symbol}?",
                f"Sells **{size} of {symbol} at market** at the loop's next step.",
                lambda: overrides.submit(store, visitor, ClosePosition(symbol=symbol)),
                label=f"Yes, close {symbol}",
            )
    overrides.my_commands(store)
