"""Mini-GPT built from a small class hierarchy, with one cached constant.

Style under test: ``LayerNorm`` has no ``forward`` of its own. It inherits it
from a ``Normalization`` base class that also serves the RMS norm I tried
first (a class attribute says whether to centre). Every layer that works row
by row inherits ``forward`` over a sequence from ``RowWise``. SelfAttention
looks its 1/sqrt(width) scale up in a module-level dict keyed by the width
of the rows, so the square root is taken once per width.
"""

from __future__ import annotations

import math
import random

from engine import Value
from nn import Linear, Module

_SCALES: dict[int, float] = {}  # row width -> 1 / sqrt(width), filled on first use


def _softmax(scores: list[Value]) -> list[Value]:
    top = max(s.data for s in scores)
    exps = [(s - top).exp() for s in scores]
    norm = Value.sum(exps) ** -1
    return [e * norm for e in exps]


class RowWise(Module):
    """A layer defined on one vector; ``over(rows)`` applies it to every row."""

    def over(self, rows: list[list[Value]]) -> list[list[Value]]:
        return [self(row) for row in rows]


class Normalization(RowWise):
    """Shared code of my norms: scale to unit RMS, after centring if ``centre``."""

    centre = True

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.dim = dim
        self.eps = eps
        self.gain = [Value(1.0) for _ in range(dim)]
        self.bias = [Value(0.0) for _ in range(dim)]

    def forward(self, x: list[Value]) -> list[Value]:
        if len(x) != self.dim:
            raise ValueError(f"expected {self.dim} values, got {len(x)}")
        if self.centre:
            mean = Value.sum(x) * (1.0 / self.dim)
            x = [v - mean for v in x]
        spread = Value.dot(x, x) * (1.0 / self.dim)
        inv = (spread + self.eps) ** -0.5
        return [v * inv * g + b for v, g, b in zip(x, self.gain, self.bias, strict=True)]


class RMSNorm(Normalization):
    """No centring: x / sqrt(mean(x^2) + eps) (not used by the model)."""

    centre = False


class LayerNorm(Normalization):
    """(x - mean) / sqrt(var + eps) * gain + bias: forward comes from Normalization."""


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.size = num_embeddings
        self.rows = [
            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        for i in indices:
            if not 0 <= i < self.size:
                raise IndexError(f"index {i} is outside the table of {self.size} rows")
        return [self.rows[i] for i in indices]


class FeedForward(RowWise):
    def __init__(self, embed_dim: int, hidden_dim: int | None = None) -> None:
        hidden_dim = 4 * embed_dim if hidden_dim is None else hidden_dim
        self.fc1 = Linear(embed_dim, hidden_dim)
        self.fc2 = Linear(hidden_dim, embed_dim)

    def forward(self, x: list[Value]) -> list[Value]:
        return self.fc2([h.relu() for h in self.fc1(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim: int) -> None:
        self.q = Linear(embed_dim, embed_dim, bias=False)
        self.k = Linear(embed_dim, embed_dim, bias=False)
        self.v = Linear(embed_dim, embed_dim, bias=False)
        self.o = Linear(embed_dim, embed_dim)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        width = len(x[0])
        if width not in _SCALES:
            _SCALES[width] = 1.0 / math.sqrt(width)
        scale = _SCALES[width]
        qs = [self.q(r) for r in x]
        ks = [self.k(r) for r in x]
        vs = [self.v(r) for r in x]
        out = []
        for i, q in enumerate(qs):
            seen = range(i + 1) if causal else range(len(x))
            w = _softmax([Value.dot(q, ks[j]) * scale for j in seen])
            out.append(self.o([Value.dot(w, [vs[j][c] for j in seen]) for c in range(width)]))
        return out


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        self.heads = num_heads  # one head only: kept for the API
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ff = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        a = self.attn(self.ln1.over(x))
        x = [[p + q for p, q in zip(r, s, strict=True)] for r, s in zip(x, a, strict=True)]
        f = self.ff.over(self.ln2.over(x))
        return [[p + q for p, q in zip(r, s, strict=True)] for r, s in zip(x, f, strict=True)]


class MiniGPT(Module):
    def __init__(self, vocab_size, embed_dim, num_heads, num_layers, max_seq_len) -> None:
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.tokens = Embedding(vocab_size, embed_dim)
        self.positions = Embedding(max_seq_len, embed_dim)
        self.stack = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.head = Linear(embed_dim, vocab_size)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        n = len(token_ids)
        if n > self.max_seq_len:
            raise ValueError(f"{n} tokens, but max_seq_len is {self.max_seq_len}")
        x = [
            [a + b for a, b in zip(t, p, strict=True)]
            for t, p in zip(self.tokens(token_ids), self.positions(list(range(n))), strict=True)
        ]
        for block in self.stack:
            x = block(x)
        return [self.head(r) for r in self.ln_f.over(x)]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError("one target per row of logits")
    terms = []
    for row, y in zip(logits, targets, strict=True):
        top = max(z.data for z in row)
        terms.append(Value.sum([(z - top).exp() for z in row]).log() + top - row[y])
    return Value.sum(terms) * (1.0 / len(terms))


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    ids = list(start_ids)
    for _ in range(max_new_tokens):
        last = model(ids[-model.max_seq_len :])[-1]
        scaled = [z.data / temperature for z in last]
        top = max(scaled)
        weights = [math.exp(s - top) for s in scaled]
        ids.append(random.choices(range(len(weights)), weights=weights)[0])
    return ids
