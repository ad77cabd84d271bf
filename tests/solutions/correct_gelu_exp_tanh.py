# ruff: noqa: B905
"""Mini-GPT with GELU built from exp, and an additive -inf causal mask.

Style: activations the textbook way. GELU is the tanh approximation
0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), and tanh itself is written
from its definition with Value.exp: tanh(u) = (e^(2u) - 1) / (e^(2u) + 1),
naive about overflow at absurd inputs as the formula is in the notes.
Attention computes the full T x T score matrix and adds float('-inf') to
every future score before a max-subtracted softmax, so those weights are
exactly 0. The output head has no bias; generate samples from a float
softmax with random.choices and cumulative weights.
"""

from __future__ import annotations

import math
import random

from engine import Value
from nn import Linear, Module

NEG_INF = float("-inf")
GELU_C = math.sqrt(2.0 / math.pi)


def tanh_from_exp(u: Value) -> Value:
    e2u = (2.0 * u).exp()
    return (e2u - 1.0) / (e2u + 1.0)


def gelu(x: Value) -> Value:
    inner = GELU_C * (x + 0.044715 * x**3)
    return 0.5 * x * (1.0 + tanh_from_exp(inner))


def softmax_row(scores: list[Value]) -> list[Value]:
    top = max(s.data for s in scores)
    exps = [(s - top).exp() for s in scores]
    denom = Value.sum(exps)
    return [e / denom for e in exps]


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.n = num_embeddings
        self.table = [
            [Value(random.gauss(0.0, 0.5)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        for i in indices:
            if i < 0 or i >= self.n:
                raise ValueError(f"embedding index {i} not in [0, {self.n})")
        return [[v for v in self.table[i]] for i in indices]


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.eps = eps
        self.weight = [Value(1.0) for _ in range(dim)]
        self.bias = [Value(0.0) for _ in range(dim)]

    def forward(self, x: list[Value]) -> list[Value]:
        mu = Value.sum(x) * (1.0 / len(x))
        diffs = [v - mu for v in x]
        var = Value.sum([d**2 for d in diffs]) * (1.0 / len(x))
        denom = (var + self.eps) ** 0.5
        return [w * (d / denom) + b for d, w, b in zip(diffs, self.weight, self.bias)]


class FeedForward(Module):
    def __init__(self, embed_dim: int, hidden_dim: int | None = None) -> None:
        if hidden_dim is None:
            hidden_dim = 4 * embed_dim
        self.lin1 = Linear(embed_dim, hidden_dim)
        self.lin2 = Linear(hidden_dim, embed_dim)

    def forward(self, x: list[Value]) -> list[Value]:
        hidden = [gelu(h) for h in self.lin1(x)]
        return self.lin2(hidden)


class SelfAttention(Module):
    def __init__(self, embed_dim: int) -> None:
        self.d = embed_dim
        self.wq = Linear(embed_dim, embed_dim, bias=False)
        self.wk = Linear(embed_dim, embed_dim, bias=False)
        self.wv = Linear(embed_dim, embed_dim, bias=False)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        T = len(x)
        q = [self.wq(r) for r in x]
        k = [self.wk(r) for r in x]
        v = [self.wv(r) for r in x]
        scale = 1.0 / math.sqrt(self.d)
        scores = [[Value.dot(q[i], k[j]) * scale for j in range(T)] for i in range(T)]
        if causal:
            scores = [
                [s + NEG_INF if j > i else s for j, s in enumerate(row)]
                for i, row in enumerate(scores)
            ]
        weights = [softmax_row(row) for row in scores]
        columns = [[v[j][c] for j in range(T)] for c in range(self.d)]
        return [[Value.dot(w_row, col) for col in columns] for w_row in weights]


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        if num_heads <= 0:
            raise ValueError("num_heads must be positive")
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.mlp = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        a = self.attn([self.ln1(r) for r in x])
        x = [[xi + ai for xi, ai in zip(r, ar)] for r, ar in zip(x, a)]
        m = [self.mlp(self.ln2(r)) for r in x]
        return [[xi + mi for xi, mi in zip(r, mr)] for r, mr in zip(x, m)]


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
        self.tok = Embedding(vocab_size, embed_dim)
        self.pos = Embedding(max_seq_len, embed_dim)
        self.layers = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.norm = LayerNorm(embed_dim)
        self.out = Linear(embed_dim, vocab_size, bias=False)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        T = len(token_ids)
        if not 1 <= T <= self.max_seq_len:
            raise ValueError(f"sequence length {T} not in 1..{self.max_seq_len}")
        x = [[a + b for a, b in zip(t, p)] for t, p in zip(self.tok(token_ids), self.pos(range(T)))]
        for layer in self.layers:
            x = layer(x)
        return [self.out(self.norm(r)) for r in x]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError("one target per row of logits")
    total = []
    for row, y in zip(logits, targets):
        top = max(z.data for z in row)
        log_norm = Value.sum([(z - top).exp() for z in row]).log()
        log_prob = row[y] - top - log_norm
        total.append(-log_prob)
    return Value.sum(total) * (1.0 / len(total))


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    out = list(start_ids)
    for _ in range(max_new_tokens):
        window = out[-model.max_seq_len :]
        scaled = [z.data / temperature for z in model(window)[-1]]
        top = max(scaled)
        weights = [math.exp(s - top) for s in scaled]
        cumulative = []
        running = 0.0
        for w in weights:
            running += w
            cumulative.append(running)
        out.append(random.choices(range(len(weights)), cum_weights=cumulative)[0])
    return out
