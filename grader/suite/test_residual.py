"""Check `residual`: pre-norm block with residuals; all-zero weights give the identity."""

from __future__ import annotations

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import expect, fmt, max_abs_diff, random_rows, rows_equal

pytestmark = pytest.mark.check("residual")


def test_zero_block_is_identity(student: Subject) -> None:
    """With every parameter set to 0, TransformerBlock returns its input unchanged"""
    inputs = [random_rows(1, 4, 41, scale=2.0), random_rows(3, 4, 42, scale=2.0)]
    result = student.run(
        "run_module",
        component="TransformerBlock",
        args=[4, 2],
        inputs=inputs,
        zero_params=True,
    )
    expect(result["num_params"] > 0, "TransformerBlock.parameters() is empty")
    for x, out in zip(inputs, result["outputs"], strict=True):
        for i, (row_in, row_out) in enumerate(zip(x, out["data"], strict=True)):
            expect(
                rows_equal(row_in, row_out, tol=1e-7),
                f"with all weights zero, the block maps row {i} {fmt(row_in)} to "
                f"{fmt(row_out)} (off by {max_abs_diff(row_in, row_out):.3g}); a pre-norm "
                "residual block must return x unchanged",
                "x = x + attn(ln1(x)); x = x + ff(ln2(x)): add each branch to the raw x, "
                "and do not normalise the block's output.",
            )
