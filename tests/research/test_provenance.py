"""Every config traceable: the bars, the code and the libraries it was validated on, and an
alert (or a refusal) when the code that would trade it is no longer that code."""

from __future__ import annotations

import importlib
import json

import pytest

from engine.cli import cli
from engine.cli._common import run_cli
from engine.config.models import Provenance, StrategyConfig
from engine.data.sample import sample_bars
from engine.errors import InputError
from engine.live.alerts import Notifiers
from engine.live.setup import open_loop
from engine.research.config_registry import act, get_config, save_proposal
from engine.research.provenance import (
    bars_sha256,
    code_drift,
    code_fingerprint,
    library_versions,
    record_provenance,
)
from engine.research.validation import Verdict
from tests.config.factories import make_evidence
from tests.live.conftest import allow_replay
from tests.strategies.user_strategies import PACKAGE, forget_user_strategies, write


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    """The installed package of user strategies on sys.path, its strategy registered; gives its folder."""
    monkeypatch.syspath_prepend(str(write(PACKAGE, tmp_path)))
    importlib.import_module("acme_strategies.momentum")
    yield tmp_path / "acme_strategies"
    forget_user_strategies()


def test_the_code_hash_covers_the_strategy_its_helpers_and_the_rules(user_package):
    source, sources = code_fingerprint("acme_momentum")

    assert {"acme_strategies.momentum", "acme_strategies.trend", "engine.backtest.rules"} <= sources.keys()
    assert "engine.strategies.registry" not in sources  # names strategies, computes nothing

    # A comment, a docstring or blank lines are not a change of code...
    helper = user_package / "trend.py"
    code = helper.read_text()
    helper.write_text('"""Trend."""\n\n\n' + code.replace('"""The return', '"""Return') + "# x\n")
    assert code_fingerprint("acme_momentum")[0] == source
    # ...a changed lookback is.
    helper.write_text(code.replace("shift(lookback)", "shift(lookback + 1)"))
    changed, now = code_fingerprint("acme_momentum")
    assert changed != source
    assert [name for name in now if now[name] != sources[name]] == ["acme_strategies.trend"]


def test_the_provenance_names_the_bars_the_libraries_and_the_notebook_run(store, tmp_path):
    from engine.research.runs import _insert_running

    bars = sample_bars(["AAPL", "GE"], start="2010-01-01", end="2011-12-31")
    output = tmp_path / "runs" / "strategy_research-r1.ipynb"
    store.transaction(_insert_running, "r1", "notebooks/strategy_research.ipynb",
                      "strategy_research", {}, "ana", __import__("datetime").datetime(2024, 1, 5),
                      output)  # fmt: skip

    origin = record_provenance(store, bars, "sma_crossover", run_id="r1")

    assert origin.bars_sha256 == bars_sha256(bars)
    assert origin.bars_sha256 != bars_sha256(bars.iloc(slice(1, None)))  # one bar less, new hash
    assert origin.source_sha256 == code_fingerprint("sma_crossover")[0]
    assert set(origin.libraries) >= {"vectorbt", "numba", "pandas", "scikit-learn"}
    assert origin.libraries == library_versions()
    assert origin.notebook == "notebooks/strategy_research.ipynb"
    assert origin.executed_notebook == str(output)


def _config_validated_on(code: str, sources: dict[str, str], *, revalidate: bool):
    provenance = Provenance(
        bars_sha256="b" * 64,
        engine_version="0.1.0",
        source_sha256=code,
        sources=sources,
        libraries={},
    )
    evidence = make_evidence(
        provenance=provenance, policy={"revalidate_on_code_change": revalidate}
    )
    return StrategyConfig(
        strategy="sma_crossover",
        params={"fast": 10, "slow": 30},
        universe=["AAPL", "GE"],
        created_by="ana",
        evidence=evidence,
    )


def _approved(store, config):
    save_proposal(store, config, Verdict(status="validated"), actor="ana")
    act(store, config.config_id, "approve", "bob", "to trade")
    allow_replay(store)


def _stale_code():
    """sma_crossover's code as it was 'validated': its module hashed differently."""
    _, sources = code_fingerprint("sma_crossover")
    return "0" * 16, {**sources, "engine.strategies.builtins.sma_crossover": "0" * 16}


def test_code_unchanged_since_validation_is_no_drift():
    code, sources = code_fingerprint("sma_crossover")
    assert code_drift(_config_validated_on(code, sources, revalidate=True)) is None


def test_the_loop_alerts_at_start_up_when_the_code_changed(sample_store):
    config = _config_validated_on(*_stale_code(), revalidate=False)
    _approved(sample_store, config)
    notifier = Notifiers()

    opened = open_loop(sample_store, mode="replay", config_ids=[config.config_id],
                       start="2012-02-01", end="2012-02-10", notifier=notifier)  # fmt: skip
    opened.loop.start()

    [alert] = [a for a in notifier.sent if a.kind == "code_changed"]
    assert config.config_id in alert.text
    assert "changed: engine.strategies.builtins.sma_crossover" in alert.text
    assert "re-validate" in alert.text


def test_a_policy_that_requires_re_validation_makes_the_loop_refuse_the_config(sample_store):
    config = _config_validated_on(*_stale_code(), revalidate=True)
    _approved(sample_store, config)
    opened = open_loop(sample_store, mode="replay", config_ids=[config.config_id],
                       start="2012-02-01", end="2012-02-10", notifier=Notifiers())  # fmt: skip

    with pytest.raises(InputError, match="requires re-validation") as refused:
        opened.loop.start()
    assert config.config_id in str(refused.value)
    assert "wb validate" in refused.value.hint


def test_a_config_stored_before_provenance_still_loads_with_its_id(store):
    config = StrategyConfig(strategy="sma_crossover", params={"fast": 10, "slow": 30},
                            universe=["AAPL"], created_by="ana", evidence=make_evidence())  # fmt: skip
    stored = json.loads(config.model_dump_json())
    for added in ("warmup_passed", "warmup_detail", "trials", "provenance", "confidence", "policy"):
        del stored["evidence"][added]  # the evidence as this code's predecessor wrote it
    store.execute(
        "INSERT INTO configs VALUES (?, 'sma_crossover', 'approved', ?, '[]', 'ana', now(), now())",
        [config.config_id, json.dumps(stored)],
    )

    record = get_config(store, config.config_id)

    assert record.config.config_id == config.config_id
    assert record.config.evidence.provenance is None
    assert code_drift(record.config).unknown


def test_wb_configs_show_says_where_it_came_from_and_whether_the_code_changed(
    store, data_dir, capsys
):
    config = _config_validated_on(*_stale_code(), revalidate=False)
    save_proposal(store, config, Verdict(status="validated"), actor="ana")

    assert run_cli(cli, ["--data-dir", str(data_dir), "configs", "show", config.config_id]) == 0
    out = capsys.readouterr().out
    assert run_cli(cli, ["--data-dir", str(data_dir), "configs", "show", config.config_id,
                         "--json"]) == 0  # fmt: skip
    shown = json.loads(capsys.readouterr().out)

    assert "bars_sha256:" in out and "source_sha256:" in out
    assert "# provenance: bars bbbbbbbbbbbb, code 0000000000000000" in out
    assert "# code: config" in out and "changed: engine.strategies.builtins.sma_crossover" in out
    assert shown["code"]["unchanged"] is False
