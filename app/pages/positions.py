"""Positions: what is held, its unrealised P&L and risk to the stop; close or tighten per row."""

import math

import streamlit as st

from app import facade, forms, overrides, session, views
from engine.errors import InputError
from engine.live.commands import ClosePosition

store, visitor = session.store(), session.visitor()
views.page_title("Positions")
overrides.notices()


@st.fragment(run_every="5s")
def table() -> None:
    """The positions and, for a trader, one row of controls per position shown: both from the
    same read, so a control never outlives its row."""
    book = facade.book(store, session.book())
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
        views.open_risk_metric(book)
        st.metric("Equity", views.money(book.equity), border=True)
    if positions.empty:
        views.empty_state(
            "No open positions. "
            + (f"Book {book.source}." if book.as_of else book.source.capitalize() + ".")
        )
        return
    limits = facade.trading_status(store).limits
    views.positions_table(positions, book, facade.config_names(store),
                          limits.max_position_pct if limits else None, key="positions_table")  # fmt: skip
    st.caption(f"Book {book.source}.")
    if not visitor.can_trade:
        return
    loop_book = facade.loop_status(store).book
    if loop_book and book.name != loop_book:
        st.info(f"Close and tighten act on the live loop's book ({loop_book}), not on {book.name}: "
                "pick the loop's book to use them.", icon=":material/info:")  # fmt: skip
        return
    controls(book)


def controls(book) -> None:
    st.markdown("###### Per position")
    problem = None
    for row in book.positions.itertuples():
        symbol = row.symbol
        stop = "**no stop**" if math.isnan(row.stop_price) else f"stop ${row.stop_price:,.2f}"
        label, close, entry, tighten, _ = st.columns(
            [2.2, 0.8, 1.2, 1.1, 3], vertical_alignment="center", gap="small"
        )
        label.markdown(f"**{symbol}** · {row.qty:,.0f} @ ${row.price:,.2f} · {stop}")
        if close.button("Close", key=f"close_{symbol}", icon=":material/close:", width="stretch"):
            overrides.ask("close", symbol=symbol, book=book.name)
            st.rerun()
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
                st.session_state[overrides.NOTICE_KEY] = overrides.submit(store, visitor, command)
                st.rerun()
            except InputError as exc:
                problem = str(exc)
    if problem:
        st.error(problem)


def close(symbol: str, book: str | None) -> str:
    """Queue the close, unless the position has gone since the button was drawn (said, not hidden)."""
    held = facade.book(store, book).positions
    if symbol not in set(held["symbol"]):
        raise InputError(
            f"{symbol} is no longer held in {book or 'the book'}: nothing to close",
            hint="it was closed (or stopped out) since the page was drawn",
        )
    return overrides.submit(store, visitor, ClosePosition(symbol=symbol))


table()

if visitor.can_trade:
    closing = overrides.asking("close")
    if closing:
        symbol, book_name = closing["symbol"], closing.get("book")
        held = facade.book(store, book_name).positions
        held = held[held["symbol"] == symbol]
        size = f"{held['qty'].iloc[0]:,.0f} shares" if len(held) else "the position"
        overrides.confirm(
            f"Close {symbol}?",
            f"Sells **{size} of {symbol} at market** at the loop's next step.",
            lambda: close(symbol, book_name),
            label=f"Yes, close {symbol}",
        )
    overrides.my_commands(store)
