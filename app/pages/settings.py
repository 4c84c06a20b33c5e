"""Settings: the risk limits in force, edited through the same validation as a limits file; access."""

import os
import types
import typing

import pandas as pd
import streamlit as st

from app import facade, forms, overrides, session, views
from engine.live.commands import SetRiskLimits
from engine.live.heartbeat import stale_after_s
from engine.risk.limits import LimitsError, RiskLimits, limits_diff
from engine.users import load_users

store, visitor = session.store(), session.visitor()
views.page_title("Settings")
overrides.notices()

trading = facade.trading_status(store)
limits = trading.limits
st.markdown("###### Risk limits")
st.caption(
    f"In force: {trading.limits_note}. New limits go to the live loop as a command and take "
    "effect when it applies them."
)
if trading.limits_problem:
    st.error(trading.limits_problem)
    if visitor.can_trade:
        st.info("The form starts from the default limits: review them, then send them to replace "
                "the invalid ones.")  # fmt: skip
    limits = RiskLimits()


def widget(name: str, field, current, where):
    """The form input for one limit, chosen by its type; returns what was entered."""
    kind, args = field.annotation, typing.get_args(field.annotation)
    label, key, help_text = name.replace("_", " ").capitalize(), f"limit_{name}", field.description
    if kind is bool:
        return where.checkbox(label, value=current, key=key, help=help_text)
    if typing.get_origin(kind) is typing.Literal:
        return where.selectbox(
            label, list(args), index=list(args).index(current), key=key, help=help_text
        )
    if kind is int:
        return where.number_input(label, value=int(current), step=1, key=key, help=help_text)
    if kind is str:
        return where.text_input(label, value=current, key=key, help=help_text)
    if name in forms.PERCENT_LIMITS:  # a fraction of equity, typed as a percentage
        return where.number_input(
            f"{label} (%)", value=round(float(current), 4), step=0.1, format="%.2f", key=key,
            help=help_text,
        )  # fmt: skip
    if kind is float or (isinstance(kind, types.UnionType) and float in args):
        return where.number_input(
            f"{label} ($)" if name in forms.MONEY_LIMITS else label,
            value=None if current is None else float(current),
            format="%.2f",
            key=key,
            help=help_text,
            placeholder="none",
        )
    return where.text_input(label, value=", ".join(sorted(current)), key=key, help=help_text)


if visitor.can_trade:
    with st.form("limits", border=True):
        entered, shown = {}, forms.form_values(limits)
        for group, fields in forms.limit_groups():
            st.markdown(f"**{group}**")
            columns = st.columns(6)
            for i, (name, field) in enumerate(fields):
                entered[name] = widget(name, field, shown[name], columns[i % 6])
        review = st.form_submit_button("Review changes", key="limits_review")
    if review:
        try:
            new = forms.limits_from_form(entered)
        except LimitsError as exc:
            for name, problem in exc.problems.items():
                st.error(f"**{name}**: {problem}")
        else:
            changes = limits_diff(limits, new)
            if not changes:
                st.info("Nothing changed.")
            else:
                overrides.ask(
                    "limits",
                    limits=new.to_mapping(),
                    changes={k: list(v) for k, v in changes.items()},
                )
    pending = overrides.asking("limits")
    if pending:
        rows = "\n".join(
            f"| {name.replace('_', ' ')} | {forms.limit_text(name, old)} | **{forms.limit_text(name, new)}** |"
            for name, (old, new) in pending["changes"].items()
        )
        overrides.confirm(
            "Change the risk limits?",
            f"| limit | now | new |\n|---|---|---|\n{rows}\n\nThe live loop validates them "
            "again and applies them at its next step.",
            lambda: overrides.submit(store, visitor, SetRiskLimits(limits=pending["limits"])),
            label="Send new limits",
        )
    overrides.my_commands(store)
elif not trading.limits_problem:
    mapping = limits.to_mapping()
    views.table(
        pd.DataFrame(
            {
                "limit": [name.replace("_", " ") for name in mapping],
                "value": [forms.limit_text(name, v) for name, v in mapping.items()],
                "meaning": [f.description for _, f in forms.limit_fields()],
            }
        ),
        key="limits_readonly",
    )

st.markdown("###### Access")
users = load_users()
address = session.served_address()
facts = {
    "You": f"{visitor.name} ({visitor.role})",
    "Login": "required" if users else "off: serving this machine only (loopback)",
    "Listening on": address or "every interface",
    "Users": ", ".join(f"{u.name} ({u.role})" for u in users.values()) or "none configured",
    "Broker keys": "Alpaca keys are set in the environment (never shown)"
    if any(k.startswith("APCA_") for k in os.environ)
    else "no Alpaca keys in the environment",
    "Data dir": str(session.data_dir()),
    "Heartbeat stale after": f"{stale_after_s():.0f} s (WB_HEARTBEAT_STALE_S)",
}
views.table(
    pd.DataFrame({"setting": list(facts), "value": list(facts.values())}),
    key="access_table",
)
