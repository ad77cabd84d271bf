"""Check `parameters`: parameters() lists every weight the model keeps and uses."""

from __future__ import annotations

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import MODEL, expect

pytestmark = pytest.mark.check("parameters")


def _coverage(student: Subject) -> dict:
    return student.run("param_coverage", config=MODEL, inputs=[[0, 3, 5, 1], [6, 2, 2]])


def test_every_used_weight_is_listed(student: Subject) -> None:
    """Every weight forward uses from the model is in parameters()"""
    result = _coverage(student)
    missing = result["missing_count"]
    expect(
        missing == 0,
        f"{missing} weight(s) used by forward are not in parameters(), e.g. "
        f"{', '.join(result['missing'])}: the optimiser would never train them",
        "If you override parameters(), include every sub-module's parameters; otherwise keep "
        "weights in attributes (lists, dicts and sub-modules are found automatically).",
    )


def test_weights_persist_between_calls(student: Subject) -> None:
    """The model keeps its weights: forward reuses the same Values on every call"""
    result = _coverage(student)
    expect(
        result["kept_and_used"] > 0 and result["used_params"] > 0,
        "forward does not use the same weight Values from one call to the next "
        f"({result['used_params']} of {result['num_params']} listed parameters used)",
        "Create weights once in __init__ and reuse them in forward.",
    )
