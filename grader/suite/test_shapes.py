"""Check `shapes`: every component returns the documented shape."""

from __future__ import annotations

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import MODEL, expect, random_rows, shape_text

pytestmark = pytest.mark.check("shapes")


def _rows(t: int, d: int, seed: int) -> list[list[float]]:
    return random_rows(t, d, seed, scale=1.0)


def _expect_shapes(result: dict, expected: list[list[int]], what: str) -> None:
    for out, want in zip(result["outputs"], expected, strict=True):
        expect(
            out["shape"] == want,
            f"{what} returned shape {shape_text(out['shape'])}; expected {shape_text(want)}",
        )


def test_embedding_shape(student: Subject) -> None:
    """Embedding returns one row of embedding_dim Values per index"""
    ids = [[0], [3, 1, 4], [6, 0, 2, 2, 5]]
    result = student.run(
        "run_module", component="Embedding", args=[7, 5], inputs=ids, token_inputs=True
    )
    _expect_shapes(result, [[len(x), 5] for x in ids], "Embedding(7, 5).forward")


def test_layernorm_shape(student: Subject) -> None:
    """LayerNorm maps a vector of D Values to D Values"""
    result = student.run("run_module", component="LayerNorm", args=[6], inputs=_rows(2, 6, 1))
    _expect_shapes(result, [[6], [6]], "LayerNorm(6).forward")


def test_feedforward_shape(student: Subject) -> None:
    """FeedForward maps D Values to D Values, with and without hidden_dim"""
    result = student.run("run_module", component="FeedForward", args=[5], inputs=_rows(1, 5, 2))
    _expect_shapes(result, [[5]], "FeedForward(5).forward")
    result = student.run(
        "run_module",
        component="FeedForward",
        args=[5],
        kwargs={"hidden_dim": 7},
        inputs=_rows(1, 5, 3),
    )
    _expect_shapes(result, [[5]], "FeedForward(5, hidden_dim=7).forward")


def test_attention_shape(student: Subject) -> None:
    """SelfAttention maps (T, D) to (T, D)"""
    inputs = [_rows(1, 4, 4), _rows(3, 4, 5)]
    result = student.run("run_module", component="SelfAttention", args=[4], inputs=inputs)
    _expect_shapes(result, [[1, 4], [3, 4]], "SelfAttention(4).forward")


def test_block_shape(student: Subject) -> None:
    """TransformerBlock maps (T, D) to (T, D)"""
    inputs = [_rows(1, 4, 6), _rows(4, 4, 7)]
    result = student.run("run_module", component="TransformerBlock", args=[4, 2], inputs=inputs)
    _expect_shapes(result, [[1, 4], [4, 4]], "TransformerBlock(4, 2).forward")


def test_minigpt_shape(student: Subject) -> None:
    """MiniGPT returns logits of shape (T, vocab_size) for T from 1 to max_seq_len"""
    v = MODEL["vocab_size"]
    ids = [[3], [1, 0, 5], [6, 5, 4, 3, 2, 1]]
    args = [MODEL[k] for k in ("vocab_size", "embed_dim", "num_heads", "num_layers", "max_seq_len")]
    result = student.run(
        "run_module", component="MiniGPT", args=args, inputs=ids, token_inputs=True
    )
    _expect_shapes(result, [[len(x), v] for x in ids], "MiniGPT.forward")
