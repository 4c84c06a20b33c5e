"""A notebook's parameters as a user sets them: types from the notebook, values from the command line."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from engine.errors import InputError
from engine.research.notebook_params import check_parameters, notebook_parameters, parse_cli_value
from tests.notebooks import write_notebook

REPO = Path(__file__).resolve().parents[2]


def _notebook(tmp_path: Path, source: str) -> Path:
    return write_notebook(tmp_path / "n.ipynb", source, "print(1)")


@pytest.fixture
def declared(tmp_path):
    return notebook_parameters(
        _notebook(
            tmp_path,
            (
                "from typing import Optional\n"
                "folds = 4  # walk-forward folds\n"
                "cost: float = 0.001\n"
                "symbols = ['AAPL', 'GE']\n"
                "grid = {'fast': [5, 10]}\n"
                "label = 'nightly'\n"
                "start: Optional[str] = None\n"
                "end: str | None = None\n"
                "anything = None\n"
                "verbose = False\n"
            ),
        )
    )


def test_types_come_from_annotations_else_from_defaults(declared):
    types = {p.name: p.describe_type() for p in declared}
    assert types == {
        "folds": "int",
        "cost": "float",
        "symbols": "list",
        "grid": "dict",
        "label": "str",
        "start": "str or None",
        "end": "str or None",
        "anything": "any",
        "verbose": "bool",
    }
    assert next(p for p in declared if p.name == "folds").help == "walk-forward folds"


def test_values_that_fit_pass(declared):
    check_parameters(
        {
            "folds": 6,
            "cost": 0,
            "symbols": ["F"],
            "grid": {},
            "label": "x",
            "start": None,
            "end": "2013-12-31",
            "anything": [1],
            "verbose": True,
        },
        declared,
        notebook="n.ipynb",
    )


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({"folds": 2.5}, "'folds' takes int (default 4), not 2.5 (float)"),
        ({"cost": "cheap"}, "'cost' takes float"),
        (
            {"symbols": "AAPL,GE"},
            "'symbols' takes list (default ['AAPL', 'GE']), not 'AAPL,GE' (str), e.g. [AAPL, GE]",
        ),
        ({"verbose": 1}, "'verbose' takes bool"),
        ({"label": None}, "'label' takes str"),
        ({"start": "2013-02-30"}, "'start': '2013-02-30' is not a date"),
        ({"symbols": []}, "'symbols': [] names no tickers"),
        ({"fodls": 3}, "unknown parameter 'fodls' (did you mean 'folds'?)"),
        ({"folds": -3}, "'folds': -3 is not a number of walk-forward folds"),
        ({"folds": 0}, "'folds': 0 is not a number of walk-forward folds"),
    ],
)
def test_values_that_do_not_fit_are_named_with_what_was_expected(declared, parameters, says):
    with pytest.raises(InputError) as refused:
        check_parameters(parameters, declared, notebook="n.ipynb")
    assert says in refused.value.message
    assert refused.value.hint.startswith("valid parameters: folds, cost, symbols")


def test_a_grid_above_the_sweep_limit_is_refused_before_a_kernel_starts(declared, monkeypatch):
    monkeypatch.setenv("WB_MAX_COMBINATIONS", "100")
    check_parameters({"grid": {"fast": list(range(10)), "slow": list(range(10))}}, declared,
                     notebook="n.ipynb")  # fmt: skip
    with pytest.raises(InputError, match=r"'grid': the grid has 110 combinations \(fast 11 x"):
        check_parameters(
            {"grid": {"fast": list(range(11)), "slow": list(range(10))}}, declared,
            notebook="n.ipynb",
        )  # fmt: skip


def test_the_research_notebook_takes_a_bar_size_checked_before_a_kernel_starts():
    declared = notebook_parameters(REPO / "notebooks" / "strategy_research.ipynb")
    bar_size = next(p for p in declared if p.name == "bar_size")
    assert (bar_size.type, bar_size.default) == ("str", '"1d"')
    check_parameters({"bar_size": "15m"}, declared, notebook="strategy_research.ipynb")
    with pytest.raises(InputError) as refused:
        check_parameters({"bar_size": "15min"}, declared, notebook="strategy_research.ipynb")
    assert "'bar_size': unknown bar size '15min'" in refused.value.message
    assert "did you mean 15m?" in refused.value.message


def test_every_problem_is_reported_at_once(declared):
    with pytest.raises(InputError) as refused:
        check_parameters({"folds": "x", "nope": 1}, declared, notebook="n.ipynb")
    assert (
        "'folds' takes int" in refused.value.message
        and "unknown parameter 'nope'" in refused.value.message
    )


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("folds", "10", 10),
        ("cost", "0.5", 0.5),
        ("verbose", "true", True),
        ("symbols", "[AAPL, GE]", ["AAPL", "GE"]),
        ("symbols", "[ON, NO]", ["ON", "NO"]),  # tickers, not YAML 1.1 booleans
        ("grid", "{fast: [5, 10], slow: [50]}", {"fast": [5, 10], "slow": [50]}),
        ("start", "2010-01-04", "2010-01-04"),  # dates stay text
        ("start", "None", None),
        ("label", "2024", "2024"),  # a str parameter keeps what was typed
        ("anything", "[unclosed", "[unclosed"),  # not YAML: kept for the type check to judge
    ],
)
def test_command_line_values_read_like_papermill(declared, name, text, value):
    parameter = next(p for p in declared if p.name == name)
    assert parse_cli_value(parameter, text) == value


def test_the_committed_notebooks_have_no_outputs():
    committed = sorted((REPO / "notebooks").glob("*.ipynb")) + sorted(
        (REPO / "tests").rglob("*.ipynb")
    )
    # JupyterLab's checkpoints are ignored by git, so not committed
    notebooks = [p for p in committed if ".ipynb_checkpoints" not in p.parts]
    assert notebooks, "no notebooks found"
    for path in notebooks:
        notebook = nbformat.read(str(path), as_version=4)
        with_outputs = [
            i
            for i, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
        ]
        assert not with_outputs, (
            f"{path.relative_to(REPO)} has outputs in cells {with_outputs}: clear them"
        )
