"""Check `attention`: attention weights over the visible keys sum to one."""

from __future__ import annotations

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import (
    attention_outputs,
    expect,
    max_abs_diff,
    random_rows,
    rows_equal,
)

pytestmark = pytest.mark.check("attention")


def _identical(t: int, d: int, seed: int) -> list[list[float]]:
    return random_rows(1, d, seed) * t


def _check_identical(student: Subject, causal: bool) -> None:
    inputs = [_identical(4, 4, 21), _identical(5, 4, 22)]
    for rows in attention_outputs(student, inputs, causal):
        for i, row in enumerate(rows):
            expect(
                rows_equal(row, rows[0], tol=1e-7),
                f"with {len(rows)} identical input rows (causal={causal}), output row {i} "
                f"differs from row 0 by {max_abs_diff(row, rows[0]):.3g}; a weighted average "
                "of identical rows must equal that row",
                "Normalise each query's weights over its keys (softmax along one row of "
                "scores) so they sum to one.",
            )


def test_identical_rows_causal(student: Subject) -> None:
    """Identical input rows give identical output rows (causal)"""
    _check_identical(student, causal=True)


def test_identical_rows_not_causal(student: Subject) -> None:
    """Identical input rows give identical output rows (causal=False)"""
    _check_identical(student, causal=False)


def test_single_row_attends_to_itself(student: Subject) -> None:
    """A one-row input equals the same row's output inside a longer causal input"""
    longer = random_rows(4, 4, 23, scale=1.0)
    first = longer[0]
    outs = student.run("run_module", component="SelfAttention", args=[4], inputs=[[first], longer])[
        "outputs"
    ]
    expect(
        rows_equal(outs[0]["data"][0], outs[1]["data"][0], tol=1e-7),
        "row 0 of a causal attention output changes when later rows are added; position 0 "
        "may attend only to itself",
    )
