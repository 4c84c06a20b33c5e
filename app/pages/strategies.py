"""Strategies: the config registry with its evidence; approve, pause, resume or retire with a reason."""

import pandas as pd
import streamlit as st

from app import facade, figures, overrides, session, views
from engine.backtest.labels import LABELS
from engine.research.config_registry import ACTIONS

store, visitor = session.store(), session.visitor()
views.page_title(
    "Strategies",
    "Every config in the registry. Only a validated config can be approved; "
    "every move is audited with who and why.",
)
overrides.notices()

STATUS_BADGE = {
    "approved": "green",
    "validated": "blue",
    "paused": "orange",
    "rejected": "red",
    "retired": "gray",
    "draft": "gray",
}

#: Configs a trader acts on come first; then the newest change.
STATUS_ORDER = ["approved", "paused", "validated", "draft", "rejected", "retired"]
records = sorted(facade.strategies(store), key=lambda r: STATUS_ORDER.index(r.status))
if not records:
    views.empty_state(
        "The registry is empty: propose a config from a research notebook or with "
        "`wb validate`, and it appears here once validated."
    )
    st.stop()


@st.cache_data(ttl=600, show_spinner=False)
def backtest(path: str, config_id: str):
    # A config is content-addressed, so its backtest only changes when the stored bars do.
    return facade.config_backtest(session.store(), config_id)


def summary_row(record) -> dict:
    evidence = record.config.evidence
    oos = evidence.out_of_sample if evidence else {}
    return {
        "strategy": record.strategy,
        "config_id": record.config_id[:8],
        "status": record.status,
        "universe": ", ".join(record.config.universe),
        "bar_size": record.config.bar_size + (" SYNTHETIC" if evidence and evidence.synthetic_bars else ""),
        "oos_sharpe": oos.get("sharpe"),
        "oos_max_drawdown": oos.get("max_drawdown"),
        "oos_trades": oos.get("trades"),
        "deflated_sharpe": evidence.deflated_sharpe if evidence else None,
        "pbo": evidence.pbo if evidence else None,
        "lookahead": ("passed" if evidence.lookahead_passed else "FAILED") if evidence else "—",
        "trials": (evidence.trials.in_ledger if evidence.trials else evidence.n_trials)
        if evidence
        else None,
        "updated_at": record.updated_at,
        "created_by": record.created_by,
    }


table = pd.DataFrame([summary_row(r) for r in records])
statuses = st.pills(
    "Status", sorted(table["status"].unique()), selection_mode="multi", key="cfg_status"
)
shown = table[table["status"].isin(statuses)] if statuses else table
views.table(
    shown,
    key="configs_table",
    column_config={
        "strategy": st.column_config.TextColumn("Strategy", pinned=True),
        "config_id": st.column_config.TextColumn("Id", help="The config's id, shortened"),
        "status": "Status",
        "universe": "Universe",
        "bar_size": st.column_config.TextColumn(
            "Bars", help="The bar size it trades; SYNTHETIC: validated on generated bars"
        ),
        "lookahead": "Look-ahead",
        "trials": st.column_config.NumberColumn(
            "Trials", help="Combinations its family has tried (the trial ledger)"
        ),
        "created_by": "Proposed by",
        "oos_sharpe": st.column_config.NumberColumn("OOS Sharpe", format="%.2f"),
        "oos_max_drawdown": st.column_config.NumberColumn("OOS max DD", format="percent"),
        "oos_trades": st.column_config.NumberColumn("OOS trades", format="%d"),
        "deflated_sharpe": st.column_config.NumberColumn(
            "Deflated Sharpe",
            format="percent",
            help="Probability the true Sharpe is above 0, given the trials",
        ),
        "pbo": st.column_config.NumberColumn(
            "PBO", format="percent", help="Probability of backtest overfitting"
        ),
        "updated_at": st.column_config.DatetimeColumn("Updated (UTC)", format="YYYY-MM-DD HH:mm"),
    },
)

by_id = {r.config_id: r for r in records}
chosen = st.selectbox(
    "Config",
    [r.config_id for r in records if r.config_id[:8] in set(shown["config_id"])] or list(by_id),
    key="cfg_chosen",
    format_func=lambda i: f"{figures.config_label(by_id[i].strategy, i)} · {by_id[i].status}",
)
record = by_id[chosen]
config, evidence = record.config, record.config.evidence

head = st.container(horizontal=True, vertical_alignment="center", gap="small")
head.markdown(
    f"**{record.strategy}** · `{record.config_id}` on {', '.join(config.universe)}, "
    f"{config.bar_size} bars"
)
head.badge(record.status, color=STATUS_BADGE.get(record.status, "gray"))
if evidence and evidence.synthetic_bars:
    head.badge("SYNTHETIC bars", icon=":material/science:", color="violet")
if record.config_id in facade.trading_status(store).paused_configs:
    head.badge("paused in the loop", color="orange")
for reason in record.reasons:
    st.warning(f"Failed validation: {reason}")

left, right = st.columns([1, 1.4])
with left:
    st.markdown("###### Parameters")
    st.markdown(" · ".join(f"`{k}` = **{v}**" for k, v in config.params.items()) or "none")
    with st.expander("Execution and sizing settings (shared by the backtest and the live loop)"):
        settings = config.settings.model_dump(mode="json")
        views.table(
            pd.DataFrame({"setting": [k.replace("_", " ") for k in settings],
                          "value": [figures.value_text(k, v) for k, v in settings.items()]}),  # fmt: skip
            key="settings_table",
        )
    if evidence:
        st.markdown("###### Evidence")
        metrics = pd.DataFrame(
            {"in sample": evidence.in_sample, "out of sample": evidence.out_of_sample}
        )
        metrics = metrics.apply(lambda column: [figures.metric_text(n, v) for n, v in column.items()])
        metrics = metrics.rename(index=LABELS)  # "exposure (avg invested)" beside "time in market"
        st.dataframe(metrics, width="stretch", key="evidence_metrics")
        st.caption(
            f"Walk-forward on {evidence.data_start} to {evidence.data_end}, objective "
            f"{evidence.objective}, "
            + (
                evidence.trials.describe()
                if evidence.trials
                else f"{evidence.n_trials} combinations tried"
            )
            + ". Deflated Sharpe "
            f"{views.pct(evidence.deflated_sharpe, digits=0) if evidence.deflated_sharpe is not None else 'n/a'}, "
            f"PBO {views.pct(evidence.pbo, digits=0) if evidence.pbo is not None else 'n/a'}, "
            f"look-ahead {'passed' if evidence.lookahead_passed else 'FAILED'}"
            + (f" ({evidence.lookahead_detail})" if evidence.lookahead_detail else "")
            + (
                f", warm-up {'passed' if evidence.warmup_passed else 'FAILED'}"
                if evidence.warmup_passed is not None
                else ""
            )
            + "."
            + (f" Figures {evidence.annualisation}." if evidence.annualisation else "")
            + (" Validated on SYNTHETIC bars (generated from daily bars, not real trades)."
               if evidence.synthetic_bars else "")
        )
        if evidence.confidence:
            st.markdown("###### Confidence (out of sample)")
            spread = evidence.confidence
            spreads = (("Sharpe", "sharpe", spread.sharpe),
                       ("max drawdown", "max_drawdown", spread.max_drawdown),
                       ("profit factor", "profit_factor", spread.profit_factor),
                       ("max drawdown, trades reshuffled", "max_drawdown", spread.reshuffled_drawdown))  # fmt: skip
            st.dataframe(
                pd.DataFrame(
                    {
                        label: {k: figures.metric_text(metric, v)
                                for k, v in figure.model_dump().items()}
                        for label, metric, figure in spreads
                    }
                ).T.rename(columns={"p05": "5th pct", "median": "median", "p95": "95th pct"}),
                width="stretch",
                key="confidence_table",
            )
            st.caption(spread.method)
        origin = evidence.provenance
        with st.expander("Where it came from (bars, code, libraries, notebook run)"):
            if origin is None:
                st.caption("Not recorded: validated before the workbench kept provenance.")
            else:
                drift = facade.code_drift(record.config)
                if drift is None:
                    st.success("The code that would trade it is the code it was validated on.")
                else:
                    st.warning(drift.text)
                st.markdown(
                    f"Bars `{origin.bars_sha256[:16]}` · code `{origin.source_sha256}` · engine "
                    f"{origin.engine_version} · "
                    + ", ".join(f"{k} {v}" for k, v in origin.libraries.items() if v)
                )
                if origin.run_id:
                    st.markdown(
                        f"Notebook run `{origin.run_id}`: {origin.notebook} → "
                        f"`{origin.executed_notebook}`"
                    )
                for name, sha in origin.artifacts.items():
                    st.markdown(f"{name}: `{sha}`")
                views.table(
                    pd.DataFrame(
                        {"module": list(origin.sources), "hash": list(origin.sources.values())}
                    ),
                    key="sources_table",
                )
    else:
        views.empty_state("No evidence: this config was never walked forward.")
with right:
    if evidence and evidence.folds:
        folds = pd.DataFrame(
            [
                {
                    "test window": f"{f.test_start} → {f.test_end}",
                    "in-sample Sharpe": f.in_sample.get("sharpe"),
                    "out-of-sample Sharpe": f.out_of_sample.get("sharpe"),
                    "params": ", ".join(f"{k}={v}" for k, v in f.params.items()),
                }
                for f in evidence.folds
            ]
        )
        st.markdown("###### Walk-forward folds")
        figure = views.go.Figure()
        figure.add_bar(
            x=folds["test window"],
            y=folds["in-sample Sharpe"],
            name="in sample",
            marker_color=views.MUTED,
        )
        figure.add_bar(
            x=folds["test window"],
            y=folds["out-of-sample Sharpe"],
            name="out of sample",
            marker_color=views.UP,
        )
        figure.update_layout(
            height=240,
            margin=views.CHART_MARGIN,
            barmode="group",
            legend={"orientation": "h", "y": 1.15},
        )
        st.plotly_chart(figure, key="folds_chart", config={"displayModeBar": False})
        views.table(folds, key="folds_table")
    st.markdown("###### Backtest on stored bars")
    if st.toggle(
        "Run the backtest",
        key=f"bt_{record.config_id}",
        help="Runs this config's backtest (vectorbt) on the stored bars of its evidence window.",
    ):
        with st.spinner("Backtesting…"):
            result = backtest(str(session.data_dir()), record.config_id)
        if isinstance(result, str):
            st.warning(result)
        else:
            curve = pd.DataFrame(
                {"bar_date": result.equity.index, "equity": result.equity.to_numpy()}
            )
            st.plotly_chart(
                views.equity_chart(curve), key="backtest_chart", config={"displayModeBar": False}
            )
            m = result.metrics
            with st.container(horizontal=True, gap="small"):
                st.metric("Total return", views.pct(m.get("total_return"), digits=1), border=True)
                st.metric("CAGR", views.pct(m.get("cagr"), digits=1), border=True)
                st.metric("Sharpe", f"{m.get('sharpe', float('nan')):.2f}", border=True)
                st.metric("Max drawdown", views.pct(m.get("max_drawdown"), digits=1), border=True)
                st.metric("Trades", f"{m.get('trades', 0):,}", border=True)
            st.caption(f"CAGR and Sharpe {result.annualisation}.")

st.markdown("###### History")
history = facade.config_events(store, record.config_id)
views.table(
    views.events_in_words(history)[["ts", "actor", "kind", "payload"]],
    key="config_history",
    column_config=views.EVENT_COLUMNS,
)

if visitor.can_trade:
    allowed = [a for a, (_, need) in ACTIONS.items() if record.status in need]
    if not allowed:
        st.caption(f"A {record.status} config cannot be moved by hand.")
    else:
        with st.form("config_action", border=True):
            row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
            # Keyed by config, with no default: an action chosen for one config never carries over.
            action = row.segmented_control("Action", allowed, key=f"cfg_action_{record.config_id}")
            reason = row.text_input(
                "Reason (kept in the audit trail)", key=f"cfg_reason_{record.config_id}", width=420
            )
            go_ahead = row.form_submit_button("Review", key="cfg_review")
        if go_ahead:
            if not action:
                st.error(f"Choose what to do with {record.config_id}: {', '.join(allowed)}.")
            elif not (reason or "").strip():
                st.error("Say why: the reason is kept in the audit trail.")
            else:
                overrides.ask(
                    "config_action", config_id=record.config_id, action=action, reason=reason
                )
        pending = overrides.asking("config_action")
        if pending and pending["config_id"] == record.config_id:
            what = pending["action"]
            effect = {
                "approve": "The live loop may trade it from its next step.",
                "pause": "No new entries; open positions keep their stops. The running loop is told at once.",
                "resume": "New entries allowed again. The running loop is told at once.",
                "retire": "Final: a retired config is never traded again.",
            }[what]

            def apply(config_id=pending["config_id"], what=what, why=pending["reason"]) -> str:
                moved, command_id = facade.act_on_config(store, config_id, what, visitor, why)
                if command_id:
                    overrides.track(command_id)
                return f"Config {moved.config_id} is now {moved.status}."

            overrides.confirm(
                f"{what.capitalize()} config {record.config_id}?",
                f"{effect}\n\nReason: _{pending['reason']}_",
                apply,
                label=f"Yes, {what}",
                danger=what in ("retire", "approve"),
            )
    overrides.my_commands(store)
