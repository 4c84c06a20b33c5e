"""Audit: the append-only event log, filterable by kind, actor, subject and time."""

from datetime import datetime, time, timedelta

import streamlit as st

from app import facade, figures, session, views

store = session.store()
views.page_title(
    "Audit", "Every command, fill, approval and run, newest first. Nothing here is ever edited."
)


@st.cache_data(ttl=60, show_spinner=False)
def choices(path: str) -> tuple[list[str], list[str]]:
    return facade.audit_choices(session.store())


kinds, actors = choices(str(session.data_dir()))
families = sorted({k.split(".")[0] + "." for k in kinds} | set(kinds))
filters = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
kind = filters.selectbox(
    "Kind",
    families,
    index=None,
    key="audit_kind",
    placeholder="any",
    width=240,
    help="A family (e.g. command.) or one kind",
)
actor = filters.selectbox(
    "Actor", actors, index=None, key="audit_actor", placeholder="anyone", width=200
)
subject = filters.text_input(
    "Subject", key="audit_subject", placeholder="symbol, config or order id", width=220
)
since = filters.date_input("From", value=None, key="audit_since", width=150)
until = filters.date_input("To", value=None, key="audit_until", width=150)
limit = filters.selectbox("Rows", [100, 500, 2000], index=1, key="audit_limit", width=100)
older = st.session_state.get("audit_before")

wanted = facade.AuditFilter(
    kind=kind,
    actor=actor,
    subject=(subject or "").strip() or None,
    since=datetime.combine(since, time.min) if since else None,
    until=datetime.combine(until, time.min) + timedelta(days=1) if until else None,
    before_id=older,
    limit=limit,
)
events = facade.audit(store, wanted)
if events.empty:
    views.empty_state(
        "No events match."
        if any([kind, actor, subject, since, until, older])
        else "The audit trail is empty: events appear as soon as anything happens."
    )
else:
    shown = views.events_in_words(events)[["id", "ts", "bar", "actor", "kind", "subject", "payload"]]
    selection = views.table(
        shown,
        key="events_table",
        height=560,
        on_select="rerun",
        selection_mode="single-row",
        column_config=views.EVENT_COLUMNS,
    )
    rows = selection.selection.rows if selection else []
    nav = st.container(horizontal=True, gap="small")
    nav.caption(
        f"{len(events):,} events, #{int(events['id'].min()):,} to #{int(events['id'].max()):,}"
    )
    if len(events) == limit and nav.button(
        "Older", key="audit_older", icon=":material/arrow_downward:"
    ):
        st.session_state["audit_before"] = int(events["id"].min())
        st.rerun()
    if older and nav.button("Newest", key="audit_newest", icon=":material/vertical_align_top:"):
        st.session_state.pop("audit_before", None)
        st.rerun()
    if rows:
        event = events.iloc[rows[0]]
        bar = figures.event_bar(event["payload"])
        st.markdown(f"###### Event #{event['id']} · {event['kind']} · {event['actor']}")
        st.caption(f"{event['ts']:%Y-%m-%d %H:%M:%S} UTC" + (f" · bar {bar}" if bar else ""))
        st.markdown("\n".join(f"- {line}" for line in figures.event_changes(event["payload"], limit=60))
                    or "_Nothing more recorded._")  # fmt: skip
