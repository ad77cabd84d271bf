"""Mini-GPT written defensively: every public entry point checks its arguments.

``generate`` in particular refuses anything that is not a Module with
``max_seq_len`` and ``vocab_size``, a non-positive temperature, a negative
number of tokens and start ids outside the vocabulary. The causal mask is a
constant score of -1e9 at the future positions; the activation is GELU.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Sequence
from typing import Optional

from engine import Value
from nn import Linear, Module

MASKED_SCORE = -1e9


def _require_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def softmax(scores: Sequence[Value]) -> list[Value]:
    """Softmax of Values; the largest score is subtracted first (stable)."""
    if not scores:
        raise ValueError("softmax of an empty list")
    shift = max(s.data for s in scores)
    exps = [(s - shift).exp() for s in scores]
    total = Value.sum(exps)
    return [e / total for e in exps]


def gelu(x: Value) -> Value:
    """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + (math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x**3))).tanh())


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.num_embeddings = _require_int("num_embeddings", num_embeddings, 1)
        self.embedding_dim = _require_int("embedding_dim", embedding_dim, 1)
        self.weight = [
            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: Sequence[int]) -> list[list[Value]]:
        rows = []
        for index in indices:
            if isinstance(index, bool) or not isinstance(index, numbers.Integral):
                raise ValueError(f"index {index!r} is not an int")
            if not 0 <= index < self.num_embeddings:
                raise ValueError(f"index {index} outside 0..{self.num_embeddings - 1}")
            rows.append(self.weight[index])
        return rows


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.dim = _require_int("dim", dim, 1)
        if eps < 0:
            raise ValueError("eps must be >= 0")
        self.eps = float(eps)
        self.gain = [Value(1.0) for _ in range(dim)]
        self.bias = [Value(0.0) for _ in range(dim)]

    def forward(self, x: Sequence[Value]) -> list[Value]:
        if len(x) != self.dim:
            raise ValueError(f"expected a vector of {self.dim}, got {len(x)}")
        mean = Value.sum(x) / self.dim
        dev = [xi - mean for xi in x]
        var = Value.dot(dev, dev) / self.dim
        inv_std = (var + self.eps) ** -0.5
        return [d * inv_std * g + b for d, g, b in zip(dev, self.gain, self.bias, strict=True)]


class FeedForward(Module):
    def __init__(self, embed_dim: int, hidden_dim: Optional[int] = None) -> None:  # noqa: UP045
        _require_int("embed_dim", embed_dim, 1)
        hidden = 4 * embed_dim if hidden_dim is None else _require_int("hidden_dim", hidden_dim, 1)
        self.inner = Linear(embed_dim, hidden)
        self.outer = Linear(hidden, embed_dim)

    def forward(self, x: Sequence[Value]) -> list[Value]:
        return self.outer([gelu(h) for h in self.inner(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim: int) -> None:
        self.embed_dim = _require_int("embed_dim", embed_dim, 1)
        self.query = Linear(embed_dim, embed_dim, bias=False)
        self.key = Linear(embed_dim, embed_dim, bias=False)
        self.value = Linear(embed_dim, embed_dim, bias=False)
        self.output = Linear(embed_dim, embed_dim)

    def forward(self, x: Sequence[Sequence[Value]], causal: bool = True) -> list[list[Value]]:
        if any(len(row) != self.embed_dim for row in x):
            raise ValueError(f"every row must have {self.embed_dim} values")
        q = [self.query(r) for r in x]
        k = [self.key(r) for r in x]
        v = [self.value(r) for r in x]
        n = len(x)
        scale = 1.0 / math.sqrt(self.embed_dim)
        out = []
        for i in range(n):
            scores = [
                Value(MASKED_SCORE) if causal and j > i else Value.dot(q[i], k[j]) * scale
                for j in range(n)
            ]
            weights = softmax(scores)
            context = [
                Value.dot(weights, [v[j][c] for j in range(n)]) for c in range(self.embed_dim)
            ]
            out.append(self.output(context))
        return out


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        self.num_heads = _require_int("num_heads", num_heads, 1)  # single head is used
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ff = FeedForward(embed_dim)

    def forward(self, x: Sequence[Sequence[Value]]) -> list[list[Value]]:
        attended = self.attn([self.ln1(r) for r in x])
        x = [[a + b for a, b in zip(r, s, strict=True)] for r, s in zip(x, attended, strict=True)]
        return [[a + b for a, b in zip(r, self.ff(self.ln2(r)), strict=True)] for r in x]


class MiniGPT(Module):
    def __init__(
        self, vocab_size: int, embed_dim: int, num_heads: int, num_layers: int, max_seq_len: int
    ) -> None:
        self.vocab_size = _require_int("vocab_size", vocab_size, 1)
        self.max_seq_len = _require_int("max_seq_len", max_seq_len, 1)
        self.num_layers = _require_int("num_layers", num_layers, 0)
        self.token_embedding = Embedding(vocab_size, embed_dim)
        self.position_embedding = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.final_norm = LayerNorm(embed_dim)
        self.lm_head = Linear(embed_dim, vocab_size)

    def forward(self, token_ids: Sequence[int]) -> list[list[Value]]:
        length = len(token_ids)
        if length == 0:
            raise ValueError("token_ids is empty")
        if length > self.max_seq_len:
            raise ValueError(f"{length} tokens exceed max_seq_len={self.max_seq_len}")
        tok = self.token_embedding(token_ids)
        pos = self.position_embedding(range(length))
        x = [[a + b for a, b in zip(t, p, strict=True)] for t, p in zip(tok, pos, strict=True)]
        for block in self.blocks:
            x = block(x)
        return [self.lm_head(self.final_norm(r)) for r in x]


def cross_entropy_loss(logits: Sequence[Sequence[Value]], targets: Sequence[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError(f"{len(logits)} rows of logits but {len(targets)} targets")
    if not targets:
        raise ValueError("no positions to average over")
    losses = []
    for row, target in zip(logits, targets, strict=True):
        if not 0 <= target < len(row):
            raise ValueError(f"target {target} outside 0..{len(row) - 1}")
        top = max(z.data for z in row)
        log_norm = Value.sum([(z - top).exp() for z in row]).log()
        losses.append(log_norm - (row[target] - top))  # -log softmax(row)[target]
    return Value.sum(losses) / len(losses)


def generate(
    model: MiniGPT, start_ids: Sequence[int], max_new_tokens: int, temperature: float = 1.0
) -> list[int]:
    if not isinstance(model, Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    context_size = _require_int("model.max_seq_len", model.max_seq_len, 1)
    vocab = _require_int("model.vocab_size", model.vocab_size, 1)
    steps = _require_int("max_new_tokens", max_new_tokens, 0)
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError("temperature must be a number")
    if not temperature > 0 or math.isinf(temperature):
        raise ValueError(f"temperature must be a positive finite number, got {temperature}")
    tokens = list(start_ids)
    if not tokens and steps:
        raise ValueError("start_ids must hold at least one token")
    for t in tokens:
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 0 <= t < vocab:
            raise ValueError(f"start id {t!r} is outside the vocabulary 0..{vocab - 1}")
    for _ in range(steps):
        last = model(tokens[-context_size:])[-1]
        if len(last) != vocab:
            raise RuntimeError(f"model returned {len(last)} logits, expected {vocab}")
        probs = softmax([z / temperature for z in last])
        tokens.append(random.choices(range(vocab), weights=[p.data for p in probs])[0])
    return tokens
