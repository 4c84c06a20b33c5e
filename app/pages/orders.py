"""Orders and fills: filterable, each fill with its slippage against the decision price; order ticket."""

import streamlit as st

from app import facade, forms, overrides, session, views
from engine.errors import InputError

store, visitor = session.store(), session.visitor()
views.page_title(
    "Orders and fills",
    "Slippage is measured against the decision price (the close of the bar the order was "
    "decided on), in basis points; positive means it cost money.",
)
overrides.notices()
overrides.proposals(store, visitor, session.book())

filters = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
symbols = filters.multiselect(
    "Symbols", facade.traded_symbols(store, session.book()), key="of_symbols", width=320, placeholder="all"
)
side = filters.segmented_control("Side", ["buy", "sell"], key="of_side")
status = filters.selectbox(
    "Order status",
    ["all", "open", "filled", "canceled", "expired", "rejected", "denied"],
    help="denied: refused by the risk gate before reaching the broker (the reason says which rule)",
    key="of_status",
    width=160,
)
since = filters.date_input("Since", value=None, key="of_since", width=160)
limit = filters.selectbox("Rows", [100, 500, 2000], index=1, key="of_limit", width=100)

@st.fragment(run_every="10s")
def tables() -> None:
    data = facade.orders_and_fills(
        store,
        book=session.book(),
        symbols=symbols or None,
        side=side,
        status=None if status == "all" else status,
        since=since,
        limit=limit,
    )
    names = facade.config_names(store)
    orders, fills = views.named_configs(data.orders, names), views.named_configs(data.fills, names)

    # An intraday book's bars are times (New York, to the minute, as text); a daily book's dates.
    def days(columns: list[str]) -> list[str]:
        return [] if data.intraday else columns

    def bar_column(label: str):
        if data.intraday:
            return st.column_config.TextColumn(f"{label} (New York)")
        return st.column_config.DateColumn(label)

    def utc_column(label: str):
        return st.column_config.DatetimeColumn(f"{label} (UTC)", format="YYYY-MM-DD HH:mm")

    # What an order and each of its fills both say: what was traded, on which bar's
    # decision, why, and by whose id.
    traded = {
        "symbol": "Symbol",
        "side": "Side",
        "type": "Type",
        "qty": "Qty",
        "decision_bar": bar_column("Decision bar"),
        "purpose": "Purpose",
        "config_id": "Strategy",
        "client_order_id": st.column_config.TextColumn("Client order id", width="medium"),
    }

    with st.container(horizontal=True, gap="small"):
        st.metric("Orders shown", f"{len(orders):,}", border=True)
        denied = int((orders["status"] == "denied").sum()) if len(orders) else 0
        st.metric("Denied by the gate", f"{denied:,}", border=True)
        st.metric("Fills shown", f"{len(fills):,}", border=True)
        st.metric("Traded", views.money(fills["notional"].sum() if len(fills) else 0), border=True)
        st.metric("Fees", views.money(fills["fee"].sum() if len(fills) else 0), border=True)
        mean = fills["slippage_bps"].mean() if len(fills) else None
        st.metric(
            "Mean slippage",
            "—" if mean is None or mean != mean else f"{mean:+.1f} bps",
            border=True,
        )
    orders_tab, fills_tab = st.tabs(["Orders", "Fills"])
    with orders_tab:
        if orders.empty:
            views.empty_state(
                "No orders match."
                if (symbols or side or status != "all" or since)
                else "No orders yet: the live loop (or a manual order) places them."
            )
        else:
            views.table(
                views.coloured(orders, "status", dollars=["limit_price", "stop_price", "filled_avg_price"],
                               shares=["qty", "filled_qty"], days=days(["decision_bar"]),
                               times=["submitted_at", "updated_at"]),  # fmt: skip
                key="orders_table",
                column_config={
                    **traded,
                    "submitted_at": utc_column("Submitted"),
                    "updated_at": utc_column("Updated"),
                    "limit_price": "Limit",
                    "stop_price": "Stop",
                    "filled_avg_price": "Avg fill",
                    "filled_qty": "Filled",
                    "status": "Status",
                    "time_in_force": "TIF",
                    "reason": st.column_config.TextColumn("Reason", width="medium"),
                    "id": st.column_config.TextColumn("Broker id", width="small"),
                },
            )
    with fills_tab:
        if fills.empty:
            views.empty_state("No fills match." if (symbols or side or since) else "No fills yet.")
        else:
            views.table(
                views.coloured(fills, dollars=["price", "decision_price", "fee", "notional"],
                               shares=["qty"], bps=["slippage_bps"],
                               days=days(["bar_date", "decision_bar"]), times=["filled_at"]),  # fmt: skip
                key="fills_table",
                column_config={
                    **traded,
                    "filled_at": utc_column("Filled"),
                    "price": "Price",
                    "decision_price": "Decision price",
                    "slippage_bps": "Slippage (bps)",
                    "fee": "Fee",
                    "notional": "Notional",
                    "bar_date": bar_column("Fill bar"),
                    "order_id": st.column_config.TextColumn("Broker id", width="small"),
                },
            )


tables()

if visitor.can_trade:
    open_orders = facade.orders_and_fills(store, status="open", limit=200).orders
    overrides.cancel_orders(store, visitor, open_orders, facade.loop_status(store))
    st.markdown("###### Manual order")
    universe = facade.universe(store)
    if not universe:
        views.empty_state(
            "No symbols to trade: ingest bars (`wb ingest`) or approve a config first."
        )
    else:
        with st.form("ticket", border=True):
            row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")

            def price(kind: str) -> float | None:
                """The ticket's limit or stop price, to the cent (read only for that order type)."""
                return row.number_input(
                    f"{kind.title()} price", min_value=0.0, value=None, step=0.01, format="%.2f",
                    key=f"ticket_{kind}", width=140, help=f"{kind.title()} orders only",
                )  # fmt: skip

            # What the trader types, under the order's own field names.
            ticket = {
                "symbol": row.selectbox(
                    "Symbol", universe, index=None, key="ticket_symbol", placeholder="symbol",
                    width=160,
                ),
                "side": row.segmented_control(
                    "Side", ["buy", "sell"], default="buy", key="ticket_side"
                ),
                "qty": row.number_input(
                    "Quantity", min_value=0.0, value=None, step=1.0, format="%.0f",
                    key="ticket_qty", width=140,
                ),
                "order_type": row.selectbox(
                    "Type", ["market", "limit", "stop"], key="ticket_type", width=120
                ),
                "limit_price": price("limit"),
                "stop_price": price("stop"),
            }  # fmt: skip
            review = row.form_submit_button("Review order", key="ticket_review")
        if review:
            symbol = ticket["symbol"]
            last = facade.last_price(store, symbol) if symbol else None
            try:
                order = forms.check_manual_order(
                    ticket, universe=universe, last_price=last[0] if last else None
                )
                overrides.ask("manual_order", order=order.model_dump(), last=last)
            except InputError as exc:
                st.error(str(exc))
        pending = overrides.asking("manual_order")
        if pending:
            from engine.live.commands import ManualOrder

            order = ManualOrder(**pending["order"])
            last_price, last_day = pending["last"]
            at = order.limit_price or order.stop_price
            how = f"{order.order_type} ${at:,.2f}" if at else "at market"
            overrides.confirm(
                "Send this order?",
                f"**{order.side.upper()} {order.qty:,.0f} {order.symbol} {how}** (last price "
                f"${last_price:,.2f} on {last_day}; about {views.money(order.qty * (at or last_price))})."
                "\n\nThe live loop passes it through the same risk gate as a strategy's orders; "
                "the gate may deny it, with the reason.",
                lambda: overrides.submit(store, visitor, order),
                label="Send order",
            )
    overrides.my_commands(store)
