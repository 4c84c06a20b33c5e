"""The README's demo, end to end, as a new user runs it (without the UI, offline)."""

import re
import subprocess
import sys

import pytest

from engine.research.config_registry import list_configs
from engine.store import Store, read_events


@pytest.mark.slow
def test_the_demo_runs_end_to_end_offline(tmp_path):
    data_dir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "--data-dir", str(data_dir), "demo", "--no-ui"],
        capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "from the bundled sample bars" in out  # WB_OFFLINE: it says which source it used

    store = Store.open(data_dir)
    configs = list_configs(store)
    daily = [c for c in configs if c.config.bar_size == "1d"]
    assert {c.strategy for c in daily} == {"sma_crossover", "donchian_breakout"}
    # step 5: a day trader's strategy researched on 15-minute (SYNTHETIC, offline) bars
    assert {(c.strategy, c.config.bar_size) for c in configs if c not in daily} == {
        ("rsi_reversion", "15m")
    }
    for config in configs:  # each verdict and its reasons are shown
        verdict = "VALIDATED" if config.status == "approved" else config.status.upper()
        assert f"config {config.config_id} {verdict}" in out
        for reason in config.reasons:
            assert reason in out

    approved = [c for c in configs if c.status == "approved"]
    assert len(approved) == 1
    assert f"approved {approved[0].config_id}" in out
    approvals = read_events(store, kinds=["config.approved"])
    assert approvals["actor"].tolist() == ["demo"]
    assert "DEMO APPROVAL" in approvals.iloc[0]["payload"]

    # the replay of the last year: a line a month, and orders that really reached the broker
    months = re.findall(r"^   (\d{4}-\d{2}): equity\s+([\d,.]+)", out, flags=re.M)
    assert len(months) >= 12
    sent = store.scalar("SELECT count(*) FROM paper_orders WHERE account = 'demo'")
    assert sent > 0
    final = float(months[-1][1].replace(",", ""))
    assert f"paper book paper:demo: equity {final:,.2f}" in out


@pytest.mark.slow
def test_the_demo_fails_naming_the_step_when_the_research_runs_fail(
    tmp_path, monkeypatch, capsys
):
    import nbformat

    from engine.cli import cli, demo
    from engine.cli._common import run_cli

    # The research notebook's parameters, then a cell that fails as a broken research would.
    research = nbformat.read(str(demo.NOTEBOOK), as_version=4)
    parameters = next(c for c in research.cells if "parameters" in c.metadata.get("tags", []))
    broken = nbformat.v4.new_notebook(metadata=research.metadata)
    broken.cells = [parameters, nbformat.v4.new_code_cell("raise RuntimeError('no bars today')")]
    notebook = tmp_path / "broken_research.ipynb"
    nbformat.write(broken, str(notebook))
    monkeypatch.setattr(demo, "NOTEBOOK", notebook)

    code = run_cli(cli, ["--data-dir", str(tmp_path / "demo"), "demo", "--no-ui", "--offline"])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "error: demo step 2 (research) failed: 2 of 2 notebook runs failed" in err
    assert "sma_crossover: cell 1" in err and "RuntimeError: no bars today" in err
    assert "the policy did its job" not in out
    assert "Approving" not in out  # no later step ran
