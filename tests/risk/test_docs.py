"""The examples in the risk modules' docstrings are true."""

from __future__ import annotations

import doctest

import pytest

from engine.risk import earnings, gate, limits, sizing


@pytest.mark.parametrize("module", [earnings, gate, limits, sizing], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
