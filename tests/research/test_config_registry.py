"""The config registry: lifecycle, audit events, id prefixes and the YAML export."""

from __future__ import annotations

import json

import pytest

from engine.config.models import StrategyConfig
from engine.errors import InputError, NotFoundError, OperatorError
from engine.research.config_registry import (
    LIFECYCLE,
    POLICY_ONLY,
    STATUSES,
    act,
    approved_configs,
    get_config,
    list_configs,
    save_proposal,
    transition,
    yaml_path,
)
from engine.research.validation import Verdict
from engine.store import read_events
from tests.config.factories import make_config

VALIDATED = Verdict(status="validated")
REJECTED = Verdict(
    status="rejected", reasons=["out-of-sample Sharpe 0.31 is below the minimum 0.50"]
)


def put_in(store, status: str, config: StrategyConfig | None = None) -> str:
    """A config brought to ``status`` the way a user would; gives back its id."""
    config = config or make_config()
    verdict = {"draft": None, "rejected": REJECTED}.get(status, VALIDATED)
    config_id = save_proposal(store, config, verdict, "ana").config_id
    path = {"approved": ["approve"], "paused": ["approve", "pause"], "retired": ["retire"]}
    for action in path.get(status, []):
        act(store, config_id, action, "tom", f"to reach {status}")
    assert get_config(store, config_id).status == status
    return config_id


def config_events(store, config_id: str) -> list[dict]:
    """The config's events, oldest first, with their payloads decoded."""
    frame = read_events(store, kinds=["config."], subject=config_id)
    rows = frame.sort_values("id").to_dict(orient="records")
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows


# -- proposals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdict", "status"), [(VALIDATED, "validated"), (REJECTED, "rejected"), (None, "draft")]
)
def test_a_proposal_is_stored_with_the_verdicts_status_and_an_event(store, verdict, status):
    record = save_proposal(store, make_config(), verdict, "ana")
    assert record.status == status
    assert record.reasons == (verdict.reasons if verdict else [])
    [event] = config_events(store, record.config_id)
    assert event["kind"] == f"config.{status}"
    assert event["actor"] == "ana"
    assert event["payload"]["from"] is None
    assert event["payload"]["to"] == status
    assert event["payload"]["why"]


def test_a_rejected_proposal_event_says_why(store):
    record = save_proposal(store, make_config(), REJECTED, "ana")
    [event] = config_events(store, record.config_id)
    assert REJECTED.reasons[0] in event["payload"]["why"]


def test_the_same_config_found_again_takes_the_new_verdict_until_a_trader_acts(store):
    config_id = put_in(store, "rejected")
    again = make_config(notes="fresher data")
    record = save_proposal(store, again, VALIDATED, "bo")
    assert record.config_id == config_id
    assert record.status == "validated"
    assert record.config.notes == "fresher data"
    assert [e["payload"]["to"] for e in config_events(store, config_id)] == [
        "rejected",
        "validated",
    ]


def test_an_approved_config_found_again_keeps_its_status_and_evidence(store):
    config_id = put_in(store, "approved")
    approved_evidence = get_config(store, config_id).config.evidence
    record = save_proposal(store, make_config(notes="re-run"), REJECTED, "scheduler")
    assert record.status == "approved"
    assert record.config.evidence == approved_evidence
    last = config_events(store, config_id)[-1]
    assert last["kind"] == "config.revalidated"
    assert last["payload"]["verdict"] == "rejected"
    assert last["payload"]["reasons"] == REJECTED.reasons


# -- lifecycle -------------------------------------------------------------------------------

MANUAL_MOVES = [(a, b) for a in STATUSES for b in LIFECYCLE[a] if b not in POLICY_ONLY]
FORBIDDEN_MOVES = [
    (a, b) for a in STATUSES for b in STATUSES if b not in LIFECYCLE[a] and b not in POLICY_ONLY
]


def test_the_lifecycle_is_the_documented_one():
    assert set(MANUAL_MOVES) == {
        ("draft", "retired"),
        ("validated", "approved"),
        ("validated", "retired"),
        ("rejected", "retired"),
        ("approved", "paused"),
        ("approved", "retired"),
        ("paused", "approved"),
        ("paused", "retired"),
    }


@pytest.mark.parametrize(("start", "to"), MANUAL_MOVES)
def test_every_allowed_move_changes_the_status_and_writes_who_and_why(store, start, to):
    config_id = put_in(store, start)
    before = len(config_events(store, config_id))
    record = transition(store, config_id, to, "tom", "because the desk said so")
    assert record.status == to
    events = config_events(store, config_id)
    assert len(events) == before + 1
    event = events[-1]
    assert event["kind"] == f"config.{to}"
    assert event["actor"] == "tom"
    assert event["payload"] == {"why": "because the desk said so", "from": start, "to": to}


@pytest.mark.parametrize(("start", "to"), FORBIDDEN_MOVES)
def test_every_forbidden_move_is_refused_naming_the_status_and_changes_nothing(store, start, to):
    config_id = put_in(store, start)
    before = len(config_events(store, config_id))
    with pytest.raises(InputError) as caught:
        transition(store, config_id, to, "tom", "try it")
    message = str(caught.value)
    assert f"it is {start}" in message or f"already {start}" in message
    if to in ("paused", "draft") and start not in ("retired", to):
        assert {"paused": "only an approved", "draft": "never goes back"}[to] in caught.value.hint
    assert get_config(store, config_id).status == start
    assert len(config_events(store, config_id)) == before


def test_approving_a_rejected_config_is_refused(store):
    config_id = put_in(store, "rejected")
    with pytest.raises(
        InputError, match="it is rejected, and from rejected it can only be retired"
    ):
        act(store, config_id, "approve", "tom", "looks fine to me")
    assert approved_configs(store) == []


@pytest.mark.parametrize("to", sorted(POLICY_ONLY))
def test_validated_and_rejected_come_only_from_the_policy(store, to):
    config_id = put_in(store, "draft")
    with pytest.raises(InputError, match="only the validation policy"):
        transition(store, config_id, to, "tom", "trust me")


def test_resume_takes_only_a_paused_config_and_approve_only_a_validated_one(store):
    validated = put_in(store, "validated")
    with pytest.raises(InputError, match="is validated, not paused") as caught:
        act(store, validated, "resume", "tom", "go")
    assert "wb configs approve" in caught.value.hint
    paused = put_in(store, "paused", make_config(universe=["F"]))
    with pytest.raises(InputError, match="is paused, not validated"):
        act(store, paused, "approve", "tom", "go")
    assert act(store, paused, "resume", "tom", "earnings passed").status == "approved"


def test_a_move_needs_a_reason_and_an_actor(store):
    config_id = put_in(store, "validated")
    with pytest.raises(InputError, match="say why"):
        act(store, config_id, "approve", "tom", "  ")
    with pytest.raises(InputError, match="who is doing this"):
        act(store, config_id, "approve", "", "ok")
    assert get_config(store, config_id).status == "validated"


def test_approved_configs_are_what_the_live_loop_may_trade(store):
    approved = put_in(store, "approved")
    put_in(store, "paused", make_config(universe=["F"]))
    put_in(store, "validated", make_config(universe=["BA"]))
    assert [c.config_id for c in approved_configs(store)] == [approved]


# -- reading ---------------------------------------------------------------------------------


def test_a_unique_id_prefix_finds_the_config(store):
    config_id = put_in(store, "validated")
    assert get_config(store, config_id[:6]).config_id == config_id
    assert get_config(store, config_id.upper()).config_id == config_id


def test_a_too_short_prefix_is_refused(store):
    config_id = put_in(store, "validated")
    with pytest.raises(InputError, match="too short"):
        get_config(store, config_id[:3])


def test_an_ambiguous_prefix_lists_the_candidates(store):
    for suffix in ("1", "2"):
        store.execute(
            "INSERT INTO configs VALUES (?, 'sma_crossover', 'draft', '{}', '[]', 'x', now(), now())",
            [f"abcd00000000000{suffix}"],
        )
    with pytest.raises(InputError, match="matches 2 configs: abcd000000000001.*abcd000000000002"):
        get_config(store, "abcd")


def test_a_mistyped_id_suggests_the_stored_one(store):
    config_id = put_in(store, "validated")
    typo = config_id[:-1] + ("0" if config_id[-1] != "0" else "1")
    with pytest.raises(NotFoundError) as caught:
        get_config(store, typo)
    assert config_id in caught.value.hint


def test_list_filters_by_status_and_rejects_unknown_statuses(store):
    validated = put_in(store, "validated")
    rejected = put_in(store, "rejected", make_config(universe=["F"]))
    assert {r.config_id for r in list_configs(store)} == {validated, rejected}
    assert [r.config_id for r in list_configs(store, "rejected")] == [rejected]
    with pytest.raises(InputError, match="did you mean 'approved'"):
        list_configs(store, "aproved")


def test_a_stored_config_whose_content_no_longer_matches_its_id_is_an_operator_error(store):
    config_id = put_in(store, "approved")
    tampered = make_config(params={"fast": 12, "slow": 50}).model_dump_json()
    store.execute("UPDATE configs SET config = ? WHERE config_id = ?", [tampered, config_id])
    with pytest.raises(OperatorError, match="now hashes to"):
        approved_configs(store)


# -- YAML export -----------------------------------------------------------------------------


def test_every_save_and_move_exports_readable_yaml_that_round_trips(store):
    config = make_config()
    config_id = save_proposal(store, config, VALIDATED, "ana").config_id
    path = yaml_path(store.data_dir, config_id)
    assert "# status: validated" in path.read_text()
    act(store, config_id, "approve", "tom", "ok")
    text = path.read_text()
    assert "# status: approved" in text
    assert StrategyConfig.from_yaml(text) == config
    assert [p.name for p in path.parent.iterdir()] == [f"{config_id}.yaml"]  # no temp files left


def test_a_rejected_export_lists_why_it_failed(store):
    config_id = put_in(store, "rejected")
    text = yaml_path(store.data_dir, config_id).read_text()
    assert f"# failed: {REJECTED.reasons[0]}" in text


def test_a_retired_config_stays_retired(store):
    config_id = put_in(store, "retired")
    with pytest.raises(InputError, match="it is retired, and that is final") as caught:
        act(store, config_id, "resume", "tom", "changed my mind")
    assert "stays retired" in caught.value.hint
