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

from app import facade, figures, overrides, session, views  # noqa: E402
from engine.errors import StoreDamagedError  # noqa: E402

st.set_page_config(
    page_title="Control room · Trading Workbench",
    page_icon="📈",
    layout="wide",
    initial_sidebar_state="expanded",
)

PAGES = ROOT / "app" / "pages"
#: Every page, in the order and sections the navigation shows them: one line registers a page
#: (section, file in app/pages, title, icon). The first is where the control room opens.
SITE = [
    ("Trading", "overview.py", "Overview", ":material/monitoring:"),
    ("Trading", "positions.py", "Positions", ":material/account_balance_wallet:"),
    ("Trading", "orders.py", "Orders and fills", ":material/receipt_long:"),
    ("Trading", "risk.py", "Risk", ":material/shield:"),
    ("Trading", "performance.py", "Performance", ":material/query_stats:"),
    ("Trading", "drift.py", "Live vs backtest", ":material/compare:"),
    ("Research", "strategies.py", "Strategies", ":material/strategy:"),
    ("Research", "research.py", "Research", ":material/science:"),
    ("Records", "audit.py", "Audit", ":material/history:"),
    ("Records", "settings.py", "Settings", ":material/tune:"),
]


def navigation_menu() -> dict[str, list]:
    """The pages by section, from SITE: all of them in view in the sidebar, none behind a menu."""
    sections: dict[str, list] = {}
    for n, (section, file, title, icon) in enumerate(SITE):
        page = st.Page(PAGES / file, title=title, icon=icon, default=n == 0)
        sections.setdefault(section, []).append(page)
    return sections


def main() -> None:
    visitor = session.gate()
    session.write_cookie()
    if visitor is None:
        st.navigation([st.Page(lambda: None, title="Log in", url_path="login")], position="hidden")
        return
    navigation = st.navigation(navigation_menu(), position="sidebar", expanded=True)
    store = session.store()
    strip, picker, menu = st.columns([5.6, 1.6, 1], vertical_alignment="top")
    with strip:
        status_strip()
    with picker:
        session.book_picker(
            [b.name for b in facade.books(store)], facade.shown_book(store, None)
        )
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
    """Loop heartbeat, trading state, kill switch and pending commands on every page,
    refreshed every 5 seconds; a trader can cancel a pending command from here."""
    store, visitor = session.store(), session.visitor()
    loop, trading = facade.status(store)
    waiting = facade.pending(store)
    views.loop_banner(loop, trading, waiting)
    if len(waiting) and visitor is not None and visitor.can_trade:
        cancel_pending(store, visitor, waiting)


def cancel_pending(store, visitor, waiting) -> None:
    """A popover listing the pending commands, each with a Cancel button."""
    with st.popover(f"{len(waiting)} pending: cancel…", icon=":material/undo:"):
        for row in waiting.itertuples():
            label = f"#{row.id} {figures.pending_label(row.kind, row.payload)} (by {row.actor})"
            text, button = st.columns([3, 1], vertical_alignment="center")
            text.markdown(label)
            if button.button("Cancel", key=f"cancel_command_{row.id}"):
                done = facade.cancel(store, int(row.id), visitor)
                st.session_state[overrides.NOTICE_KEY] = (
                    f"Command #{row.id} canceled: the loop will not apply it."
                    if done
                    else f"Too late: the loop already decided command #{row.id} (see its result)."
                )
                st.rerun()


try:
    main()
except StoreDamagedError as exc:  # the disk lied: say how to restore, not a traceback
    st.error(f"The store cannot be read: {exc.message}")
    st.info(f"What to do: {exc.hint}")
