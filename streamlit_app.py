"""The control room's entry: `wb app` (or `streamlit run streamlit_app.py`) serves this.

Logs the visitor in (when users are configured), draws the live status strip that every
page shares, and routes with st.navigation to the pages in app/pages.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # `streamlit run` from elsewhere still imports app and engine
    sys.path.insert(0, str(ROOT))

from app import facade, session, views  # noqa: E402
from engine.errors import StoreDamagedError  # noqa: E402

st.set_page_config(
    page_title="Control room · Trading Workbench",
    page_icon="📈",
    layout="wide",
    initial_sidebar_state="collapsed",
)

PAGES = ROOT / "app" / "pages"


def main() -> None:
    visitor = session.gate()
    if visitor is None:
        st.navigation([st.Page(lambda: None, title="Log in", url_path="login")], position="hidden")
        return
    navigation = st.navigation(
        {
            "Trading": [
                st.Page(
                    PAGES / "overview.py",
                    title="Overview",
                    icon=":material/monitoring:",
                    default=True,
                ),
                st.Page(
                    PAGES / "positions.py",
                    title="Positions",
                    icon=":material/account_balance_wallet:",
                ),
                st.Page(
                    PAGES / "orders.py", title="Orders and fills", icon=":material/receipt_long:"
                ),
                st.Page(PAGES / "risk.py", title="Risk", icon=":material/shield:"),
                st.Page(
                    PAGES / "performance.py", title="Performance", icon=":material/query_stats:"
                ),
                st.Page(PAGES / "drift.py", title="Live vs backtest", icon=":material/compare:"),
            ],
            "Research": [
                st.Page(PAGES / "strategies.py", title="Strategies", icon=":material/strategy:"),
                st.Page(PAGES / "research.py", title="Research", icon=":material/science:"),
            ],
            "Records": [
                st.Page(PAGES / "audit.py", title="Audit", icon=":material/history:"),
                st.Page(PAGES / "settings.py", title="Settings", icon=":material/tune:"),
            ],
        },
        position="top",
    )
    strip, menu = st.columns([7, 1], vertical_alignment="top")
    with strip:
        status_strip()
    with menu, st.popover(visitor.name, icon=":material/person:", width="stretch"):
        st.markdown(f"**{visitor.name}** · {visitor.role}")
        st.caption(f"Data dir `{session.data_dir()}`")
        if not visitor.name.startswith("local:") and st.button(
            "Log out", icon=":material/logout:", key="logout"
        ):
            session.log_out()
            st.rerun()
    navigation.run()


@st.fragment(run_every="5s")
def status_strip() -> None:
    """Loop heartbeat, trading state and kill switch on every page, refreshed every 5 seconds."""
    store = session.store()
    views.loop_banner(*facade.status(store))


try:
    main()
except StoreDamagedError as exc:  # the disk lied: say how to restore, not a traceback
    st.error(f"The store cannot be read: {exc.message}")
    st.info(f"What to do: {exc.hint}")
