"""Correct MiniGPT: tanh, tied input/output embeddings, biases everywhere.

Style under test: a config dataclass, small helper functions, unusual
attribute names (``tok``, ``pos``, ``layers``), Module's default
``parameters()``, an ``assert`` for over-long input and float-level sampling
with ``random.choices``.
"""

import math
import random
from dataclasses import dataclass

from engine import Value
from nn import Linear, Module

Vector = list[Value]
Matrix = list[Vector]


@dataclass(frozen=True)
class GPTConfig:
    """Hyper-parameters of a MiniGPT."""

    vocab_size: int
    embed_dim: int
    num_heads: int
    num_layers: int
    max_seq_len: int


def add(a: Vector, b: Vector) -> Vector:
    """Element-wise sum of two vectors."""
    return [x + y for x, y in zip(a, b, strict=True)]


def mean(xs: Vector) -> Value:
    """Arithmetic mean of a vector."""
    return Value.sum(xs) / len(xs)


def softmax(xs: Vector) -> Vector:
    """Stable softmax of Values."""
    shift = max(x.data for x in xs)
    exps = [(x - shift).exp() for x in xs]
    total = Value.sum(exps)
    return [e / total for e in exps]


def log_softmax(xs: Vector) -> Vector:
    """Stable log-softmax of Values: x - logsumexp(xs)."""
    shift = max(x.data for x in xs)
    log_norm = Value.sum([(x - shift).exp() for x in xs]).log() + shift
    return [x - log_norm for x in xs]


def float_softmax(xs: list[float]) -> list[float]:
    """Stable softmax of plain floats."""
    shift = max(xs)
    exps = [math.exp(x - shift) for x in xs]
    total = sum(exps)
    return [e / total for e in exps]


class Embedding(Module):
    """Lookup table; row ``i`` is the vector of index ``i``."""

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__()
        self.weight = [
            [Value(random.uniform(-0.5, 0.5)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> Matrix:
        return [self.weight[i] for i in indices]


class LayerNorm(Module):
    """LayerNorm with learnable gain (init 1) and bias (init 0)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gain = [Value(1.0) for _ in range(dim)]
        self.bias = [Value(0.0) for _ in range(dim)]

    def forward(self, x: Vector) -> Vector:
        mu = mean(x)
        var = mean([(v - mu) ** 2 for v in x])
        denom = (var + self.eps) ** 0.5
        return [g * ((v - mu) / denom) + b for v, g, b in zip(x, self.gain, self.bias, strict=True)]


class FeedForward(Module):
    """Position-wise MLP with a tanh non-linearity."""

    def __init__(self, embed_dim: int, hidden_dim: int | None = None):
        super().__init__()
        hidden = hidden_dim or 4 * embed_dim
        self.fc_in = Linear(embed_dim, hidden)
        self.fc_out = Linear(hidden, embed_dim)

    def forward(self, x: Vector) -> Vector:
        return self.fc_out([h.tanh() for h in self.fc_in(x)])


class SelfAttention(Module):
    """Single-head attention with an output projection."""

    def __init__(self, embed_dim: int):
        super().__init__()
        self.scale = 1.0 / math.sqrt(embed_dim)
        self.q = Linear(embed_dim, embed_dim)
        self.k = Linear(embed_dim, embed_dim)
        self.v = Linear(embed_dim, embed_dim)
        self.proj = Linear(embed_dim, embed_dim)

    def forward(self, x: Matrix, causal: bool = True) -> Matrix:
        q = [self.q(r) for r in x]
        k = [self.k(r) for r in x]
        v = [self.v(r) for r in x]
        out = []
        for i in range(len(x)):
            limit = i + 1 if causal else len(x)
            weights = softmax([Value.dot(q[i], key) * self.scale for key in k[:limit]])
            mixed = [Value.dot(weights, [row[d] for row in v[:limit]]) for d in range(len(x[i]))]
            out.append(self.proj(mixed))
        return out


class TransformerBlock(Module):
    """x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        del num_heads  # single-head attention
        self.norm1 = LayerNorm(embed_dim)
        self.attention = SelfAttention(embed_dim)
        self.norm2 = LayerNorm(embed_dim)
        self.mlp = FeedForward(embed_dim)

    def forward(self, x: Matrix) -> Matrix:
        x = [add(r, a) for r, a in zip(x, self.attention([self.norm1(r) for r in x]), strict=True)]
        return [add(r, self.mlp(self.norm2(r))) for r in x]


class MiniGPT(Module):
    """GPT whose output layer reuses the token embedding table."""

    def __init__(
        self, vocab_size: int, embed_dim: int, num_heads: int, num_layers: int, max_seq_len: int
    ):
        super().__init__()
        self.config = GPTConfig(vocab_size, embed_dim, num_heads, num_layers, max_seq_len)
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.tok = Embedding(vocab_size, embed_dim)
        self.pos = Embedding(max_seq_len, embed_dim)
        self.layers = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.norm = LayerNorm(embed_dim)
        self.out_bias = [Value(0.0) for _ in range(vocab_size)]

    def forward(self, token_ids: list[int]) -> Matrix:
        assert len(token_ids) <= self.max_seq_len, "sequence longer than max_seq_len"
        x = [
            add(t, p)
            for t, p in zip(self.tok(token_ids), self.pos(list(range(len(token_ids)))), strict=True)
        ]
        for layer in self.layers:
            x = layer(x)
        x = [self.norm(r) for r in x]
        return [
            [Value.dot(r, e) + b for e, b in zip(self.tok.weight, self.out_bias, strict=True)]
            for r in x
        ]


def cross_entropy_loss(logits: Matrix, targets: list[int]) -> Value:
    """Average next-token negative log-likelihood."""
    total = Value(0.0)
    for row, y in zip(logits, targets, strict=True):
        total = total - log_softmax(row)[y]
    return total / len(targets)


def generate(
    model: MiniGPT, start_ids: list[int], max_new_tokens: int, temperature: float = 1.0
) -> list[int]:
    """Sample ``max_new_tokens`` continuations of ``start_ids``."""
    ids = list(start_ids)
    for _ in range(max_new_tokens):
        last = model(ids[-model.max_seq_len :])[-1]
        probs = float_softmax([z.data / temperature for z in last])
        ids.append(random.choices(range(len(probs)), weights=probs)[0])
    return ids
