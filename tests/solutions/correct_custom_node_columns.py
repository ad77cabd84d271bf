# ruff: noqa: B905, SIM300
"""Mini-GPT with a hand-made autograd node and column-major weights.

Style: the exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), is one
custom graph node: its value comes from math.erf and its local derivative
Phi(x) + x phi(x) is handed to the Value constructor (data, children, local
gradients), the way engine.py builds its own operations. My ``Projection``
layer stores its weight as (in, out) and computes y_j = sum_i x_i W[i][j]
by walking the columns. LayerNorm takes the variance as E[x^2] - E[x]^2
(the "mean of squares minus square of mean" form from statistics class).
Attention multiplies the query by 1/sqrt(D) before the dot products.
"""

from __future__ import annotations

import math
import random

from engine import Value
from nn import Module

SQRT_2 = math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def gelu(x: Value) -> Value:
    cdf = 0.5 * (1.0 + math.erf(x.data / SQRT_2))
    pdf = INV_SQRT_2PI * math.exp(-0.5 * x.data * x.data)
    return Value(x.data * cdf, (x,), (cdf + x.data * pdf,))


class Projection(Module):
    """y = x W (+ b), with W stored as in_features rows of out_features Values."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        bound = math.sqrt(1.0 / in_features)
        self.W = [
            [Value(random.uniform(-bound, bound)) for _ in range(out_features)]
            for _ in range(in_features)
        ]
        self.b = [Value(0.0) for _ in range(out_features)] if bias else []
        self.cols = list(zip(*self.W))

    def forward(self, x: list[Value]) -> list[Value]:
        y = [Value.dot(x, col) for col in self.cols]
        return [yj + bj for yj, bj in zip(y, self.b)] if self.b else y


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.lookup = [
            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        result = []
        for idx in indices:
            if idx < 0 or idx >= len(self.lookup):
                raise ValueError(f"index {idx} outside the table")
            result.append(self.lookup[idx].copy())
        return result


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.eps = eps
        self.scale = [Value(1.0) for _ in range(dim)]
        self.offset = [Value(0.0) for _ in range(dim)]

    def forward(self, x: list[Value]) -> list[Value]:
        n = len(x)
        mean = Value.sum(x) / n
        mean_sq = Value.dot(x, x) / n
        var = mean_sq - mean * mean
        denom = (var + self.eps) ** 0.5
        return [s * ((xi - mean) / denom) + o for xi, s, o in zip(x, self.scale, self.offset)]


class FeedForward(Module):
    def __init__(self, embed_dim: int, hidden_dim: int | None = None) -> None:
        hidden = hidden_dim if hidden_dim is not None else 4 * embed_dim
        self.inner = Projection(embed_dim, hidden)
        self.outer = Projection(hidden, embed_dim)

    def forward(self, x: list[Value]) -> list[Value]:
        return self.outer([gelu(h) for h in self.inner(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim: int) -> None:
        self.head_size = embed_dim
        self.q_proj = Projection(embed_dim, embed_dim, bias=False)
        self.k_proj = Projection(embed_dim, embed_dim, bias=False)
        self.v_proj = Projection(embed_dim, embed_dim, bias=False)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        factor = self.head_size**-0.5
        qs = [[c * factor for c in self.q_proj(r)] for r in x]
        ks = [self.k_proj(r) for r in x]
        vs = [self.v_proj(r) for r in x]
        T = len(x)
        result = []
        for t in range(T):
            keys = ks[: t + 1] if causal else ks
            scores = [Value.dot(qs[t], key) for key in keys]
            best = max(s.data for s in scores)
            w = [(s - best).exp() for s in scores]
            z = Value.sum(w)
            w = [wi / z for wi in w]
            result.append(
                [Value.dot(w, [vs[j][c] for j in range(len(keys))]) for c in range(self.head_size)]
            )
        return result


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        if num_heads < 1:
            raise ValueError("num_heads must be positive")
        self.ln1 = LayerNorm(embed_dim)
        self.sa = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ffwd = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        sa_out = self.sa([self.ln1(r) for r in x])
        x = [[a + b for a, b in zip(r, s)] for r, s in zip(x, sa_out)]
        return [[a + b for a, b in zip(r, self.ffwd(self.ln2(r)))] for r in x]


class MiniGPT(Module):
    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        num_heads: int,
        num_layers: int,
        max_seq_len: int,
    ) -> None:
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.token_embedding_table = Embedding(vocab_size, embed_dim)
        self.position_embedding_table = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.lm_head = Projection(embed_dim, vocab_size)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        T = len(token_ids)
        if T < 1 or T > self.max_seq_len:
            raise ValueError(f"T={T} is outside 1..{self.max_seq_len}")
        tok_emb = self.token_embedding_table(token_ids)
        pos_emb = self.position_embedding_table(list(range(T)))
        x = [[a + b for a, b in zip(t, p)] for t, p in zip(tok_emb, pos_emb)]
        for block in self.blocks:
            x = block(x)
        return [self.lm_head(self.ln_f(r)) for r in x]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError("length mismatch between logits and targets")
    parts = []
    for row, y in zip(logits, targets):
        m = max(v.data for v in row)
        parts.append(Value.sum([(v - m).exp() for v in row]).log() + m - row[y])
    return Value.sum(parts) / len(targets)


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    ids = list(start_ids)
    for _ in range(max_new_tokens):
        row = model(ids[-model.max_seq_len :])[-1]
        scaled = [v.data / temperature for v in row]
        m = max(scaled)
        w = [math.exp(s - m) for s in scaled]
        ids.append(random.choices(range(len(w)), weights=w)[0])
    return ids
