"""Check `positional`: identical tokens get different logits at different positions.

Causal attention over identical rows gives identical rows, so without a
position embedding every position's logits are the same. The judge sets all
weights at random first, so a position table that starts at zero (as in
minGPT) is no obstacle.
"""

from __future__ import annotations

import pytest

from grader.judge.remote import Student
from grader.suite.suite_support import MODEL, differ, expect, model, randomize

pytestmark = pytest.mark.check("positional")


def test_same_token_differs_by_position(student: Student) -> None:
    """The same token at every position gives position-dependent logits"""
    rng = student.rng("positional")
    gpt = model(student, rng)
    randomize(gpt, rng)
    n = MODEL["max_seq_len"]
    token = rng.randrange(MODEL["vocab_size"])
    out = gpt.forward([token] * n, tokens=True).data
    expect(
        any(differ(out[t], out[0]) for t in range(1, n)),
        f"with token {token} at all {n} positions, every position got the same logits: the "
        "model cannot tell positions apart",
        "Add a learned position embedding (one row per position t) to each token's "
        "embedding before the first block.",
    )
