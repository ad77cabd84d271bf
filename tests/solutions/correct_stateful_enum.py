# ruff: noqa: B905, SIM300
"""Mini-GPT that remembers things for inspection, with an Enum-chosen activation.

Style: layers keep harmless state between calls. SelfAttention stores the
weights of its last call as plain floats (``last_weights``) so they can be
plotted, and the model counts its forward calls (``calls``) and remembers
the length of the last input; none of it is a Value, so parameters() is
unchanged and the outputs never depend on it. The activation is an
``Activation`` Enum member (GELU by default, via a lookup table of
functions). Attention weights are computed in log space:
w_ij = exp(s_ij - logsumexp_j s_ij). Embedding hands out the table's own
row lists (no copy). A too-long input raises IndexError (the statement
allows any exception). The loss is summed with the builtin sum.
"""

from __future__ import annotations

import math
import random
from enum import Enum

from engine import Value
from nn import Linear, Module


class Activation(Enum):
    RELU = "relu"
    TANH = "tanh"
    GELU = "gelu"


def _gelu(x: Value) -> Value:
    return 0.5 * x * (1.0 + (0.7978845608028654 * (x + 0.044715 * x**3)).tanh())


_ACTIVATION_FUNCTIONS = {
    Activation.RELU: Value.relu,
    Activation.TANH: Value.tanh,
    Activation.GELU: _gelu,
}


def logsumexp(z: list[Value]) -> Value:
    top = max(v.data for v in z)
    return Value.sum([(v - top).exp() for v in z]).log() + top


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.rows = [
            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        if not all(0 <= i < len(self.rows) for i in indices):
            raise ValueError("token index out of range")
        return [self.rows[i] for i in indices]


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.eps = eps
        self.gain = [Value(1.0) for _ in range(dim)]
        self.bias = [Value(0.0) for _ in range(dim)]

    def forward(self, x: list[Value]) -> list[Value]:
        m = Value.sum(x) / len(x)
        c = [xi - m for xi in x]
        v = Value.sum([ci * ci for ci in c]) / len(x)
        r = (v + self.eps) ** -0.5
        return [(ci * r) * g + b for ci, g, b in zip(c, self.gain, self.bias)]


class FeedForward(Module):
    def __init__(
        self,
        embed_dim: int,
        hidden_dim: int | None = None,
        activation: Activation = Activation.GELU,
    ) -> None:
        hidden = 4 * embed_dim if hidden_dim is None else hidden_dim
        self.activation = activation
        self.l1 = Linear(embed_dim, hidden)
        self.l2 = Linear(hidden, embed_dim)

    def forward(self, x: list[Value]) -> list[Value]:
        f = _ACTIVATION_FUNCTIONS[self.activation]
        return self.l2([f(h) for h in self.l1(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim: int) -> None:
        self.embed_dim = embed_dim
        self.Wq = Linear(embed_dim, embed_dim, bias=False)
        self.Wk = Linear(embed_dim, embed_dim, bias=False)
        self.Wv = Linear(embed_dim, embed_dim, bias=False)
        self.last_weights: list[list[float]] = []

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        q = [self.Wq(r) for r in x]
        k = [self.Wk(r) for r in x]
        v = [self.Wv(r) for r in x]
        sqrt_d = math.sqrt(self.embed_dim)
        out, record = [], []
        for i in range(len(x)):
            n = i + 1 if causal else len(x)
            s = [Value.dot(q[i], k[j]) / sqrt_d for j in range(n)]
            lse = logsumexp(s)
            w = [(sj - lse).exp() for sj in s]
            record.append([wj.data for wj in w] + [0.0] * (len(x) - n))
            out.append([Value.dot(w, [v[j][d] for j in range(n)]) for d in range(self.embed_dim)])
        self.last_weights = record
        return out


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        if num_heads <= 0:
            raise ValueError("num_heads must be a positive int")
        self.num_heads = num_heads
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ff = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        h = self.attn([self.ln1(r) for r in x])
        x = [[a + b for a, b in zip(r, s)] for r, s in zip(x, h)]
        h = [self.ff(self.ln2(r)) for r in x]
        return [[a + b for a, b in zip(r, s)] for r, s in zip(x, h)]


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
        self.embed_dim = embed_dim
        self.calls = 0
        self.last_length = 0
        self.tok = Embedding(vocab_size, embed_dim)
        self.pos = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.head = Linear(embed_dim, vocab_size)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        T = len(token_ids)
        if T > self.max_seq_len:
            raise IndexError(f"{T} tokens do not fit in a context of {self.max_seq_len}")
        if T == 0:
            raise ValueError("empty input")
        self.calls += 1
        self.last_length = T
        x = [
            [a + b for a, b in zip(t, p)]
            for t, p in zip(self.tok(token_ids), self.pos(list(range(T))))
        ]
        for block in self.blocks:
            x = block(x)
        return [self.head(self.ln_f(r)) for r in x]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError("logits and targets must be equally long")
    return sum(logsumexp(row) - row[y] for row, y in zip(logits, targets)) / len(targets)


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    tokens = list(start_ids)
    for _ in range(max_new_tokens):
        last = [z / temperature for z in model(tokens[-model.max_seq_len :])[-1]]
        lse = logsumexp(last)
        probs = [(z - lse).exp().data for z in last]
        tokens.append(random.choices(range(len(probs)), weights=probs)[0])
    return tokens
