"""Check `residual`: pre-norm residual blocks, and branches that add no residual of their own.

With every parameter set to 0, a correct branch (SelfAttention, FeedForward)
outputs zeros, and a correct pre-norm block x + attn(ln1(x)) + ff(ln2(...))
is exactly the identity, whatever the activation, biases or initialisation.
"""

from __future__ import annotations

import random

import pytest

from grader.judge.remote import Remote, Student
from grader.suite.suite_support import build, expect, fmt, rows, same

pytestmark = pytest.mark.check("residual")

D = 4
BRANCH_HINT = (
    "The residual connection belongs to TransformerBlock alone: SelfAttention and "
    "FeedForward return only their own output, and the block adds it to x."
)


def _zeroed(student: Student, name: str, cls: str, *args: int) -> tuple[Remote, random.Random]:
    rng = student.rng(name)
    obj = build(student, rng, cls, *args)
    obj.set_params([0.0] * obj.count().distinct)
    return obj, rng


def test_zero_block_is_identity(student: Student) -> None:
    """A TransformerBlock whose parameters are all 0 returns its input unchanged"""
    block, rng = _zeroed(student, "residual.block", "TransformerBlock", D, 2)
    x = rows(rng, 3, D)
    out = block.forward(x).data
    expect(
        same(out, x, 1e-9),
        f"with every block parameter set to 0 the block returned {fmt(out)} for input "
        f"{fmt(x)}; a pre-norm residual block must return x itself",
        "x = x + attn(ln1(x)); x = x + ff(ln2(x)): normalise the branch input, add the "
        "branch output to the un-normalised x.",
    )


def test_zero_attention_outputs_zeros(student: Student) -> None:
    """SelfAttention with all parameters 0 outputs zeros (no residual inside it)"""
    attn, rng = _zeroed(student, "residual.attention", "SelfAttention", D)
    x = rows(rng, 3, D)
    out = attn.forward(x).data
    expect(
        same(out, [[0.0] * D] * 3, 1e-12),
        f"SelfAttention with all parameters 0 returned {fmt(out)}; expected zeros (its values "
        "are all 0)",
        BRANCH_HINT,
    )


def test_zero_feedforward_outputs_zeros(student: Student) -> None:
    """FeedForward with all parameters 0 outputs zeros (no residual inside it)"""
    ff, rng = _zeroed(student, "residual.feedforward", "FeedForward", D)
    x = rows(rng, 1, D)[0]
    out = ff.forward(x).data
    expect(
        same(out, [0.0] * D, 1e-12),
        f"FeedForward with all parameters 0 returned {fmt(out)}; expected zeros",
        BRANCH_HINT,
    )
