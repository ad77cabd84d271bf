"""Check `shapes`: every component returns the documented shape.

A wrong shape is told here, in full; every other check that meets the same class's
wrong output points here instead of repeating it (grader/judge/verdict.py).
False failures: none (no random draw decides a shape).
"""

from __future__ import annotations

import pytest

from grader.judge.remote import Student
from grader.suite.suite_support import MODEL, build, expect, model, rows, shape_text

pytestmark = pytest.mark.check("shapes")


def _expect_shape(got: list[int], want: list[int], call: str) -> None:
    expect(
        got == want,
        f"{call} returned shape {shape_text(got)}; expected {shape_text(want)}",
    )


def test_embedding_shape(student: Student) -> None:
    """Embedding returns (T, embedding_dim)"""
    rng = student.rng("shapes.embedding")
    emb = build(student, rng, "Embedding", 7, 5)
    out = emb.forward([1, 0, 6], tokens=True)
    _expect_shape(out.shape, [3, 5], "Embedding(7, 5)([1, 0, 6])")


def test_layernorm_shape(student: Student) -> None:
    """LayerNorm returns a vector of the same length"""
    rng = student.rng("shapes.layernorm")
    ln = build(student, rng, "LayerNorm", 6)
    _expect_shape(ln.forward(rows(rng, 1, 6)[0]).shape, [6], "LayerNorm(6) on a vector of 6")


def test_feedforward_shape(student: Student) -> None:
    """FeedForward maps a vector of D to a vector of D (with and without hidden_dim)"""
    rng = student.rng("shapes.feedforward")
    ff = build(student, rng, "FeedForward", 5)
    _expect_shape(ff.forward(rows(rng, 1, 5)[0]).shape, [5], "FeedForward(5) on a vector of 5")
    ff = build(student, rng, "FeedForward", 4, hidden_dim=7)
    _expect_shape(
        ff.forward(rows(rng, 1, 4)[0]).shape, [4], "FeedForward(4, hidden_dim=7) on a vector of 4"
    )


def test_attention_shape(student: Student) -> None:
    """SelfAttention returns (T, D) for T = 1 and T = 3"""
    rng = student.rng("shapes.attention")
    attn = build(student, rng, "SelfAttention", 4)
    for t in (3, 1):
        _expect_shape(attn.forward(rows(rng, t, 4)).shape, [t, 4], f"SelfAttention(4) on ({t}, 4)")


def test_block_shape(student: Student) -> None:
    """TransformerBlock returns (T, D)"""
    rng = student.rng("shapes.block")
    block = build(student, rng, "TransformerBlock", 4, 2)
    _expect_shape(block.forward(rows(rng, 3, 4)).shape, [3, 4], "TransformerBlock(4, 2) on (3, 4)")


def test_minigpt_shape(student: Student) -> None:
    """MiniGPT returns (T, vocab_size) logits for every T up to max_seq_len"""
    rng = student.rng("shapes.minigpt")
    gpt = model(student, rng)
    v, n = MODEL["vocab_size"], MODEL["max_seq_len"]
    for t in (1, n):
        ids = [rng.randrange(v) for _ in range(t)]
        _expect_shape(gpt.forward(ids, tokens=True).shape, [t, v], f"MiniGPT on {t} tokens")
