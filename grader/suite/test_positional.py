"""Check `positional`: identical tokens at different positions give different logits."""

from __future__ import annotations

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import MODEL, expect, rows_equal

pytestmark = pytest.mark.check("positional")


def test_same_token_differs_by_position(student: Subject) -> None:
    """The same token at different positions gets different logits"""
    args = [MODEL[k] for k in ("vocab_size", "embed_dim", "num_heads", "num_layers", "max_seq_len")]
    for token in (2, 0):
        ids = [token] * 5
        rows = student.run(
            "run_module", component="MiniGPT", args=args, inputs=[ids], token_inputs=True
        )["outputs"][0]["data"]
        for i in range(1, len(rows)):
            for j in range(i):
                expect(
                    not rows_equal(rows[i], rows[j], tol=1e-12),
                    f"token {token} repeated 5 times gives identical logits at positions {j} "
                    f"and {i}: the model cannot tell positions apart",
                )
