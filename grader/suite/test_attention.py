"""Check `attention`: weights that depend on query and key and sum to one.

Every test holds for ANY weights, so the judge first sets them at random:
- identical input rows give identical output rows (each query's weights sum
  to one over the keys it sees, so averaging equal values gives that value);
- distinct rows with causal=False give distinct outputs (the weights depend on
  the query, not on the key alone);
- causal outputs do not depend on how many later rows follow (the scale is
  1/sqrt(D), never something that depends on T).
"""

from __future__ import annotations

import random

import pytest

from grader.judge.remote import Remote, Student
from grader.suite.suite_support import build, differ, expect, max_abs_diff, randomize, rows, same

pytestmark = pytest.mark.check("attention")

D = 4
HINT = (
    "Softmax each query's scores q_i . k_j / sqrt(D) over the keys it may see (one row of "
    "the score matrix), then take that weighted average of the value vectors."
)


def random_attention(
    student: Student, name: str, scale: float = 0.7, d: int = D
) -> tuple[Remote, random.Random]:
    """SelfAttention(d) with every weight drawn at random (a property for ANY weights)."""
    rng = student.rng(name)
    attn = build(student, rng, "SelfAttention", d)
    randomize(attn, rng, scale)
    return attn, rng


def _identical_rows(student: Student, causal: bool) -> None:
    attn, rng = random_attention(student, f"attention.identical.{causal}")
    row = rows(rng, 1, D)[0]
    out = attn.forward([row] * 4, causal=causal).data
    for i in range(1, 4):
        expect(
            same(out[i], out[0], 1e-7),
            f"with 4 identical input rows (causal={causal}), output row {i} differs from row 0 "
            f"by {max_abs_diff(out[i], out[0]):.3g}: the attention weights of a row do not sum "
            "to one",
            HINT,
        )


def test_identical_rows_causal(student: Student) -> None:
    """Identical input rows give identical output rows (causal)"""
    _identical_rows(student, True)


def test_identical_rows_not_causal(student: Student) -> None:
    """Identical input rows give identical output rows (causal=False)"""
    _identical_rows(student, False)


def test_weights_depend_on_the_query(student: Student) -> None:
    """With causal=False, different rows attend differently (scores use query and key)"""
    attn, rng = random_attention(student, "attention.query", scale=1.0)
    out = attn.forward(rows(rng, 4, D), causal=False).data
    expect(
        any(differ(out[i], out[0]) for i in range(1, 4)),
        "with causal=False every output row is the same for 4 different input rows: the "
        "attention weights do not depend on the query",
        "Score each pair with the dot product of the query of row i and the key of row j.",
    )


def causal_at_fixed_length(attn: Remote, x: list[list[float]]) -> bool:
    """Does changing the last row leave every earlier output row unchanged?"""
    moved = [list(r) for r in x]
    moved[-1] = [v + 1.0 for v in moved[-1]]
    base, other = attn.forward(x).data, attn.forward(moved).data
    return all(same(a, b, 1e-7) for a, b in zip(base[:-1], other[:-1], strict=True))


def test_outputs_do_not_depend_on_later_length(student: Student) -> None:
    """Causal outputs of the first t rows are the same whether or not more rows follow"""
    attn, rng = random_attention(student, "attention.prefix")
    x = rows(rng, 5, D)
    if not causal_at_fixed_length(attn, x):
        return  # the causal mask itself is wrong: the causal_mask check reports it
    full = attn.forward(x).data
    for t in (1, 3):
        part = attn.forward(x[:t]).data
        expect(
            all(same(a, b, 1e-7) for a, b in zip(part, full[:t], strict=True)),
            f"the outputs for the first {t} rows change when {5 - t} more rows follow: the "
            "scores are scaled by something that depends on the sequence length",
            "Scale the scores by 1 / sqrt(D), the vector size, not by anything that depends on T.",
        )
