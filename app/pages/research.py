"""Research: notebook runs with status and parameters; start one; read the executed notebook."""

import json

import pandas as pd
import streamlit as st

from app import facade, research_runs, session, views
from engine.errors import InputError, WorkbenchError

store, visitor = session.store(), session.visitor()
views.page_title(
    "Research", "Notebook runs (papermill), newest first. A failed cell fails only its own run."
)


@st.fragment(run_every="10s")
def runs_table() -> list:
    runs = facade.research_runs(store)
    if not runs:
        views.empty_state(
            "No research runs yet: start one below, or with `wb research run NOTEBOOK`."
        )
        return []
    table = pd.DataFrame(
        [
            {
                "run_id": r.run_id,
                "notebook": r.name,
                "status": r.status,
                "actor": r.actor,
                "started_at": r.started_at,
                "duration_s": r.duration_s,
                "parameters": json.dumps(r.parameters, default=str),
                "proposed": ", ".join(f"{c.config_id} ({c.verdict})" for c in r.configs_proposed),
                "error": r.error.describe() if r.error else "",
            }
            for r in runs
        ]
    )
    views.table(
        views.coloured(table, "status"),
        key="runs_table",
        column_config={
            "run_id": "Run",
            "notebook": "Notebook",
            "status": "Status",
            "actor": "Started by",
            "proposed": "Configs proposed",
            "started_at": st.column_config.DatetimeColumn(
                "Started (UTC)", format="YYYY-MM-DD HH:mm:ss"
            ),
            "duration_s": st.column_config.NumberColumn("Seconds", format="%.1f"),
            "parameters": st.column_config.TextColumn("Parameters", width="medium"),
            "error": st.column_config.TextColumn("Error", width="large"),
        },
    )
    return runs


runs = runs_table() or facade.research_runs(store)

if runs:
    st.markdown("###### Executed notebook")
    by_id = {r.run_id: r for r in runs}
    chosen = st.selectbox(
        "Run",
        list(by_id),
        key="run_chosen",
        format_func=lambda i: f"{i} · {by_id[i].name} · {by_id[i].status}",
    )
    run = by_id[chosen]
    if run.output_path is None:
        st.caption(
            "This run kept no executed notebook (its parameters were refused before it started)."
        )
    elif st.toggle("Open the executed notebook", key=f"open_{run.run_id}"):
        try:
            html = research_runs.notebook_html(run.output_path, session.data_dir())
        except WorkbenchError as exc:
            st.warning(str(exc))
        else:
            st.download_button(
                "Download HTML",
                html,
                file_name=f"{run.name}-{run.run_id}.html",
                mime="text/html",
                key="download_html",
                icon=":material/download:",
            )
            st.iframe(html, height=700)

if visitor.can_trade:
    from engine.research.notebook_params import (
        INJECTED,
        check_parameters,
        notebook_parameters,
        parse_cli_value,
    )

    @st.cache_data(show_spinner=False)
    def parameters(path: str, modified: float) -> list:
        # Reading a notebook's parameters starts papermill: once per notebook version.
        return notebook_parameters(path)

    st.markdown("###### Start a run")
    notebooks = research_runs.available_notebooks()
    if not notebooks:
        views.empty_state(f"No notebooks in {research_runs.notebooks_dir()}.")
        st.stop()
    path = st.selectbox("Notebook", notebooks, format_func=lambda p: p.name, key="run_notebook")
    declared = [p for p in parameters(str(path), path.stat().st_mtime) if p.name not in INJECTED]
    with st.form(f"run_{path.stem}", border=True):
        values = {}
        columns = st.columns(3)
        for i, parameter in enumerate(declared):
            where, default = columns[i % 3], research_runs.default_value(parameter.default)
            label = f"{parameter.name} ({parameter.describe_type()})"
            key = f"param_{path.stem}_{parameter.name}"
            if parameter.type == "bool":
                values[parameter.name] = where.checkbox(
                    label, value=bool(default), key=key, help=parameter.help or None
                )
            elif parameter.type == "int" and isinstance(default, int):
                values[parameter.name] = where.number_input(label, value=default, step=1, key=key)
            elif parameter.type == "float" and isinstance(default, int | float):
                values[parameter.name] = where.number_input(label, value=float(default), key=key)
            elif parameter.type == "str" and isinstance(default, str):
                values[parameter.name] = where.text_input(label, value=default, key=key)
            else:  # lists, dicts, optional values: typed as YAML, e.g. [AAPL, GE]
                text = where.text_input(
                    label,
                    value=json.dumps(default) if not isinstance(default, str) else default,
                    key=key,
                    help="YAML, e.g. [AAPL, GE] or null",
                )
                values[parameter.name] = parse_cli_value(parameter, text)
        start = st.form_submit_button("Start run", key="start_run", icon=":material/play_arrow:")
    if start:
        changed = {
            name: value
            for name, value in values.items()
            if value
            != research_runs.default_value(next(p.default for p in declared if p.name == name))
        }
        try:
            check_parameters(changed, declared, notebook=path.name)
            log = research_runs.launch(session.data_dir(), path, changed, visitor.name)
            st.success(
                f"Started {path.name} with {json.dumps(changed) if changed else 'its defaults'}; "
                f"it appears above within seconds (log: {log.name})."
            )
        except InputError as exc:
            st.error(str(exc))
