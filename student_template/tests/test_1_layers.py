"""Shapes and basic behaviour of Embedding, LayerNorm and FeedForward."""

from __future__ import annotations

import math

from engine import Value
from minigpt import Embedding, FeedForward, LayerNorm


def values(numbers: list[float]) -> list[Value]:
    return [Value(x) for x in numbers]


def test_embedding_shape_and_lookup() -> None:
    emb = Embedding(num_embeddings=10, embedding_dim=4)
    rows = emb([3, 1, 3])
    assert len(rows) == 3, "one row per index"
    assert all(len(row) == 4 for row in rows), "each row has embedding_dim Values"
    assert all(isinstance(v, Value) for row in rows for v in row)
    assert [v.data for v in rows[0]] == [v.data for v in rows[2]], "same index, same row"
    assert [v.data for v in rows[0]] != [v.data for v in rows[1]], "rows should differ"
    params = emb.parameters()
    assert len(params) == 10 * 4, "the table holds num_embeddings * embedding_dim parameters"
    assert any(p is rows[0][0] for p in params), (
        "forward should return the table's own Values, so gradients reach the table"
    )


def test_layernorm_normalises() -> None:
    norm = LayerNorm(4)
    out = norm(values([1.0, 2.0, 3.0, 6.0]))
    assert len(out) == 4
    data = [v.data for v in out]
    mean = sum(data) / 4
    variance = sum((d - mean) ** 2 for d in data) / 4
    assert math.isclose(mean, 0.0, abs_tol=1e-6), f"mean should be 0, got {mean}"
    assert math.isclose(variance, 1.0, rel_tol=1e-3), (
        f"variance should be 1 (population variance, gain 1, bias 0), got {variance}"
    )
    # (x - mean) / sqrt(var + eps) for x = [1, 2, 3, 6]: mean 3, variance 3.5
    expected = [(x - 3.0) / math.sqrt(3.5 + 1e-5) for x in [1.0, 2.0, 3.0, 6.0]]
    assert all(math.isclose(d, e, rel_tol=1e-6) for d, e in zip(data, expected)), data


def test_feedforward_shapes() -> None:
    ff = FeedForward(embed_dim=6)
    out = ff(values([0.1, -0.2, 0.3, 0.0, 0.5, -1.0]))
    assert len(out) == 6, "FeedForward maps D values to D values"
    assert all(isinstance(v, Value) for v in out)
    # default hidden size H = 4 * D: two Linear layers D -> H -> D, with or without biases
    assert len(ff.parameters()) in linear_pair_sizes(6, 24), "hidden size should default to 4*D"

    small = FeedForward(embed_dim=6, hidden_dim=3)
    assert len(small(values([1.0] * 6))) == 6
    assert len(small.parameters()) in linear_pair_sizes(6, 3), "hidden_dim should be used"


def linear_pair_sizes(d: int, h: int) -> set[int]:
    """Parameter counts of Linear(d, h) then Linear(h, d): weights, plus either bias or both."""
    weights = d * h + h * d
    return {weights, weights + h, weights + d, weights + h + d}
