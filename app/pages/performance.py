"""Performance: return over a period, P&L by day/week/month, closed trades, results by symbol
and strategy, and a symbol's price chart with the book's entries, exits and stops."""

import pandas as pd
import streamlit as st

from app import charts, facade, session, views
from engine.errors import InputError
from engine.live import performance as perf
from engine.live.round_trips import closed

store = session.store()
views.page_title(
    "Performance",
    "Prices as traded: realised P&L matches each sale to the oldest shares still held "
    "(first in, first out) at the fills' traded prices, net of fees; equity is the live "
    "loop's mark of the book at each close.",
)


@st.cache_data(show_spinner="Matching the book's fills…", max_entries=4)
def load(path: str, book: str | None, marker: tuple) -> facade.Performance:
    # Read again only when the book's marks or fills change (its marker), not on each click.
    return facade.performance(session.store(), book)


data = load(str(session.data_dir()), session.book(), facade.book_marker(store, session.book()))
trips, starting = data.trades.trips, data.trades.starting_cash
if data.book is None:
    views.empty_state("No book yet: the live loop (`wb live`) or a paper account makes one.")
    st.stop()
st.caption(f"Book `{data.book}` · {data.trades.fills:,} fills matched.")

done = closed(trips)
wins = done["realised_pnl"] > 0
gains, losses = done.loc[wins, "realised_pnl"].sum(), -done.loc[~wins, "realised_pnl"].sum()
with st.container(horizontal=True, gap="small"):
    st.metric(
        "Realised P&L", views.money(trips["realised_pnl"].sum() if len(trips) else 0, signed=True),
        help="Every round trip's, and what partial exits of open positions realised.",
        border=True,
    )  # fmt: skip
    st.metric("Closed trades", f"{len(done):,}", border=True)
    st.metric("Win rate", views.pct(wins.mean() if len(done) else None, digits=0), border=True)
    st.metric(
        "Profit factor", f"{gains / losses:.2f}" if losses else "—",
        help="Gains of winning trades over losses of losing ones.", border=True,
    )  # fmt: skip
    st.metric(
        "Average holding time",
        charts.holding_text(done["held"].mean() if len(done) else None),
        border=True,
    )

# -- the equity over a period --------------------------------------------------------------
st.markdown("###### Equity over a period")
if data.curve.empty:
    views.empty_state("No equity marks yet: the live loop marks the book at each step.")
else:
    period = st.segmented_control("Period", perf.PERIODS, default="1M", key="perf_period") or "all"
    window = perf.period_return(data.curve, period, starting)
    last = pd.Timestamp(data.curve["bar_date"].iloc[-1]).date()
    left, right = st.columns([1, 4], vertical_alignment="top")
    left.metric(
        f"Return, {period}", views.pct(window.return_pct, signed=True),
        delta=views.money(window.pnl, signed=True), border=True,
    )  # fmt: skip
    left.caption(
        f"From the {window.base_label} ({views.money(window.base)}) to the close of {last} "
        f"({views.money(window.end)})."
    )
    right.plotly_chart(
        charts.period_chart(window), key="period_chart", config={"displayModeBar": False}
    )
    bucket = st.segmented_control("P&L by", list(perf.BUCKETS), default="day", key="perf_bucket")
    by_period = perf.pnl_by_period(data.curve, bucket or "day", starting)
    st.plotly_chart(
        charts.pnl_bars(by_period, bucket or "day"),
        key="pnl_by_period",
        config={"displayModeBar": False},
    )

# -- closed trades, by symbol, by strategy -------------------------------------------------
#: Realised P&L, shown alike in a trade's row and in a symbol's or a strategy's total.
REALISED_PNL = st.column_config.NumberColumn("Realised P&L", format="accounting")
TRADE_COLUMNS = {
    "closed_at": st.column_config.DatetimeColumn("Closed (UTC)", format="YYYY-MM-DD HH:mm"),
    "opened_at": st.column_config.DatetimeColumn("Opened (UTC)", format="YYYY-MM-DD HH:mm"),
    "symbol": st.column_config.TextColumn("Symbol", pinned=True),
    "strategy": st.column_config.TextColumn("Strategy", width="medium"),
    "direction": "Side",
    "qty": st.column_config.NumberColumn("Qty", format="%,.0f"),
    "entry_price": st.column_config.NumberColumn("Avg entry", format="$%.2f"),
    "exit_price": st.column_config.NumberColumn("Avg exit", format="$%.2f"),
    "realised_pnl": REALISED_PNL,
    "return_pct": st.column_config.NumberColumn("Return", format="percent"),
    "holding": "Held",
    "fees": st.column_config.NumberColumn("Fees", format="$%.2f"),
    "entries": st.column_config.NumberColumn("Entry fills", format="%d"),
    "exits": st.column_config.NumberColumn("Exit fills", format="%d"),
}
GROUP_COLUMNS = {
    "trades": st.column_config.NumberColumn("Closed trades", format="%d"),
    "wins": st.column_config.NumberColumn("Wins", format="%d"),
    "win_rate": st.column_config.NumberColumn("Win rate", format="percent"),
    "realised_pnl": REALISED_PNL,
    "avg_pnl": st.column_config.NumberColumn("Avg per trade", format="accounting"),
    "best": st.column_config.NumberColumn("Best", format="accounting"),
    "worst": st.column_config.NumberColumn("Worst", format="accounting"),
    "profit_factor": st.column_config.NumberColumn("Profit factor", format="%.2f"),
    "holding": "Avg held",
}

trades_tab, symbol_tab, strategy_tab = st.tabs(["Closed trades", "By symbol", "By strategy"])
with trades_tab:
    if done.empty:
        views.empty_state("No closed trades yet: a trade closes when its position is back to flat.")
    else:
        shown = done.assign(holding=done["held"].map(charts.holding_text))
        views.table(shown[list(TRADE_COLUMNS)], column_config=TRADE_COLUMNS, key="trades_table")
    still_open = trips[trips["closed_at"].isna()]
    if len(still_open):
        partial = still_open["realised_pnl"].sum()
        realised = (
            f"; their partial exits realised {views.money(partial, signed=True)}, counted in the "
            "realised P&L above"
            if partial
            else ""
        )
        st.caption(
            f"{len(still_open)} position(s) still open, not in this list "
            f"({', '.join(still_open['symbol'])}){realised}."
        )
for tab, key in ((symbol_tab, "symbol"), (strategy_tab, "strategy")):
    with tab:
        grouped = perf.performance_by(trips, key)
        if grouped.empty:
            views.empty_state("No trades yet.")
            continue
        grouped = grouped.assign(holding=grouped["avg_held"].map(charts.holding_text))
        views.table(
            grouped.drop(columns="avg_held"), key=f"by_{key}_table",
            column_config={key: st.column_config.TextColumn(key.capitalize()), **GROUP_COLUMNS},
        )  # fmt: skip

# -- a symbol's price chart ----------------------------------------------------------------
st.markdown("###### Price chart")
if not data.symbols:
    views.empty_state("No symbol traded yet.")
    st.stop()
choices = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
symbol = choices.selectbox("Symbol", data.symbols, key="chart_symbol", width=160)
sizes = facade.bar_sizes(store, symbol)
if not sizes:
    views.empty_state(f"No bars of {symbol} are stored: `wb ingest --symbols {symbol}`.")
    st.stop()
bar_size = choices.selectbox("Bars", sizes, key="chart_bar_size", width=100)
trading = facade.symbol_trading_of(store, symbol)
start, end = charts.default_window(
    trading.fills["bar_date"], facade.newest_bar(store, symbol, bar_size), bar_size
)
picked = choices.date_input(
    "Dates", value=(start, end), key=f"chart_dates_{symbol}_{bar_size}", width=260
)
if isinstance(picked, tuple) and len(picked) == 2:
    start, end = picked
try:
    chart = facade.price_bars(store, symbol, start, end, bar_size=bar_size)
except InputError as exc:
    views.empty_state(f"{exc.message}. {exc.hint or ''}".strip())
    st.stop()
index = chart.bars.index
fills = trading.fills
if bar_size == "1d":
    fills = fills.assign(at=pd.to_datetime(fills["bar_date"]))
else:
    fills = fills.assign(at=charts.on_bar_axis(fills["filled_at"], index))
in_view = fills[(fills["at"] >= index.min()) & (fills["at"] <= index.max())]
st.plotly_chart(
    charts.price_chart(chart.bars, in_view, charts.stops_on_bars(trading.stops, index), symbol),
    key="price_chart",
    config={"displayModeBar": False},
)
st.caption(
    f"{len(chart.bars):,} {bar_size} bars of {symbol} as traded (not adjusted, like the fills); "
    f"{len(in_view)} of the book's {len(fills)} fills in {symbol} fall in these dates. "
    "Stops are the level the live loop kept at each close."
)
