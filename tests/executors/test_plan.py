"""Cutting work into tasks, choosing an executor, and a missing Ray (none of these start Ray)."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from engine.backtest.sweep import combination_chunks
from engine.cli import cli
from engine.errors import InputError
from engine.executors import IncompleteRunError, LocalExecutor, TaskFailure, resolve_executor
from engine.executors.plan import plan_tasks
from engine.research.notebook_params import NotebookParameter, check_parameters


def covered(plan) -> list[tuple[int, int]]:
    return [(c, p) for combos, parts in plan for c in combos for p in parts]


@given(
    chunk_sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    n_parts=st.integers(1, 12),
    wanted=st.integers(1, 64),
)
def test_every_backtest_is_in_exactly_one_task_in_local_order(chunk_sizes, n_parts, wanted):
    plan = plan_tasks(chunk_sizes, n_parts, wanted)
    n_combinations = sum(chunk_sizes)

    # Each (combination, part) once; combinations first, so results join in local order.
    assert sorted(covered(plan)) == [(c, p) for c in range(n_combinations) for p in range(n_parts)]
    assert [combos for combos, _ in plan] == sorted((combos for combos, _ in plan), key=min)
    # No task is larger than the memory chunks the local run uses.
    assert max(len(combos) for combos, _ in plan) <= max(chunk_sizes)
    # Enough tasks to go round, as far as the work can be cut.
    assert len(plan) >= min(wanted, n_combinations * n_parts)


def test_one_process_runs_the_memory_chunks_as_they_are():
    params = list(range(150))
    chunks = combination_chunks(params, n_symbols=20, n_bars=2520, max_columns=None)

    plan = plan_tasks(
        [len(c) for c in chunks], n_parts=20, wanted=LocalExecutor().wanted_tasks(10**9)
    )

    assert [list(combos) for combos, _ in plan] == [list(c) for c in chunks]
    assert all(parts == range(20) for _, parts in plan)


def test_combinations_are_cut_before_symbols_or_folds():
    # Six combinations for eight tasks: every combination alone, then parts cut in two.
    plan = plan_tasks([6], n_parts=3, wanted=8)
    assert {len(combos) for combos, _ in plan} == {1}
    assert [list(parts) for _, parts in plan[:2]] == [[0, 1], [2]]
    # Enough combinations: parts stay whole, so each task computes its signals once.
    plan = plan_tasks([100], n_parts=3, wanted=8)
    assert len(plan) == 8 and all(parts == range(3) for _, parts in plan)


@pytest.mark.parametrize(
    ("name", "says"),
    [("rey", "unknown executor 'rey'; did you mean 'ray'?"), ("spark", "unknown executor")],
)
def test_an_unknown_executor_is_refused_with_the_choices(name, says):
    with pytest.raises(InputError, match=says) as refused:
        resolve_executor(name)
    assert "'local'" in refused.value.hint and "'ray'" in refused.value.hint


def test_a_ray_address_without_the_ray_executor_is_refused():
    with pytest.raises(InputError, match="the executor is local") as refused:
        resolve_executor("local", ray_address="10.0.0.5:6379")
    assert "--executor ray" in refused.value.hint


def test_without_ray_installed_the_ray_executor_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees when it is missing

    with pytest.raises(InputError, match="needs Ray, which is not installed") as refused:
        resolve_executor("ray")
    assert "pip install 'trading-workbench[ray]'" in refused.value.hint

    result = CliRunner().invoke(
        cli, ["sweep", "--strategy", "sma_crossover", "--symbols", "AAPL", "--grid", "fast=5,10",
              "--executor", "ray"],
    )  # fmt: skip
    assert result.exit_code != 0 and "needs Ray" in str(result.exception)

    executor = NotebookParameter("executor", "str", False, '"local"')
    with pytest.raises(InputError, match="pip install 'trading-workbench\\[ray\\]'"):
        check_parameters({"executor": "ray"}, [executor], notebook="research.ipynb")


def test_a_failed_run_names_each_failed_task_and_whether_to_retry():
    lost = TaskFailure(
        "combinations 3-4 of 9 (fast=10 slow=40 .. fast=10 slow=60)", "its worker died", True
    )
    raised = TaskFailure("combinations 5-6 of 9", "StrategyError: boom", False)

    only_lost = IncompleteRunError([lost], total=5, what="sweep sma_crossover")
    assert "1 of 5 tasks failed" in only_lost.message
    assert "fast=10 slow=40" in only_lost.message and "no result was kept" in only_lost.message
    assert only_lost.exit_code == 75  # temporary: a healthy cluster can finish it
    assert "ray status" in only_lost.hint

    mixed = IncompleteRunError([lost, raised], total=5, what="sweep sma_crossover")
    assert "2 of 5 tasks failed" in mixed.message and "StrategyError: boom" in mixed.message
    assert mixed.exit_code == 1 and "executor='local'" in mixed.hint


def test_a_worker_with_other_engine_code_refuses_to_compute():
    from engine.executors.failures import RemoteTaskError
    from engine.executors.ray_cluster import _run_task, code_fingerprint

    def add(shared, payload):
        return shared + payload

    theirs = {**code_fingerprint(), "vectorbt": "0.0.1"}  # the caller's, say

    with pytest.raises(RemoteTaskError) as refused:
        _run_task(add, 1, 2, theirs)
    assert refused.value.kind == "OperatorError"
    assert "runs other code than the caller: vectorbt" in refused.value.message
    assert "0.0.1 there" in refused.value.message
    assert "same workbench and libraries on every node" in refused.value.hint
    assert _run_task(add, 1, 2, code_fingerprint()) == 3


def test_an_unreachable_cluster_is_a_network_error_not_a_hang():
    import socket

    from engine.errors import NetworkError
    from engine.executors import RayExecutor

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(
        NetworkError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"
    ) as failed:
        RayExecutor(f"127.0.0.1:{port}").connect()
    assert "ray start --head" in failed.value.hint
    assert failed.value.exit_code == 75  # try again once the cluster is up
